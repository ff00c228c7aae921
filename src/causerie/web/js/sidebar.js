// The conversation list: newest first, grouped by day, searchable, paged as you scroll,
// with rename and delete (undoable for a few seconds, then really deleted).

import { api } from './api.js';
import { h, icon, undoable } from './dom.js';
import { language, t } from './i18n.js';

const PAGE = 30;
const SEARCH_DELAY_MS = 250;

export class Sidebar {
  constructor(app) {
    this.app = app;
    this.el = document.getElementById('sidebar');
    this.list = document.getElementById('conv-list');
    this.search = document.getElementById('search');
    this.menu = document.getElementById('conv-menu');
    this.items = [];
    this.cursor = null;
    this.hasMore = false;
    this.loading = null;
    this.query = '';
    this.generation = 0; // bumps on reload so that late pages of an old query are dropped
    this.deleting = new Set(); // ids of deletes that can still be undone
    this.menuFor = null;
    this.sentinel = h('div', { class: 'sentinel' });
    this.more = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { root: this.list, rootMargin: '200px 0px' });

    let timer = 0;
    this.search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setQuery(this.search.value.trim()), SEARCH_DELAY_MS);
    });
    this.search.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.search.value) {
        event.stopPropagation();
        this.search.value = '';
        this.setQuery('');
      }
    });
    this.list.addEventListener('click', (event) => this.onClick(event));
    this.menu.addEventListener('click', (event) => this.onMenu(event));
    this.menu.addEventListener('keydown', (event) => this.onMenuKey(event));
    document.addEventListener('click', (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target)
          && !event.target.closest('.conv-more')) this.closeMenu({ refocus: false });
    });
  }

  async setQuery(query) {
    if (query === this.query) return;
    this.query = query;
    await this.reload();
  }

  /** Start the list again from the newest conversation. */
  async reload() {
    this.generation += 1;
    this.items = [];
    this.cursor = null;
    this.hasMore = true;
    this.loading = null;
    await this.loadMore();
  }

  async loadMore() {
    if (this.loading) return this.loading;
    if (!this.hasMore) return undefined;
    const generation = this.generation;
    this.loading = (async () => {
      try {
        const page = await api.list({ cursor: this.cursor, q: this.query, limit: PAGE });
        if (generation !== this.generation) return;
        const known = new Set(this.items.map((c) => c.id));
        this.items.push(...page.data.filter((c) => !known.has(c.id)));
        this.cursor = page.next_cursor;
        this.hasMore = page.has_more;
      } catch (err) {
        this.hasMore = false;
        this.app.showError(err);
      } finally {
        if (generation === this.generation) this.loading = null;
      }
      this.render();
    })();
    return this.loading;
  }

  /** A conversation was created or changed: move it to the top with its new data. */
  upsert(conv) {
    if (this.query) {
      this.reload();
      return;
    }
    this.items = [conv, ...this.items.filter((c) => c.id !== conv.id)];
    this.render();
  }

  setActive(id) {
    for (const a of this.list.querySelectorAll('.conv')) {
      a.classList.toggle('active', a.dataset.id === id);
      if (a.dataset.id === id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  render() {
    const visible = this.items.filter((c) => !this.deleting.has(c.id));
    const groups = new Map();
    for (const conv of visible) {
      const label = dayLabel(new Date(conv.updated_at));
      if (!groups.has(label)) groups.set(label, []);
      groups.get(label).push(conv);
    }
    const nodes = [];
    for (const [label, convs] of groups) {
      nodes.push(h('section', { class: 'conv-group' },
        h('h3', { text: label }),
        convs.map((conv) => this.item(conv))));
    }
    if (!visible.length && !this.hasMore) {
      const text = this.query ? t('noResults', { q: this.query }) : t('noChats');
      nodes.push(h('p', { class: 'conv-empty', text }));
    }
    this.list.replaceChildren(...nodes, this.sentinel);
    this.setActive(this.app.currentId());
    this.more.unobserve(this.sentinel);
    if (this.hasMore) this.more.observe(this.sentinel);
  }

  item(conv) {
    const title = conv.title || t('untitled');
    return h('div', { class: 'conv', dataset: { id: conv.id } },
      h('a', { class: 'conv-link', href: `#/c/${conv.id}`, title, text: title }),
      h('button', {
        type: 'button', class: 'icon-btn small conv-more', 'aria-label': t('moreOptions'),
        title: t('moreOptions'), 'aria-haspopup': 'menu',
      }, icon('more')));
  }

  onClick(event) {
    const more = event.target.closest('.conv-more');
    if (more) {
      event.preventDefault();
      this.openMenu(more.closest('.conv').dataset.id, more);
      return;
    }
    if (event.target.closest('.conv-link')) this.app.closeSidebarOnPhone();
  }

  openMenu(id, anchor) {
    if (this.menuFor === id && !this.menu.hidden) {
      this.closeMenu();
      return;
    }
    this.menuFor = id;
    this.menuOpener = anchor; // focus goes back there when the menu closes
    anchor.setAttribute('aria-expanded', 'true');
    const box = anchor.getBoundingClientRect();
    this.menu.hidden = false;
    this.menu.style.top = `${Math.min(box.bottom + 4, window.innerHeight - this.menu.offsetHeight - 8)}px`;
    this.menu.style.left = `${Math.max(8, box.right - this.menu.offsetWidth)}px`;
    this.menu.querySelector('button').focus();
  }

  /** Close the menu; focus returns to its opener unless an action moves it elsewhere. */
  closeMenu({ refocus = true } = {}) {
    this.menu.hidden = true;
    this.menuFor = null;
    const opener = this.menuOpener;
    this.menuOpener = null;
    opener?.setAttribute('aria-expanded', 'false');
    if (refocus && opener?.isConnected) opener.focus();
  }

  /** Arrow keys, Home and End move between the items of the menu (role=menu). */
  onMenuKey(event) {
    const items = [...this.menu.querySelectorAll('[role="menuitem"]')];
    const i = items.indexOf(document.activeElement);
    const next = {
      ArrowDown: (i + 1) % items.length,
      ArrowUp: (i - 1 + items.length) % items.length,
      Home: 0,
      End: items.length - 1,
    }[event.key];
    if (next === undefined) {
      if (event.key === 'Tab') this.closeMenu({ refocus: false });
      return;
    }
    event.preventDefault();
    items[next].focus();
  }

  onMenu(event) {
    const button = event.target.closest('[data-act]');
    if (!button || !this.menuFor) return;
    const id = this.menuFor;
    this.closeMenu({ refocus: button.dataset.act !== 'rename' }); // rename focuses its field
    if (button.dataset.act === 'rename') this.startRename(id);
    else if (button.dataset.act === 'delete') this.remove(id);
  }

  startRename(id) {
    const row = this.list.querySelector(`.conv[data-id="${CSS.escape(id)}"]`);
    const conv = this.items.find((c) => c.id === id);
    if (!row || !conv) return;
    const input = h('input', { class: 'rename', type: 'text', 'aria-label': t('rename'),
      maxlength: '500' });
    input.value = conv.title;
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (!save || !title || title === conv.title) {
        this.render();
        return;
      }
      try {
        const updated = await api.update(id, { title });
        Object.assign(conv, updated);
        this.app.onConversationChanged(updated);
      } catch (err) {
        this.app.showError(err);
      }
      this.render();
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        finish(true);
      } else if (event.key === 'Escape') {
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener('blur', () => finish(true));
    row.replaceChildren(input);
    row.classList.add('renaming');
    input.focus();
    input.select();
  }

  /** Hide now; delete for real when the undo window closes (or the page goes away). */
  remove(id) {
    const commit = async () => {
      if (!this.deleting.has(id)) return;
      this.deleting.delete(id);
      try {
        await api.remove(id);
      } catch (err) {
        if (err.status !== 404) {
          this.app.showError(err);
          this.render();
          return;
        }
      }
      this.items = this.items.filter((c) => c.id !== id);
      this.render();
    };
    this.deleting.add(id);
    this.render();
    this.app.onConversationHidden(id);
    undoable(t('deleted'), t('undo'), {
      commit,
      unload: () => api.removeOnUnload(id),
      undo: () => {
        this.deleting.delete(id);
        this.render();
      },
    });
  }
}

function dayLabel(date) {
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const now = new Date();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const days = Math.round((today - day) / 86_400_000);
  if (days <= 0) return t('today');
  if (days === 1) return t('yesterday');
  const options = { weekday: 'long', day: 'numeric', month: 'long' };
  if (day.getFullYear() !== today.getFullYear()) options.year = 'numeric';
  const label = new Intl.DateTimeFormat(language(), options).format(day);
  return label.charAt(0).toUpperCase() + label.slice(1);
}
