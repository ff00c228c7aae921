// Knowledge in the UI: collections with uploads and their progress, collections attached
// to a chat, clickable [n] citations, a sources panel, and the cited passage in context.

import { call, deleteOnUnload } from './api.js';
import { confirmingButton, h, icon, toast, undoable } from './dom.js';
import { errorText, plural, t } from './i18n.js';

const POLL_MS = 300;
export const ACCEPT = '.pdf,.docx,.html,.htm,.md,.markdown,.txt'; // what ingestion reads

const K = '/api/knowledge';
const conversationUrl = (id) => `/api/conversations/${encodeURIComponent(id)}`;

export class Knowledge {
  constructor(app) {
    this.app = app;
    this.attached = []; // collections of the conversation on screen
    this.deleting = new Set(); // documents deleted, Undo still possible: not shown
    // Named in words, not by an icon alone: "Documents" is where files and collections live.
    this.button = h('button', {
      type: 'button', class: 'knowledge-btn', id: 'open-knowledge', title: t('documentsHint'),
      onclick: () => this.open(),
    }, icon('book'), h('span', { 'data-i18n': 'documents', text: t('documents') }));
    document.querySelector('.topbar-actions')?.prepend(this.button);
    this.chip = h('div', { class: 'knowledge-chip', id: 'knowledge-chip', hidden: true });
    document.getElementById('composer')?.prepend(this.chip);
    this.dialog = h('dialog', { class: 'dialog knowledge-dialog', id: 'knowledge' });
    this.passageDialog = h('dialog', { class: 'dialog passage-dialog', id: 'passage' });
    document.body.append(this.dialog, this.passageDialog);
  }

  // -- conversation state ------------------------------------------------------------

  /** Load a conversation's attached collections and its replies' sources and citations. */
  async decorate(conv) {
    if (!conv?.id) return conv;
    try {
      const [attached, grounding] = await Promise.all([
        call('GET', `${conversationUrl(conv.id)}/collections`),
        call('GET', `${conversationUrl(conv.id)}/grounding`),
      ]);
      for (const msg of conv.messages || []) {
        if (grounding.data[msg.id]) msg.grounding = grounding.data[msg.id];
      }
      if (this.app.conv?.id === conv.id || this.app.currentId() === conv.id) {
        this.showAttached(attached.data);
      }
    } catch {
      // Knowledge is an addition: a conversation still shows without it.
    }
    return conv;
  }

  /** One more collection answers this chat (its own, on the first file attached). */
  addAttached(collection) {
    if (!this.attached.some((c) => c.id === collection.id)) {
      this.showAttached([...this.attached, collection]);
    }
  }

  showAttached(collections) {
    this.attached = collections;
    this.chip.hidden = !collections.length;
    this.chip.replaceChildren(
      icon('book'),
      h('span', { text: `${t('grounded')} ` }),
      ...collections.map((c) => h('strong', { class: 'chip-name', text: c.name })),
    );
  }

  /** Stream events of a grounded reply: sources first, checked text at the end. */
  onEvent(kind, data, reply) {
    if (kind === 'sources') {
      reply.grounding = { content: reply.content, citations: [], sources: data.sources };
      return true;
    }
    if (kind === 'grounding') {
      reply.content = data.content;
      reply.grounding = data;
      return true;
    }
    return false;
  }

  // -- message decoration ------------------------------------------------------------

  /** Turn [n] into buttons and add the sources panel under a grounded reply. */
  decorateMessage(el, body, msg) {
    const grounding = msg.grounding;
    if (!grounding || !grounding.sources?.length) return;
    // On the next frame: a streaming redraw still queued for this message would otherwise
    // replace the linked text with plain text.
    const linkify = () => requestAnimationFrame(() => linkCitations(body, grounding.sources));
    if (body.classList.contains('lazy')) {
      const observer = new MutationObserver(() => {
        if (!body.classList.contains('lazy')) {
          observer.disconnect();
          linkify();
        }
      });
      observer.observe(body, { attributes: true, attributeFilter: ['class'] });
    } else linkify();
    const flagged = (grounding.citations || []).filter((c) => c.status === 'unsupported');
    const panel = h('details', { class: 'sources-panel', open: true },
      h('summary', { text: `${t('sources')} (${grounding.sources.length})` }),
      h('ol', {}, grounding.sources.map((s) => h('li', { value: String(s.index) },
        h('button', {
          type: 'button', class: 'source-link', dataset: { action: 'cite', n: String(s.index) },
        }, h('strong', { text: `[${s.index}] ${s.document}` }),
        h('span', { class: 'source-where', text: where(s) })),
        s.url ? pageLink(s) : null,
        h('q', { class: 'source-snippet', text: s.snippet })))));
    if (flagged.length) {
      panel.append(h('div', { class: 'unsupported-list' },
        h('strong', { text: `⚠ ${t('unsupported')}:` }),
        h('ul', {}, flagged.map((c) => h('li', { text: c.sentence })))));
    }
    const unread = grounding.web?.unread || [];
    if (unread.length) { // web search: pages found but not read, and why
      panel.append(h('div', { class: 'unread-pages' },
        h('strong', { text: `${t('unreadPages')}:` }),
        h('ul', {}, unread.map((p) => h('li', {},
          h('a', { href: safeUrl(p.url), target: '_blank', rel: 'noopener noreferrer',
            text: p.title || p.url }),
          h('span', { class: 'source-where', text: ` — ${p.reason}` }))))));
    }
    body.after(panel);
  }

  /** Show the cited passage of source n, highlighted in its context. */
  async openSource(msg, n) {
    const source = msg.grounding?.sources?.find((s) => s.index === n);
    if (!source) return;
    if (source.url) { // a web page: its link, not a stored document
      window.open(safeUrl(source.url), '_blank', 'noopener,noreferrer');
      return;
    }
    let passage;
    try {
      const params = new URLSearchParams({ start: source.start, end: source.end });
      passage = await call('GET', `${K}/documents/${source.document_id}/passage?${params}`);
    } catch (err) {
      toast(errorText(err), { kind: 'error', detail: err.message });
      return;
    }
    this.passageDialog.replaceChildren(h('div', { class: 'dialog-body' },
      h('h2', { text: `[${n}] ${source.document}` }),
      h('p', { class: 'hint', text: where(passage) }),
      h('blockquote', { class: 'passage' },
        h('span', { class: 'passage-context', text: passage.before ? `…${passage.before}` : '' }),
        h('mark', { class: 'passage-cited', text: passage.text }),
        h('span', { class: 'passage-context', text: passage.after ? `${passage.after}…` : '' })),
      h('div', { class: 'dialog-actions' },
        h('button', {
          type: 'button', class: 'btn primary', text: t('close'),
          onclick: () => this.passageDialog.close(),
        }))));
    this.passageDialog.showModal();
    this.passageDialog.querySelector('mark')?.scrollIntoView({ block: 'center' });
  }

  // -- the collections dialog ----------------------------------------------------------

  async open() {
    this.dialog.replaceChildren(h('div', { class: 'dialog-body' },
      h('h2', { text: t('collections') }),
      h('form', { class: 'new-collection', onsubmit: (e) => this.create(e) },
        h('input', { name: 'name', required: true, maxlength: '200', placeholder: t('newCollection'),
          'aria-label': t('newCollection') }),
        h('button', { type: 'submit', class: 'btn', text: t('create') })),
      h('div', { class: 'collections', id: 'collections' }),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn primary', text: t('close'),
          onclick: () => this.dialog.close() }))));
    this.dialog.showModal();
    await this.refresh();
  }

  async refresh() {
    const box = this.dialog.querySelector('#collections');
    if (!box) return;
    let cols;
    try {
      cols = (await call('GET', `${K}/collections`)).data;
    } catch (err) {
      toast(errorText(err), { kind: 'error', detail: err.message });
      return;
    }
    const attached = new Set(this.attached.map((c) => c.id));
    const items = await Promise.all(cols.map(async (col) => {
      const docs = await this.documents(col.id);
      // A real button opening a hidden file input: reachable and operable by keyboard.
      const file = h('input', { type: 'file', multiple: true, class: 'file', hidden: true,
        accept: ACCEPT,
        onchange: (e) => this.upload(col.id, e.target) });
      return h('section', { class: 'collection', dataset: { id: col.id, name: col.name } },
        h('header', {},
          h('strong', { class: 'collection-name', text: col.name }),
          h('span', { class: 'hint doc-count', text: ` ${plural('docCount', docs.length)}` }),
          h('button', { type: 'button', class: 'btn small', text: t('rename'),
            onclick: (e) => this.startRename(e.currentTarget.closest('header'), col) }),
          confirmingButton(t('delete'), t('confirmDelete'), () => this.removeCollection(col))),
        h('label', { class: 'check' },
          h('input', { type: 'checkbox', class: 'attach', checked: attached.has(col.id),
            onchange: () => this.saveAttached() }),
          h('span', { text: t('useHere') })),
        h('button', { type: 'button', class: 'btn upload', text: t('upload'),
          onclick: () => file.click() }), file,
        h('form', { class: 'add-url', onsubmit: (e) => this.addUrl(e, col.id) },
          h('input', { type: 'url', name: 'url', required: true, maxlength: '2000',
            placeholder: t('urlPlaceholder'), 'aria-label': t('addUrl') }),
          h('button', { type: 'submit', class: 'btn small', text: t('addUrl') })),
        h('ul', { class: 'jobs' }),
        h('ul', { class: 'docs' }, docs.map((d) => this.docItem(d))));
    }));
    box.replaceChildren(...(items.length ? items : [h('p', { class: 'hint', text: t('empty') })]));
  }

  /** A document: its own title when it has one (the file name beside it), and Delete. */
  docItem(d) {
    const title = d.title && d.title !== d.name ? d.title : null;
    return h('li', { dataset: { id: d.id } },
      h('span', { class: 'doc-title', text: title ?? d.name }),
      title ? h('span', { class: 'hint doc-file', text: d.name }) : null,
      h('button', { type: 'button', class: 'btn small', text: t('remove'),
        onclick: () => this.removeDocument(d) }));
  }

  /** A collection's documents, less those whose deletion can still be undone. */
  async documents(collectionId) {
    const docs = (await call('GET', `${K}/collections/${collectionId}/documents`)).data;
    return docs.filter((d) => !this.deleting.has(d.id));
  }

  /** Rename in place: Enter saves, Escape (or leaving the field empty) keeps the name. */
  startRename(header, col) {
    const label = header.querySelector('.collection-name');
    const input = h('input', { class: 'rename-input', value: col.name, maxlength: '200',
      'aria-label': t('rename') });
    const done = async (save) => {
      const name = input.value.trim();
      input.replaceWith(label);
      header.querySelector('.btn')?.focus();
      if (!save || !name || name === col.name) return;
      try {
        await call('PATCH', `${K}/collections/${col.id}`, { name });
        await this.refresh();
      } catch (err) {
        toast(errorText(err), { kind: 'error', detail: err.message });
      }
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        done(true);
      } else if (event.key === 'Escape') {
        event.preventDefault(); // not the dialog's Escape
        event.stopPropagation();
        done(false);
      }
    });
    label.replaceWith(input);
    input.select();
  }

  async removeCollection(col) {
    try {
      await call('DELETE', `${K}/collections/${col.id}`);
      this.showAttached(this.attached.filter((c) => c.id !== col.id));
    } catch (err) {
      toast(errorText(err), { kind: 'error', detail: err.message });
    }
    await this.refresh();
    this.dialog.querySelector('input[name="name"]')?.focus();
  }

  async create(event) {
    event.preventDefault();
    const input = event.target.elements.name;
    try {
      await call('POST', `${K}/collections`, { name: input.value.trim() });
      input.value = '';
      await this.refresh();
    } catch (err) {
      toast(errorText(err), { kind: 'error', detail: err.message });
    }
  }

  /** Hidden at once, deleted when the undo window closes (see undoable in dom.js). */
  async removeDocument(d) {
    const url = `${K}/documents/${d.id}`;
    const shown = async () => {
      this.deleting.delete(d.id);
      await this.refreshDocs();
    };
    this.deleting.add(d.id);
    undoable(t('documentDeleted', { name: d.name }), t('undo'), {
      commit: async () => {
        try {
          await call('DELETE', url);
        } catch (err) {
          if (err.status !== 404) toast(errorText(err), { kind: 'error', detail: err.message });
        }
        await shown(); // gone, or back in the list if the server refused
      },
      unload: () => deleteOnUnload(url),
      undo: shown,
    });
    const row = this.dialog.querySelector(`.collection .docs [data-id="${d.id}"]`);
    const upload = row?.closest('.collection').querySelector('.btn.upload');
    await this.refreshDocs();
    upload?.focus(); // its row is gone: focus stays in the collection
  }

  /** Attach the ticked collections; a new chat is created first so they have a home. */
  async saveAttached() {
    const ids = [...this.dialog.querySelectorAll('.collection')]
      .filter((el) => el.querySelector('.attach').checked).map((el) => el.dataset.id);
    try {
      let id = this.app.currentId();
      if (!id) {
        id = (await call('POST', '/api/conversations', {})).id;
        location.hash = `#/c/${id}`;
      }
      const res = await call('PUT', `${conversationUrl(id)}/collections`, { collections: ids });
      this.showAttached(res.data);
    } catch (err) {
      toast(errorText(err), { kind: 'error', detail: err.message });
    }
  }

  async upload(collectionId, input) {
    const files = [...input.files];
    input.value = '';
    for (const file of files) {
      await this.submit(collectionId, file.name, () => uploadFile(collectionId, file));
    }
  }

  async addUrl(event, collectionId) {
    event.preventDefault();
    const input = event.target.elements.url;
    const url = input.value.trim();
    input.value = '';
    await this.submit(collectionId, url, () =>
      call('POST', `${K}/collections/${collectionId}/urls`, { url }));
  }

  /** A job row under the collection, then its progress; a refused request fails readably. */
  async submit(collectionId, name, start) {
    const list = this.dialog.querySelector(`.collection[data-id="${collectionId}"] .jobs`);
    const row = h('li', { class: 'job' },
      h('span', { class: 'job-name', text: name }),
      h('progress', { max: '1', value: '0' }),
      h('span', { class: 'job-status', text: t('queued') }));
    list?.append(row);
    try {
      this.follow(await start(), row);
    } catch (err) {
      row.querySelector('.job-status').textContent = `${t('failed')}: ${err.message}`;
      row.classList.add('failed');
    }
  }

  /** Poll a job, drawing its progress, until it ends; a cancel button while it runs. */
  async follow(job, row) {
    const bar = row.querySelector('progress');
    const status = row.querySelector('.job-status');
    const cancel = h('button', { type: 'button', class: 'btn small cancel-job', text: t('cancel'),
      onclick: () => call('POST', `${K}/jobs/${job.id}/cancel`).catch(() => {}) });
    row.append(cancel);
    job = await watchJob(job, (j) => {
      const { done, total } = j.progress;
      bar.max = String(Math.max(total, 1));
      bar.value = String(done);
      status.textContent = `${t(j.status)} ${total ? `${done}/${total}` : ''}`;
    });
    cancel.remove();
    const result = job.result && job.result !== 'indexed' ? ` (${t(job.result)})` : '';
    status.textContent = job.error ? `${t(job.status)}: ${jobError(job)}` : t(job.status) + result;
    row.classList.add(job.status);
    if (job.status === 'succeeded') {
      bar.value = bar.max;
      setTimeout(() => this.refreshDocs(), 0);
    }
  }

  async refreshDocs() {
    // Keep the job rows (their outcome stays readable) and refresh only document lists.
    for (const section of this.dialog.querySelectorAll('.collection')) {
      const docs = await this.documents(section.dataset.id);
      section.querySelector('.doc-count').textContent = ` ${plural('docCount', docs.length)}`;
      section.querySelector('.docs').replaceChildren(...docs.map((d) => this.docItem(d)));
    }
  }
}

/** Only http(s) links from the web step: a javascript: URL must never become a link. */
function safeUrl(url) {
  return /^https?:\/\//i.test(url) ? url : '#';
}

/** A web source's site and link, as search engines show them. */
function pageLink(s) {
  return h('a', {
    class: 'source-url', href: safeUrl(s.url), target: '_blank', rel: 'noopener noreferrer',
    title: t('openPage'), text: `${s.site || ''} ↗`,
  });
}

function where(s) {
  const parts = [];
  if (s.page) parts.push(`${t('page')} ${s.page}`);
  if (s.section) parts.push(s.section);
  return parts.join(' · ');
}

/** Replace [n] in the rendered answer's text (never in code) with citation buttons. */
function linkCitations(body, sources) {
  const known = new Set(sources.map((s) => s.index));
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement.closest('pre, code, .cite')
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) if (/\[\d+\]/.test(walker.currentNode.nodeValue)) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const parts = node.nodeValue.split(/(\[\d+\])/);
    const frag = document.createDocumentFragment();
    for (const part of parts) {
      const m = part.match(/^\[(\d+)\]$/);
      if (m && known.has(Number(m[1]))) {
        frag.append(h('button', { type: 'button', class: 'cite', text: part,
          dataset: { action: 'cite', n: m[1] }, 'aria-label': `${t('sources')} ${m[1]}` }));
      } else frag.append(part);
    }
    node.replaceWith(frag);
  }
}

/** Queue the ingestion of one file; its job. */
export async function uploadFile(collectionId, file) {
  const form = new FormData();
  form.append('file', file, file.name);
  return (await call('POST', `${K}/collections/${collectionId}/documents`, form)).data[0];
}

/** Poll a job until it ends, onUpdate(job) after each read; the job as it ended. */
export async function watchJob(job, onUpdate) {
  while (job.status === 'queued' || job.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await call('GET', `${K}/jobs/${job.id}`);
    onUpdate(job);
  }
  return job;
}

/** Why a job failed, in the user's language when its code is known. */
export function jobError(job) {
  const detail = job.error_detail;
  if (!detail?.code) return job.error;
  return errorText({ code: detail.code, message: job.error, detail });
}
