// A reply being generated elsewhere (another tab, another replica): this tab has no
// stream of it, so it reads the conversation back until the reply ends, shows the text
// as the server stores it (every half second or so), and offers Stop.

import { api } from './api.js';

const POLL_MS = 1000;
const AFTER_STOP_MS = 300; // the writer sees Stop at its next flush (FLUSH_SECONDS 0.5)

export class RemoteReply {
  constructor(app) {
    this.app = app;
    this.watched = null; // {conv, id} of the reply followed
    this.timer = 0;
  }

  /** Follow the open conversation's last reply if it is streaming, but not from this tab. */
  check(conv) {
    const last = conv?.messages.at(-1);
    const elsewhere = last?.role === 'assistant' && last.status === 'streaming'
      && !this.app.streams.has(conv.id);
    if (!elsewhere) {
      this.forget();
    } else if (this.watched?.id !== last.id) {
      this.forget();
      this.watched = { conv: conv.id, id: last.id };
      this.schedule(POLL_MS);
    }
  }

  /** True while the open conversation has a reply followed here. */
  busy(convId) {
    return Boolean(convId) && this.watched?.conv === convId;
  }

  isWatched(messageId) {
    return this.watched?.id === messageId;
  }

  forget() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.watched = null;
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), ms);
  }

  async poll() {
    const watched = this.watched;
    if (!watched) return;
    let fresh;
    try {
      fresh = await this.app.knowledge.decorate(await api.get(watched.conv));
    } catch {
      this.schedule(POLL_MS * 2); // unreachable for now, or deleted: the app says which
      return;
    }
    const app = this.app;
    if (this.watched !== watched || app.conv?.id !== watched.conv) return; // moved on
    const stored = fresh.messages.find((m) => m.id === watched.id);
    const shown = app.conv.messages.find((m) => m.id === watched.id);
    if (stored?.status === 'streaming' && shown) {
      shown.content = stored.content;
      app.chat.update(shown);
      this.schedule(POLL_MS);
      return;
    }
    this.forget(); // ended (complete, stopped, failed) or gone: show what was stored
    Object.assign(app.conv, fresh);
    app.chat.render(app.conv.messages);
    app.updateComposer();
  }

  /** Stop the followed reply, whichever process streams it; false if there is none. */
  stop() {
    const watched = this.watched;
    if (!watched) return false;
    api.stop(watched.conv, watched.id).catch(() => {}); // a failure changes nothing shown
    this.schedule(AFTER_STOP_MS);
    return true;
  }
}
