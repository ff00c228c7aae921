// "Search the web" in the composer: a toggle kept per conversation (PATCHed to it) and
// sent with every message, so one message can differ from the conversation's setting.
// Shown only when the server has a search engine (GET /api/web-search).

import { call } from './api.js';
import { h, icon, toast } from './dom.js';
import { errorText, t } from './i18n.js';

export class WebSearchToggle {
  constructor(app) {
    this.app = app;
    this.on = false;
    this.button = h('button', {
      type: 'button', class: 'web-toggle', id: 'web-toggle', hidden: true,
      'aria-pressed': 'false', title: t('searchWeb'), onclick: () => this.flip(),
    }, icon('globe'), h('span', { text: t('searchWeb') }));
    document.querySelector('.composer-actions')?.prepend(this.button);
  }

  /** Ask the server whether it has an engine (after sign-in: the route needs a session). */
  async load() {
    try {
      this.button.hidden = !(await call('GET', '/api/web-search')).enabled;
    } catch {
      this.button.hidden = true; // an older server: no toggle
    }
  }

  /** The toggle of the conversation now on screen (off for a new chat). */
  show(conv) {
    this.set(Boolean(conv?.web_search));
  }

  set(on) {
    this.on = on;
    this.button.setAttribute('aria-pressed', String(on));
    this.button.classList.toggle('on', on);
  }

  async flip() {
    this.set(!this.on);
    const conv = this.app.conv;
    if (!conv?.id) return; // a new chat takes it when it is created
    try {
      Object.assign(conv, await call('PATCH', `/api/conversations/${encodeURIComponent(conv.id)}`,
        { web_search: this.on }));
    } catch (err) {
      this.set(!this.on);
      toast(errorText(err), { kind: 'error', detail: err.message });
    }
  }

  /** What a message or a new conversation carries. */
  fields() {
    return this.button.hidden ? {} : { web_search: this.on };
  }
}
