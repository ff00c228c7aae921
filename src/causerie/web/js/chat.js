// The message thread: keyed rendering of the active branch, streaming updates once per
// frame, and Markdown rendered only for messages near the viewport (long chats stay fast).

import { copyText, h, icon } from './dom.js';
import { errorText, language, t } from './i18n.js';
import { renderMarkdown, renderStreaming } from './markdown.js';

const LONG_CHARS = 2000; // a user message longer than this (or LONG_LINES) shows collapsed
const LONG_LINES = 16;
const EAGER_TAIL = 12; // the last messages are rendered at once; earlier ones when scrolled to
const NEAR_BOTTOM_PX = 80;
const LAZY_BUDGET_MS = 6; // Markdown rendering per frame for messages scrolled near
const LAZY_MARGIN_PX = 1200; // how far outside the viewport Markdown is rendered ahead

export class Chat {
  constructor(app) {
    this.app = app;
    this.thread = document.getElementById('thread');
    this.list = document.getElementById('messages');
    this.jump = document.getElementById('jump');
    this.nodes = new Map(); // message id -> {el, sig, msg}
    this.dirty = new Set(); // streaming message ids waiting for the next frame
    this.frame = 0;
    this.pending = []; // messages shown as plain text so far, in page order
    this.queue = []; // of those, the ones near the viewport, waiting for their Markdown
    this.queueFrame = 0;
    this.checkFrame = 0;
    this.checkedAt = 0; // scrollTop of the last look for messages to render
    this.lazyStale = true; // the page changed since that look
    this.stick = true; // follow the newest text unless the reader scrolled up
    this.pinnedAt = 0; // scrollTop where we last scrolled to the bottom
    // Not an IntersectionObserver: with a thousand targets it costs every frame, streaming
    // included (measured: 5-7 % frames dropped against 0.5 %); scrolling is what matters.
    this.thread.addEventListener('scroll', () => {
      this.onScroll();
      this.scheduleLazyCheck();
    }, { passive: true });
    window.addEventListener('resize', () => {
      this.lazyStale = true;
      this.scheduleLazyCheck();
    });
    this.jump.addEventListener('click', () => this.scrollToBottom(true));
    this.list.addEventListener('click', (event) => this.onClick(event));
    // Late growth (fonts, KaTeX, lazily rendered Markdown) keeps the newest text in view.
    new ResizeObserver(() => {
      if (this.following()) this.scrollToBottom(false);
    }).observe(this.list);
  }

  /** Show these messages (the active branch), reusing the elements that did not change. */
  render(messages, { scroll = false } = {}) {
    const seen = new Set();
    let previous = null;
    messages.forEach((msg, index) => {
      const eager = index >= messages.length - EAGER_TAIL;
      const sig = this.signature(msg);
      let entry = this.nodes.get(msg.id);
      if (!entry || entry.sig !== sig) {
        const el = this.build(msg, eager);
        if (entry) entry.el.replaceWith(el);
        entry = { el, sig, msg };
        this.nodes.set(msg.id, entry);
      }
      entry.msg = msg;
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (entry.el !== expected) this.list.insertBefore(entry.el, expected);
      previous = entry.el;
      seen.add(msg.id);
    });
    for (const [id, entry] of this.nodes) {
      if (!seen.has(id)) {
        entry.el.remove();
        this.nodes.delete(id);
      }
    }
    document.getElementById('main').classList.toggle('empty', messages.length === 0);
    if (scroll || this.following()) this.scrollToBottom(false);
    this.pending = [...this.list.querySelectorAll('.markdown.lazy')]
      .map((body) => body.closest('article'));
    this.lazyStale = true;
    this.scheduleLazyCheck();
  }

  /** Forget every element (language change, other conversation). */
  clear() {
    this.pending = [];
    this.queue = [];
    this.nodes.clear();
    this.list.replaceChildren();
    this.stick = true;
  }

  /** New text arrived for a streaming reply: draw it on the next frame, at most once. */
  update(msg) {
    const entry = this.nodes.get(msg.id);
    if (!entry) return;
    entry.msg = msg;
    this.dirty.add(msg.id);
    this.frame ||= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    for (const id of this.dirty) {
      const entry = this.nodes.get(id);
      const body = entry?.el.querySelector('.markdown');
      if (!body) continue;
      renderStreaming(body, entry.msg.content);
      body.classList.toggle('waiting', !entry.msg.content);
      markCaret(body);
    }
    this.dirty.clear();
    if (this.following()) this.scrollToBottom(false);
  }

  signature(msg) {
    const live = this.app.isLive(msg.id);
    const siblings = (msg.siblings || []).join(',');
    const text = live ? 'live' : `${msg.content.length}:${msg.status}:${msg.error || ''}`;
    const grounded = msg.grounding ? msg.grounding.citations?.length ?? 0 : '-';
    return `${language()}|${siblings}|${text}|${grounded}`;
  }

  build(msg, eager) {
    const live = this.app.isLive(msg.id);
    const el = h('article', {
      class: `msg ${msg.role}`,
      dataset: { id: msg.id, status: live ? 'streaming' : msg.status },
    });
    if (msg.role === 'user') {
      el.append(...userBubble(msg.content));
    } else {
      const body = h('div', { class: 'markdown' });
      if (live) {
        renderStreaming(body, msg.content);
        body.classList.toggle('waiting', !msg.content);
        markCaret(body);
      } else if (eager) {
        body.append(renderMarkdown(msg.content));
      } else {
        // Plain text keeps roughly the right height until the message scrolls near.
        body.textContent = msg.content;
        body.classList.add('lazy');
      }
      el.append(body);
      if (!live) this.app.knowledge?.decorateMessage(el, body, msg);
      const note = this.note(msg, live);
      if (note) el.append(note);
    }
    el.append(this.actions(msg));
    return el;
  }

  note(msg, live) {
    if (live) return null;
    // Cut off by a failure (not by Stop): the text so far stays, the reason and Retry below.
    const failed = msg.status === 'error'
      || (msg.status === 'interrupted' && msg.error && !msg.stopped);
    if (failed) {
      const title = msg.status === 'error' ? t('errorTitle') : t('cutOff');
      return h('div', { class: 'error-box', role: 'alert' },
        icon('alert'),
        h('div', { class: 'error-text' },
          h('strong', { text: title }),
          h('p', { text: storedError(msg) })),
        h('button', { type: 'button', class: 'btn retry', dataset: { action: 'retry' } },
          icon('regenerate'), h('span', { text: t('retry') })));
    }
    if (msg.status === 'interrupted' || msg.status === 'streaming') {
      const text = msg.status === 'interrupted' ? t('interrupted') : t('incomplete');
      return h('div', { class: 'note interrupted' }, icon('paused'), h('span', { text }));
    }
    return null;
  }

  actions(msg) {
    const bar = h('div', { class: 'msg-actions' });
    const siblings = msg.siblings || [msg.id];
    if (siblings.length > 1) {
      const i = siblings.indexOf(msg.id);
      bar.append(h('div', { class: 'branch-nav' },
        button('prev', 'chevleft', t('previous'), i <= 0),
        h('span', { class: 'branch-pos', 'aria-label': t('version', { i: i + 1, n: siblings.length }),
          text: `${i + 1}/${siblings.length}` }),
        button('next', 'chevright', t('next'), i >= siblings.length - 1)));
    }
    bar.append(button('copy', 'copy', t('copy')));
    if (msg.role === 'user') bar.append(button('edit', 'edit', t('edit')));
    else {
      bar.append(button('regenerate', 'regenerate', t('regenerate')));
      if (msg.model) bar.append(h('span', { class: 'msg-model', text: msg.model }));
    }
    return bar;
  }

  scheduleLazyCheck() {
    if (this.pending.length) this.checkFrame ||= requestAnimationFrame(() => this.checkLazy());
  }

  /** Queue the plain-text messages within LAZY_MARGIN_PX of the viewport for Markdown. */
  checkLazy() {
    this.checkFrame = 0;
    // While a reply streams the view creeps down a line at a time: nothing new comes near.
    const at = this.thread.scrollTop;
    if (!this.lazyStale && Math.abs(at - this.checkedAt) < LAZY_MARGIN_PX / 4) return;
    this.lazyStale = false;
    this.checkedAt = at;
    const view = this.thread.getBoundingClientRect();
    const top = view.top - LAZY_MARGIN_PX;
    const bottom = view.bottom + LAZY_MARGIN_PX;
    // pending is in page order: binary search for the first one reaching the zone.
    let lo = 0;
    let hi = this.pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.pending[mid].getBoundingClientRect().bottom < top) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < this.pending.length && this.pending[end].getBoundingClientRect().top <= bottom) {
      end += 1;
    }
    if (end === lo) return;
    this.queue.push(...this.pending.splice(lo, end - lo));
    this.queueFrame ||= requestAnimationFrame(() => this.drainQueue());
  }

  /** Render queued messages a few milliseconds per frame, so scrolling never stalls. */
  drainQueue() {
    this.queueFrame = 0;
    const until = performance.now() + LAZY_BUDGET_MS;
    while (this.queue.length && performance.now() < until) {
      const body = this.queue.shift().querySelector('.markdown.lazy');
      if (!body) continue;
      body.replaceChildren(renderMarkdown(body.textContent));
      body.classList.remove('lazy');
    }
    if (this.queue.length) this.queueFrame = requestAnimationFrame(() => this.drainQueue());
    else {
      this.lazyStale = true; // rendered Markdown changes heights: look again
      this.scheduleLazyCheck();
    }
  }

  onScroll() {
    const { scrollTop, scrollHeight, clientHeight } = this.thread;
    this.stick = scrollHeight - scrollTop - clientHeight < NEAR_BOTTOM_PX;
    if (this.stick) this.pinnedAt = scrollTop;
    this.jump.hidden = this.stick;
  }

  scrollToBottom(smooth) {
    this.thread.scrollTo({ top: this.thread.scrollHeight, behavior: smooth ? 'smooth' : 'instant' });
    this.stick = true;
    this.pinnedAt = this.thread.scrollTop;
    this.jump.hidden = true;
  }

  /** Still at the bottom where we put it? (The scroll event telling otherwise may be late.) */
  following() {
    return this.stick && Math.abs(this.thread.scrollTop - this.pinnedAt) <= 2;
  }

  onClick(event) {
    const target = event.target.closest('[data-action]');
    if (!target || !this.list.contains(target)) return;
    const article = target.closest('article.msg');
    const msg = article && this.nodes.get(article.dataset.id)?.msg;
    const action = target.dataset.action;
    if (action === 'copy-code') {
      copyText(target.closest('.code-block').querySelector('code').textContent, target, t('copyFailed'));
      return;
    }
    if (action === 'expand') {
      const open = target.getAttribute('aria-expanded') !== 'true';
      article.querySelector('.bubble').classList.toggle('collapsed', !open);
      target.setAttribute('aria-expanded', String(open));
      target.textContent = t(open ? 'showLess' : 'showMore');
      return;
    }
    if (!msg) return;
    if (action === 'copy') copyText(msg.content, target, t('copyFailed'));
    else if (action === 'edit') this.startEdit(article, msg);
    else if (action === 'regenerate' || action === 'retry') this.app.regenerate(msg);
    else if (action === 'cite') this.app.knowledge.openSource(msg, Number(target.dataset.n));
    else if (action === 'prev') this.app.switchBranch(msg, -1);
    else if (action === 'next') this.app.switchBranch(msg, +1);
  }

  startEdit(article, msg) {
    if (article.classList.contains('editing')) return;
    const bubble = article.querySelector('.bubble');
    const input = h('textarea', { class: 'edit-input', rows: '3', 'aria-label': t('edit') });
    input.value = msg.content;
    const stop = () => {
      article.classList.remove('editing');
      editor.replaceWith(bubble);
    };
    const submit = () => {
      const text = input.value.trim();
      if (!text) return;
      stop();
      this.app.editMessage(msg, text);
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        stop();
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    const editor = h('div', { class: 'editor' }, input,
      h('div', { class: 'editor-actions' },
        h('button', { type: 'button', class: 'btn', text: t('cancel'), onclick: stop }),
        h('button', { type: 'button', class: 'btn primary', dataset: { action: 'save-edit' },
          text: t('send'), onclick: submit })));
    article.classList.add('editing');
    bubble.replaceWith(editor);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }
}

const CARET_CONTAINERS = new Set(['OL', 'UL', 'LI', 'BLOCKQUOTE']);
const CARET_TARGETS = /^(OL|UL|LI|P|BLOCKQUOTE|H[1-6])$/;

/** Put the streaming caret at the end of the text, inside the last paragraph or item. */
function markCaret(body) {
  body.querySelector('.caret')?.classList.remove('caret');
  let node = body.lastElementChild;
  while (node && CARET_CONTAINERS.has(node.tagName)
         && CARET_TARGETS.test(node.lastElementChild?.tagName ?? '')) {
    node = node.lastElementChild;
  }
  if (node && CARET_TARGETS.test(node.tagName)) node.classList.add('caret');
}

function button(action, iconName, label, disabled = false) {
  return h('button', {
    type: 'button', class: 'icon-btn small', dataset: { action },
    'aria-label': label, title: label, disabled,
  }, icon(iconName));
}

/** A stored reply's error in the user's language when its code is known, else as stored. */
function storedError(msg) {
  const detail = msg.error_detail;
  if (!detail?.code) return msg.error || '';
  return errorText({ code: detail.code, message: msg.error || '', detail });
}

/** A user message; a very long one (a paste) is collapsed, with a button to expand it. */
function userBubble(content) {
  const long = content.length > LONG_CHARS || content.split('\n', LONG_LINES + 1).length > LONG_LINES;
  const bubble = h('div', { class: long ? 'bubble collapsed' : 'bubble', text: content });
  if (!long) return [bubble];
  return [bubble, h('button', {
    type: 'button', class: 'btn small expand', dataset: { action: 'expand' },
    'aria-expanded': 'false', text: t('showMore'),
  })];
}
