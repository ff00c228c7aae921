// The application: routing (#/c/<id>), sending and streaming, branches, models, settings.

import { Account } from './account.js';
import { ApiError, api } from './api.js';
import { Attachments } from './attachments.js';
import { showAccount, signIn } from './auth.js';
import { Chat } from './chat.js';
import { h, icon, mountIcons, toast } from './dom.js';
import {
  applyI18n, errorText, languagePreference, setLanguagePreference, t,
} from './i18n.js';
import { Imports } from './imports.js';
import { Knowledge } from './knowledge.js';
import { RemoteReply } from './remote.js';
import { WebSearchToggle } from './websearch.js';
import { preloadMath } from './markdown.js';
import { Sidebar } from './sidebar.js';

const $ = (id) => document.getElementById(id);
const NEW_CHAT_KEY = 'causerie.newChat'; // model, system prompt, temperature for new chats
const THEME_KEY = 'causerie.theme';
const DRAFT_PREFIX = 'causerie.draft.';
const OFFLINE_POLL_MS = 2000; // how often an unreachable server is tried again
const SETTLE_TRIES = 20; // after Stop, how long (x 100 ms) to wait for the server to store it

class App {
  constructor() {
    this.models = [];
    this.defaultModel = null;
    this.conv = null; // the conversation on screen, with .messages (its active branch)
    this.streams = new Map(); // conversation id -> reply being streamed
    this.epoch = 0; // bumped by each change of what is shown; late answers of older ones lose
    this.newChat = readJson(NEW_CHAT_KEY, {});
    this.input = $('input');
    this.chat = new Chat(this);
    this.sidebar = new Sidebar(this);
    this.knowledge = new Knowledge(this);
    this.attachments = new Attachments(this);
    this.webSearch = new WebSearchToggle(this);
    this.imports = new Imports(this);
    this.account = new Account(this);
    this.remote = new RemoteReply(this); // a reply streaming in another tab or replica
  }

  async start() {
    applyTheme(localStorage.getItem(THEME_KEY) || 'system');
    setLanguagePreference(languagePreference());
    mountIcons();
    const auth = await signIn();
    showAccount(auth).then((me) => me && this.account.show(me)).catch((err) => this.showError(err));
    this.bind();
    window.addEventListener('hashchange', () => this.route());
    // Models, the list and the open conversation load side by side.
    const models = this.loadModels().then(() => this.updateModelButton());
    await Promise.all([models, this.sidebar.reload(), this.route(), this.webSearch.load()]);
    document.body.dataset.ready = '1';
    // Compiling KaTeX takes a while: do it now, not when the first formula scrolls in.
    requestIdleCallback(preloadMath, { timeout: 5000 });
  }

  currentId() {
    const match = location.hash.match(/^#\/c\/([\w-]+)$/);
    return match ? match[1] : null;
  }

  isLive(messageId) {
    for (const s of this.streams.values()) if (s.reply?.id === messageId) return true;
    return this.remote.isWatched(messageId);
  }

  // -- navigation ----------------------------------------------------------------------------

  async route() {
    const id = this.currentId();
    if (this.conv && this.conv.id === id) {
      this.sidebar.setActive(id);
      return;
    }
    let fresh = null;
    if (id) {
      try {
        fresh = await this.knowledge.decorate(await api.get(id));
      } catch (err) {
        if (err instanceof TypeError) {
          // Server unreachable: keep the conversation on screen (and where messages go),
          // say so, and open the one asked for once the server answers again.
          this.sidebar.setActive(this.conv?.id ?? null);
          this.goneOffline();
          return;
        }
        this.showError(err.status === 404 ? new Error(t('notFound')) : err);
        history.replaceState(null, '', '#/');
      }
    }
    if (this.currentId() !== (fresh?.id ?? null)) return; // navigated again meanwhile
    this.sidebar.setActive(fresh?.id ?? null);
    this.saveDraft();
    this.chat.clear();
    this.attachments.clear();
    this.conv = fresh;
    this.webSearch.show(fresh);
    this.remote.check(fresh);
    if (!fresh) {
      this.knowledge.showAttached([]);
      this.showConversation();
      return;
    }
    this.conv.outOfView = this.conv.messages.at(-1)?.out_of_view || 0;
    this.attachStream();
    this.showConversation({ scroll: true });
    performance.mark('causerie:conversation-shown'); // read by the rendering benchmark
  }

  /** A reply still streaming from an earlier visit continues on screen. */
  attachStream() {
    const stream = this.conv && this.streams.get(this.conv.id);
    if (!stream) return;
    this.conv.messages = stream.messages;
  }

  showConversation({ scroll = false } = {}) {
    this.chat.render(this.conv?.messages ?? [], { scroll });
    this.updateModelButton();
    this.updateComposer();
    this.restoreDraft();
    this.showContextNote();
    document.title = this.conv?.title ? `${this.conv.title} · Causerie` : 'Causerie';
    this.input.focus({ preventScroll: true });
  }

  goNewChat() {
    this.closeSidebarOnPhone();
    if (location.hash === '#/' || location.hash === '') this.route();
    else location.hash = '#/';
  }

  onConversationChanged(conv) {
    if (this.conv?.id === conv.id) {
      Object.assign(this.conv, conv);
      document.title = conv.title ? `${conv.title} · Causerie` : 'Causerie';
      this.updateModelButton();
    }
  }

  onConversationHidden(id) {
    if (this.conv?.id === id) this.goNewChat();
  }

  // -- sending and streaming ----------------------------------------------------------------

  async submit() {
    const content = this.input.value;
    if (!this.canSend()) return;
    this.input.value = '';
    this.autosize();
    this.clearDraft();
    let conv;
    try {
      conv = await this.ensureConversation();
    } catch (err) {
      this.input.value = content;
      this.showError(err);
      return;
    }
    const base = conv.messages.filter((m) => !m.pending);
    const body = { content, ...this.webSearch.fields() }; // per message, from the toggle
    this.attachments.sent();
    await this.runStream(conv, base, (opts) => api.send(conv.id, body, opts), content);
  }

  /** The conversation on screen; a new chat is created (and listed) when there is none. */
  async ensureConversation() {
    if (this.conv) return this.conv;
    const conv = await api.create(this.newChatFields());
    conv.messages = [];
    this.clearDraft(); // what is being typed moves with the chat
    this.conv = conv;
    history.pushState(null, '', `#/c/${conv.id}`);
    this.saveDraft();
    this.sidebar.upsert(conv);
    this.sidebar.setActive(conv.id);
    return conv;
  }

  /** Something to send, no reply streaming, and no attached file still being read. */
  canSend() {
    return Boolean(this.input.value.trim()) && !this.busy() && !this.attachments.busy();
  }

  /** Send an edited user message as a new branch beside the original. */
  async editMessage(msg, content) {
    const conv = this.conv;
    if (!conv || this.streams.has(conv.id)) return;
    const index = conv.messages.findIndex((m) => m.id === msg.id);
    const base = conv.messages.slice(0, index);
    // parent_id: null (the first message) asks the server for a new first message.
    const body = { content, parent_id: msg.parent_id };
    await this.runStream(conv, base, (opts) => api.send(conv.id, body, opts));
  }

  async regenerate(msg) {
    const conv = this.conv;
    if (!conv || this.streams.has(conv.id)) return;
    const index = conv.messages.findIndex((m) => m.id === msg.id);
    const base = conv.messages.slice(0, index);
    await this.runStream(conv, base, (opts) => api.regenerate(conv.id, msg.id, opts));
  }

  async runStream(conv, base, start, draft = null) {
    const stream = {
      conv, controller: new AbortController(), reply: null, messages: base.slice(),
    };
    this.streams.set(conv.id, stream);
    this.epoch += 1;
    this.updateComposer();
    const shown = () => this.conv?.id === conv.id;
    conv.outOfView = 0; // each turn says anew how much of the history the model read
    if (shown()) this.showContextNote();
    const onEvent = (kind, data) => {
      if (kind === 'context') {
        conv.outOfView = data.dropped;
        if (shown()) this.showContextNote();
      } else if (kind === 'message') {
        stream.messages = [...stream.messages, { ...data, siblings: [data.id] }];
        if (data.role === 'assistant') stream.reply = stream.messages.at(-1);
        conv.messages = stream.messages;
        if (shown()) this.chat.render(conv.messages);
      } else if (stream.reply && this.knowledge.onEvent(kind, data, stream.reply)) {
        // Sources and checked citations show once the reply is complete.
      } else if (kind === 'delta' && stream.reply) {
        stream.reply.content += data.content;
        if (shown()) this.chat.update(stream.reply);
      } else if (kind === 'error' && stream.reply) {
        stream.reply.status = 'error';
        stream.reply.error = data.error ? errorText(new ApiError(400, data)) : t('errorTitle');
      } else if (kind === 'done' && stream.reply) {
        Object.assign(stream.reply, data);
      }
    };
    try {
      await start({ signal: stream.controller.signal, onEvent });
    } catch (err) {
      if (!stream.reply) {
        // Nothing was stored: give the text back so that nothing typed is lost.
        if (draft && shown() && !this.input.value) this.input.value = draft;
        this.showError(err);
      } else if (err.name === 'AbortError') {
        stream.reply.status = 'interrupted';
      } else {
        stream.reply.status = 'error';
        stream.reply.error = err instanceof TypeError ? t('connectionLost') : errorText(err);
        if (err instanceof TypeError) this.goneOffline();
      }
    } finally {
      this.streams.delete(conv.id);
    }
    if (shown()) {
      this.chat.render(conv.messages);
      this.updateComposer();
      if (stream.reply?.status === 'complete') announce(stream.reply.content);
    }
    await this.settle(conv, stream);
  }

  /** Read back what the server stored (sibling lists, final status) and show it. */
  async settle(conv, stream) {
    const epoch = ++this.epoch;
    for (let i = 0; i < SETTLE_TRIES; i += 1) {
      let fresh;
      try {
        fresh = await this.knowledge.decorate(await api.get(conv.id));
      } catch {
        return; // deleted meanwhile, or the server is gone: keep what is on screen
      }
      const stored = stream.reply && fresh.messages.find((m) => m.id === stream.reply.id);
      // After Stop the server notices the closed connection a moment later.
      if (stored && stored.status === 'streaming' && i < SETTLE_TRIES - 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.sidebar.upsert(fresh);
      if (epoch !== this.epoch) return; // the user moved on (another branch, say)
      Object.assign(conv, fresh);
      if (this.conv?.id === conv.id) {
        this.conv = conv;
        this.chat.render(conv.messages);
        document.title = conv.title ? `${conv.title} · Causerie` : 'Causerie';
      }
      return;
    }
  }

  stop() {
    const stream = this.conv && this.streams.get(this.conv.id);
    if (!stream) {
      this.remote.stop();
      return;
    }
    // Closing the stream stops it where a proxy passes the disconnect on; the request
    // stops it whichever replica streams it. A failed request changes nothing shown.
    if (stream.reply) api.stop(stream.conv.id, stream.reply.id).catch(() => {});
    stream.controller.abort();
  }

  async switchBranch(msg, step) {
    const conv = this.conv;
    const siblings = msg.siblings || [];
    const target = siblings[siblings.indexOf(msg.id) + step];
    if (!conv || !target || this.streams.has(conv.id)) return;
    const epoch = ++this.epoch;
    try {
      const fresh = await api.branch(conv.id, target);
      if (epoch !== this.epoch) return;
      Object.assign(conv, fresh);
      if (this.conv === conv) this.chat.render(conv.messages);
    } catch (err) {
      this.showError(err);
    }
  }

  // -- composer ----------------------------------------------------------------------------

  updateComposer() {
    const busy = this.busy();
    $('send').hidden = busy;
    $('stop').hidden = !busy;
    $('send').disabled = !this.canSend();
    document.body.classList.toggle('busy', busy);
  }

  /** A reply of the open conversation is being generated, here or elsewhere. */
  busy() {
    return this.streams.has(this.conv?.id) || this.remote.busy(this.conv?.id);
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
    $('send').disabled = !this.canSend();
  }

  draftKey() {
    return DRAFT_PREFIX + (this.conv?.id ?? 'new');
  }

  saveDraft() {
    if (this.input.value.trim()) localStorage.setItem(this.draftKey(), this.input.value);
    else localStorage.removeItem(this.draftKey());
  }

  restoreDraft() {
    this.input.value = localStorage.getItem(this.draftKey()) ?? '';
    this.autosize();
  }

  clearDraft() {
    localStorage.removeItem(this.draftKey());
  }

  // -- models and settings -----------------------------------------------------------------

  async loadModels() {
    try {
      const list = await api.models();
      // Embedding models are listed too (type is our extension); they cannot chat.
      this.models = list.data.filter((m) => m.type !== 'embedding').map((m) => m.id);
      this.defaultModel = this.models[0] ?? null;
    } catch (err) {
      this.showError(err);
    }
  }

  /** The model this chat answers with (new chats: the last one picked). */
  currentModel() {
    if (this.conv) return this.conv.model || this.defaultModel;
    const remembered = this.newChat.model;
    return this.models.includes(remembered) ? remembered : this.defaultModel;
  }

  newChatFields() {
    const fields = { model: this.currentModel(), ...this.webSearch.fields() };
    if (this.newChat.system_prompt) fields.system_prompt = this.newChat.system_prompt;
    if (this.newChat.temperature != null) fields.temperature = this.newChat.temperature;
    return fields;
  }

  updateModelButton() {
    const model = this.currentModel();
    const known = !model || !this.models.length || this.models.includes(model);
    $('model-name').textContent = known ? (model ?? '…') : t('modelUnavailable', { model });
    const menu = $('model-menu');
    menu.replaceChildren(...this.models.map((name) => h('li', {
      role: 'option', tabindex: '-1', 'aria-selected': String(name === model),
      dataset: { model: name },
    }, h('span', { class: 'model-option-name', text: name }),
    name === this.defaultModel ? h('span', { class: 'muted', text: t('defaultModelSuffix') }) : null,
    name === model ? icon('check') : null)));
  }

  async pickModel(name) {
    this.toggleModelMenu(false);
    this.newChat.model = name; // the next new chat starts with the last model picked
    localStorage.setItem(NEW_CHAT_KEY, JSON.stringify(this.newChat));
    if (this.conv) {
      try {
        const updated = await api.update(this.conv.id, { model: name });
        this.onConversationChanged(updated);
      } catch (err) {
        this.showError(err);
      }
    }
    this.updateModelButton();
  }

  toggleModelMenu(open) {
    const menu = $('model-menu');
    if (!open && menu.contains(document.activeElement)) $('model-btn').focus(); // back to the opener
    menu.hidden = !open;
    $('model-btn').setAttribute('aria-expanded', String(open));
    if (open) (menu.querySelector('[aria-selected="true"]') || menu.firstChild)?.focus();
  }

  openConversationSettings() {
    const source = this.conv ?? this.newChat;
    $('conv-settings-hint').textContent = this.conv
      ? t('settingsForThisChat') : t('settingsForNewChats');
    $('system-prompt').value = source.system_prompt ?? '';
    const temperature = source.temperature;
    $('temperature-default').checked = temperature == null;
    $('temperature').value = String(temperature ?? 0.7);
    $('temperature').disabled = temperature == null;
    $('temperature-value').textContent = temperature == null ? '–' : String(temperature);
    $('conv-settings').showModal();
  }

  async saveConversationSettings() {
    const changes = {
      system_prompt: $('system-prompt').value.trim() || null,
      temperature: $('temperature-default').checked ? null : Number($('temperature').value),
    };
    if (!this.conv) {
      Object.assign(this.newChat, changes);
      localStorage.setItem(NEW_CHAT_KEY, JSON.stringify(this.newChat));
      return;
    }
    try {
      this.onConversationChanged(await api.update(this.conv.id, changes));
    } catch (err) {
      this.showError(err);
    }
  }

  // -- misc -------------------------------------------------------------------------------

  /** The server stopped answering: a banner until /health answers again, then catch up. */
  goneOffline() {
    $('offline').hidden = false;
    if (this.offlineTimer) return;
    this.offlineTimer = setInterval(async () => {
      try {
        if (!(await fetch('/health', { cache: 'no-store' })).ok) return;
      } catch {
        return; // still down
      }
      clearInterval(this.offlineTimer);
      this.offlineTimer = null;
      $('offline').hidden = true;
      await this.route(); // the conversation asked for meanwhile, if any
      this.sidebar.reload();
    }, OFFLINE_POLL_MS);
  }

  showError(err) {
    if (err instanceof TypeError) this.goneOffline();
    if (err?.status === 401) {
      location.reload(); // signed out meanwhile (session expired): back to the login form
      return;
    }
    toast(errorText(err), { kind: 'error', timeout: 8000, detail: err?.message });
  }

  /** Says, discreetly, that the model no longer reads the start of this conversation. */
  showContextNote() {
    const note = document.getElementById('context-note');
    const n = this.conv?.outOfView || 0;
    note.hidden = !n;
    note.textContent = n ? t('outOfView', { n }) : '';
  }

  openSidebar(open) {
    document.body.classList.toggle('sidebar-open', open);
    $('backdrop').hidden = !open;
  }

  closeSidebarOnPhone() {
    this.openSidebar(false);
  }

  bind() {
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      this.saveDraft();
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    $('stop').addEventListener('click', () => this.stop());
    $('skip-link').addEventListener('click', (event) => {
      event.preventDefault(); // the hash is the router's: #input is not a conversation
      this.input.focus();
    });
    document.addEventListener('keydown', (event) => {
      // Esc in a dialog only closes the dialog (the browser does that).
      if (event.key !== 'Escape' || document.querySelector('dialog[open]')) return;
      if (!$('model-menu').hidden) this.toggleModelMenu(false);
      else if (!this.sidebar.menu.hidden) this.sidebar.closeMenu();
      else this.stop();
    });
    $('new-chat').addEventListener('click', () => this.goNewChat());
    $('new-chat-top').addEventListener('click', () => this.goNewChat());
    $('open-sidebar').addEventListener('click', () => this.openSidebar(true));
    $('close-sidebar').addEventListener('click', () => this.openSidebar(false));
    $('backdrop').addEventListener('click', () => this.openSidebar(false));

    $('model-btn').addEventListener('click', () => this.toggleModelMenu($('model-menu').hidden));
    $('model-menu').addEventListener('click', (event) => {
      const option = event.target.closest('[data-model]');
      if (option) this.pickModel(option.dataset.model);
    });
    $('model-menu').addEventListener('keydown', (event) => {
      const options = [...$('model-menu').children];
      const i = options.indexOf(document.activeElement);
      if (event.key === 'ArrowDown') options[Math.min(i + 1, options.length - 1)]?.focus();
      else if (event.key === 'ArrowUp') options[Math.max(i - 1, 0)]?.focus();
      else if (event.key === 'Enter' && i >= 0) this.pickModel(options[i].dataset.model);
      else return;
      event.preventDefault();
    });
    document.addEventListener('click', (event) => {
      if (!event.target.closest('.model-picker')) this.toggleModelMenu(false);
    });

    $('open-conv-settings').addEventListener('click', () => this.openConversationSettings());
    $('conv-settings-cancel').addEventListener('click', () => $('conv-settings').close());
    $('conv-settings').addEventListener('close', () => {
      if ($('conv-settings').returnValue === 'save') this.saveConversationSettings();
      $('conv-settings').returnValue = '';
    });
    $('temperature-default').addEventListener('change', () => {
      const off = $('temperature-default').checked;
      $('temperature').disabled = off;
      $('temperature-value').textContent = off ? '–' : $('temperature').value;
    });
    $('temperature').addEventListener('input', () => {
      $('temperature-value').textContent = $('temperature').value;
    });

    $('open-prefs').addEventListener('click', () => {
      $('pref-lang').value = languagePreference();
      $('pref-theme').value = localStorage.getItem(THEME_KEY) || 'system';
      $('prefs').showModal();
    });
    $('pref-lang').addEventListener('change', () => {
      setLanguagePreference($('pref-lang').value);
      this.relabel();
    });
    $('pref-theme').addEventListener('change', () => {
      const theme = $('pref-theme').value;
      localStorage.setItem(THEME_KEY, theme);
      applyTheme(theme);
    });
  }

  /** Redraw what carries translated text after a language switch. */
  relabel() {
    applyI18n();
    this.sidebar.render();
    this.chat.render(this.conv?.messages ?? []);
    this.updateModelButton();
  }
}

/** Read a finished reply to screen readers (the live region gets it once, whole). */
function announce(text) {
  const region = $('announcer');
  region.textContent = '';
  // A fresh text node on the next frame: screen readers skip a region set twice at once.
  requestAnimationFrame(() => { region.textContent = `${t('replyFinished')} ${text}`; });
}

function applyTheme(theme) {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function readJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

const app = new App();
window.causerie = app; // for the browser tests and the rendering benchmark
app.start();
