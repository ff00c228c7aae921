// Small DOM helpers: element builder, icons, toasts. Text always goes in as text, never HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';
const CONFIRM_MS = 4000; // how long a "confirm?" button waits for its second click
const UNDO_MS = 6000; // how long a deletion can be undone
const leaving = new Set(); // deletions still undoable, sent when the page goes away

/** Build an element: h('button', {class: 'x', onclick: f}, 'label', child). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Stroke icons on a 24-unit grid, drawn for this UI.
const ICONS = {
  menu: ['M4 6h16', 'M4 12h16', 'M4 18h16'],
  x: ['M6 6l12 12', 'M18 6 6 18'],
  newchat: ['M12 4H6a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-6',
    'M18.4 2.6a2 2 0 0 1 2.9 2.9L12.5 14.3 9 15l.7-3.5z'],
  search: ['M11 4a7 7 0 1 0 0 14 7 7 0 1 0 0-14z', 'M20 20l-4-4'],
  sliders: ['M4 7h9', 'M17 7h3', 'M4 17h3', 'M11 17h9', 'M15 5a2 2 0 1 0 0 4 2 2 0 1 0 0-4z',
    'M9 15a2 2 0 1 0 0 4 2 2 0 1 0 0-4z'],
  cog: ['M12 9a3 3 0 1 0 0 6 3 3 0 1 0 0-6z',
    'M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z'],
  copy: ['M9 9h10a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H9a1 1 0 0 1-1-1V10a1 1 0 0 1 1-1z',
    'M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1'],
  check: ['M5 12l5 5L20 7'],
  regenerate: ['M20 11a8 8 0 1 0-2.3 5.7', 'M20 4v7h-7'],
  edit: ['M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16z', 'M13.5 6.5l4 4'],
  chevleft: ['M15 18l-6-6 6-6'],
  chevright: ['M9 6l6 6-6 6'],
  chevdown: ['M6 9l6 6 6-6'],
  arrowup: ['M12 19V5', 'M5 12l7-7 7 7'],
  arrowdown: ['M12 5v14', 'M19 12l-7 7-7-7'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 13h10l1-13', 'M9 7V4h6v3'],
  more: ['M5 12h.01', 'M12 12h.01', 'M19 12h.01'],
  alert: ['M12 3 2 21h20z', 'M12 10v4', 'M12 17h.01'],
  book: ['M2 5h6a4 4 0 0 1 4 4v11a3 3 0 0 0-3-3H2z', 'M22 5h-6a4 4 0 0 0-4 4v11a3 3 0 0 1 3-3h7z'],
  paused: ['M12 3a9 9 0 1 0 0 18 9 9 0 1 0 0-18z', 'M10 9v6', 'M14 9v6'],
  paperclip: ['M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.5 3.5 0 0 1 5 5L10 17.5a2 2 0 0 1-3-3l7.5-7.5'],
  globe: ['M12 3a9 9 0 1 0 0 18 9 9 0 1 0 0-18z', 'M3 12h18',
    'M12 3a14 14 0 0 1 0 18 14 14 0 0 1 0-18z'],
};
const FILLED = { stop: 'M7 7h10v10H7z' };

/** An inline SVG icon (decorative: labels belong on the button). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.classList.add('icon');
  if (FILLED[name]) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', FILLED[name]);
    path.setAttribute('fill', 'currentColor');
    svg.append(path);
    return svg;
  }
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** Fill every [data-icon] placeholder of the static page. */
export function mountIcons(root = document) {
  for (const el of root.querySelectorAll('[data-icon]')) {
    if (!el.querySelector('svg')) el.prepend(icon(el.dataset.icon));
  }
}

/** A transient message at the bottom of the screen, optionally with one action. */
export function toast(text, {
  kind = 'info', action = null, timeout = 5000, onExpire = null, detail = null,
} = {}) {
  const box = toastBox();
  let done = false;
  const close = (expired) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    el.remove();
    if (expired && onExpire) onExpire();
  };
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text', text }));
  // A translated message keeps the server's own words within reach (hover, screen readers).
  if (detail && detail !== text) el.firstChild.title = detail;
  if (action) {
    el.append(h('button', {
      type: 'button', class: 'toast-action', text: action.label,
      onclick: () => { close(false); action.run(); },
    }));
  }
  el.append(h('button', {
    type: 'button', class: 'toast-close', 'aria-label': '×', onclick: () => close(true),
  }, icon('x')));
  box.append(el);
  const timer = setTimeout(() => close(true), timeout);
  return { close: () => close(false), flush: () => close(true) };
}

/** Where toasts go: inside an open modal dialog, or the page behind it would hide them. */
function toastBox() {
  const dialog = document.querySelector('dialog[open]');
  if (!dialog) return document.getElementById('toasts');
  return dialog.querySelector(':scope > .toasts')
    || dialog.appendChild(h('div', { class: 'toasts', 'aria-live': 'assertive' }));
}

/**
 * A deletion the user can take back for a few seconds: the caller hides the thing at once;
 * commit() deletes it when the toast expires (or is closed), unload() (a keepalive request)
 * when the page goes away first, so a closed tab does what the user asked; undo() if Undo
 * is pressed, and nothing is sent.
 */
export function undoable(text, undoLabel, { commit, unload, undo }) {
  if (!leaving.size) window.addEventListener('pagehide', leave, { once: true });
  const pending = { unload };
  leaving.add(pending);
  toast(text, {
    timeout: UNDO_MS,
    action: { label: undoLabel, run: () => { leaving.delete(pending); undo(); } },
    onExpire: () => { if (leaving.delete(pending)) commit(); },
  });
}

function leave() {
  for (const pending of leaving) pending.unload();
  leaving.clear();
}

/**
 * Copy text, briefly showing a check mark on the button that asked; a toast if it failed.
 * failedText is the (translated) message for that toast.
 */
export async function copyText(text, button, failedText = 'Copy failed') {
  if (!(await writeClipboard(text))) {
    toast(failedText, { kind: 'error', timeout: 8000 });
    return;
  }
  if (!button) return;
  button.classList.add('copied');
  const old = button.querySelector('svg');
  if (old) old.replaceWith(icon('check'));
  setTimeout(() => {
    button.classList.remove('copied');
    const svg = button.querySelector('svg');
    if (svg) svg.replaceWith(icon('copy'));
  }, 1500);
}

/**
 * The clipboard API exists only in secure contexts (HTTPS, localhost): over plain HTTP on
 * a LAN it is missing, so fall back to the older selection + execCommand('copy'), which
 * still works there from a click.
 */
async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (permissions, focus): the fallback may still work.
    }
  }
  const focused = document.activeElement;
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  // Inside an open modal dialog, or the selection would land behind it (inert).
  (document.querySelector('dialog[open]') || document.body).append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  focused?.focus?.({ preventScroll: true });
  return ok;
}

/** A button that asks for a second click before doing something that cannot be undone. */
export function confirmingButton(label, confirmLabel, run) {
  let timer = null;
  const button = h('button', { type: 'button', class: 'btn small', text: label });
  button.addEventListener('click', () => {
    if (timer) {
      clearTimeout(timer);
      run();
      return;
    }
    button.textContent = confirmLabel;
    button.classList.add('danger');
    timer = setTimeout(() => {
      timer = null;
      button.textContent = label;
      button.classList.remove('danger');
    }, CONFIRM_MS);
  });
  return button;
}
