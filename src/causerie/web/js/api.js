// The server's API: /api for conversations, /v1/models for the model list.

/** An HTTP error carrying the OpenAI error body's message, type and code. */
export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.type = err.type || null;
    this.code = err.code || null;
    this.detail = err; // the whole error object: some codes carry figures (sizes, counts)
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's HTML page, say): the status alone has to do.
  }
  return new ApiError(response.status, body);
}

// With accounts, the session cookie is HttpOnly; its CSRF twin is readable and must be
// echoed on every request that changes something (a cross-site form cannot do that).
export function csrfHeaders(method) {
  if (method === 'GET') return {};
  const match = document.cookie.match(/(?:^|;\s*)causerie_csrf=([^;]+)/);
  return match ? { 'X-CSRF-Token': decodeURIComponent(match[1]) } : {};
}

/** A JSON request (or a FormData upload); the parsed answer, or an ApiError. */
export async function call(method, url, body) {
  const init = { method, headers: { Accept: 'application/json', ...csrfHeaders(method) } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/**
 * POST and read server-sent events; onEvent(kind, data) for each.
 * Resolves when the stream ends; rejects with AbortError when signal aborts.
 */
async function stream(url, body, { signal, onEvent }) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json', Accept: 'text/event-stream', ...csrfHeaders('POST'),
    },
    body: JSON.stringify(body ?? {}),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      dispatch(frame, onEvent);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(frame, onEvent) {
  let kind = 'message';
  const data = [];
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith('event:')) kind = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length) onEvent(kind, JSON.parse(data.join('\n')));
}

/** A DELETE that is still sent when the page is being closed (keepalive). */
export function deleteOnUnload(url) {
  return fetch(url, { method: 'DELETE', keepalive: true, headers: csrfHeaders('DELETE') });
}

const conv = (id) => `/api/conversations/${encodeURIComponent(id)}`;

export const api = {
  authState: () => call('GET', '/api/auth/state'),
  login: (name, password) => call('POST', '/api/auth/login', { name, password }),
  logout: () => call('POST', '/api/auth/logout'),
  me: () => call('GET', '/api/me'),
  models: () => call('GET', '/v1/models'),
  list: ({ cursor = null, q = '', limit = 30 } = {}) => {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set('cursor', cursor);
    if (q) params.set('q', q);
    return call('GET', `/api/conversations?${params}`);
  },
  get: (id) => call('GET', conv(id)),
  create: (fields) => call('POST', '/api/conversations', fields),
  update: (id, changes) => call('PATCH', conv(id), changes),
  remove: (id) => call('DELETE', conv(id)),
  /** Fire-and-forget delete that survives the page being closed. */
  removeOnUnload: (id) => deleteOnUnload(conv(id)),
  branch: (id, messageId) => call('PUT', `${conv(id)}/branch`, { message_id: messageId }),
  send: (id, body, opts) => stream(`${conv(id)}/messages`, body, opts),
  regenerate: (id, messageId, opts) =>
    stream(`${conv(id)}/messages/${encodeURIComponent(messageId)}/regenerate`, {}, opts),
  /** Stop a reply on the server too: the replica streaming it may not be ours. */
  stop: (id, messageId) =>
    call('POST', `${conv(id)}/messages/${encodeURIComponent(messageId)}/stop`),
};
