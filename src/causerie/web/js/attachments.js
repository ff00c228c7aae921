// Files attached from the composer, as in ChatGPT. They go into the chat's own collection
// (created and attached on first use by the server) through the usual upload route and job
// queue, so the next answers are grounded on them; a chip per file shows its progress,
// says in the user's language why it failed, and removes it.

import { call } from './api.js';
import { h, icon } from './dom.js';
import { errorText, language, t } from './i18n.js';
import { ACCEPT, jobError, uploadFile, watchJob } from './knowledge.js';

const BUSY = new Set(['uploading', 'indexing']);

export class Attachments {
  constructor(app) {
    this.app = app;
    this.items = new Set();
    this.input = h('input', {
      type: 'file', multiple: true, hidden: true, id: 'attach-input', accept: ACCEPT,
      onchange: (e) => {
        const files = [...e.target.files];
        e.target.value = ''; // the same file can be chosen again
        this.attach(files);
      },
    });
    // A real button opening the hidden input: reachable by Tab, operable by Enter or Space.
    this.button = h('button', {
      type: 'button', class: 'icon-btn attach-btn', id: 'attach', 'aria-label': t('attachFiles'),
      title: t('attachFiles'), 'data-i18n-label': 'attachFiles', onclick: () => this.input.click(),
    }, icon('paperclip'));
    this.list = h('ul', {
      class: 'attachments', id: 'attachments', hidden: true, 'aria-label': t('attachedFiles'),
      'data-i18n-label': 'attachedFiles',
    });
    const box = document.querySelector('.composer-box');
    box?.prepend(this.button, this.input);
    box?.before(this.list);
  }

  /** Files still being sent or indexed: the reply would not see them yet. */
  busy() {
    return [...this.items].some((item) => BUSY.has(item.state));
  }

  /** Upload files into the chat's own collection; a new chat is started for them. */
  async attach(files) {
    if (!files.length) return;
    const items = files.map((file) => this.chip(file.name));
    let collection;
    try {
      const conv = await this.app.ensureConversation();
      collection = await call('POST', `/api/conversations/${encodeURIComponent(conv.id)}/own-collection`,
        { label: t('chatFiles') });
      this.app.knowledge.addAttached(collection);
    } catch (err) {
      for (const item of items) this.fail(item, errorText(err));
      return;
    }
    for (const [i, file] of files.entries()) {
      const item = items[i];
      if (item.removed) continue;
      try {
        item.job = await uploadFile(collection.id, file);
      } catch (err) {
        this.fail(item, errorText(err));
        continue;
      }
      this.follow(item); // the next file is sent while this one is indexed
    }
  }

  async follow(item) {
    this.progress(item, item.job);
    let job;
    try {
      job = await watchJob(item.job, (j) => this.progress(item, j));
    } catch (err) {
      this.fail(item, errorText(err));
      return;
    }
    if (item.removed) return;
    if (job.status === 'succeeded') this.set(item, 'ready', t('ready'));
    else this.fail(item, job.error ? jobError(job) : t(job.status));
  }

  progress(item, job) {
    item.job = job;
    if (item.removed) return;
    const { done, total } = job.progress;
    const pct = new Intl.NumberFormat(language(), { style: 'percent' })
      .format(total ? done / total : 0);
    this.set(item, 'indexing', job.status === 'queued' ? t('queued') : t('indexingPct', { pct }));
  }

  chip(name) {
    const status = h('span', { class: 'attachment-status', role: 'status', text: t('uploading') });
    const remove = h('button', {
      type: 'button', class: 'attachment-remove', 'aria-label': t('removeFile', { name }),
      title: t('removeFile', { name }),
    }, icon('x'));
    const el = h('li', { class: 'attachment', dataset: { name, state: 'uploading' } },
      icon('paperclip'), h('span', { class: 'attachment-name', text: name }), status, remove);
    const item = { el, status, state: 'uploading', job: null, removed: false };
    remove.addEventListener('click', () => this.remove(item));
    this.items.add(item);
    this.list.append(el);
    this.list.hidden = false;
    this.app.updateComposer();
    return item;
  }

  set(item, state, text) {
    item.state = state;
    item.el.dataset.state = state;
    item.status.textContent = text;
    this.app.updateComposer(); // Send waits for the files still on their way
  }

  fail(item, reason) {
    if (!item.removed) this.set(item, 'failed', t('failedBecause', { reason }));
  }

  /** Take a file back: stop its job, or delete the document it became. */
  remove(item) {
    item.removed = true;
    this.drop(item);
    const job = item.job;
    this.app.input.focus();
    if (!job) return;
    const request = BUSY.has(item.state)
      ? call('POST', `/api/knowledge/jobs/${job.id}/cancel`)
      : job.document_id && call('DELETE', `/api/knowledge/documents/${job.document_id}`);
    request?.catch((err) => this.app.showError(err));
  }

  drop(item) {
    item.el.remove();
    this.items.delete(item);
    this.list.hidden = !this.items.size;
    this.app.updateComposer();
  }

  /** Sent: the files ready are now the chat's (named in "Answers from"); failures stay. */
  sent() {
    for (const item of this.items) if (item.state === 'ready') this.drop(item);
  }

  /** Another chat on screen: its composer starts empty (uploads go on in the background). */
  clear() {
    for (const item of this.items) this.drop(item);
  }
}
