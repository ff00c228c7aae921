// UI strings in English and French; the language follows the browser unless the user picks one.

const NNBSP = '\u202f'; // French puts a narrow no-break space before ? ! : ;

const STRINGS = {
  en: {
    conversations: 'Conversations',
    newChat: 'New chat',
    searchChats: 'Search chats',
    settings: 'Settings',
    openSidebar: 'Open sidebar',
    closeSidebar: 'Close sidebar',
    model: 'Model',
    chatSettings: 'Chat settings',
    heroTitle: 'How can I help you today?',
    placeholder: 'Message Causerie',
    message: 'Message',
    send: 'Send',
    stop: 'Stop',
    jumpToLatest: 'Jump to latest',
    disclaimer: 'Answers come from a local model and can be wrong.',
    systemPrompt: 'System prompt',
    systemPromptPlaceholder: 'Instructions the model follows in this chat',
    temperature: 'Temperature',
    modelDefault: 'Model default',
    cancel: 'Cancel',
    save: 'Save',
    language: 'Language',
    languageAuto: 'Browser language',
    theme: 'Theme',
    themeSystem: 'System',
    themeLight: 'Light',
    themeDark: 'Dark',
    done: 'Done',
    rename: 'Rename',
    delete: 'Delete',
    moreOptions: 'More options',
    today: 'Today',
    yesterday: 'Yesterday',
    untitled: 'New chat',
    noResults: 'No chats match “{q}”.',
    noChats: 'No chats yet.',
    loading: 'Loading…',
    deleted: 'Chat deleted.',
    undo: 'Undo',
    copy: 'Copy',
    copied: 'Copied',
    copyCode: 'Copy code',
    edit: 'Edit',
    regenerate: 'Regenerate',
    retry: 'Retry',
    previous: 'Previous version',
    next: 'Next version',
    version: 'Version {i} of {n}',
    interrupted: 'Stopped: this answer is incomplete.',
    incomplete: 'This answer was not finished.',
    errorTitle: 'Something went wrong',
    cutOff: 'The answer was cut off',
    connectionLost: 'The connection to the server was lost.',
    settingsForNewChats: 'Used for new chats from now on.',
    settingsForThisChat: 'Applies to this chat only.',
    defaultModelSuffix: '(default)',
    modelUnavailable: '{model} (unavailable)',
    image: 'Image: {alt}',
    notFound: 'This chat does not exist any more.',
    renamed: 'Chat renamed.',
    signIn: 'Sign in',
    signInTitle: 'Sign in to Causerie',
    userName: 'Name or email',
    password: 'Password',
    signedInAs: 'Signed in as',
    logOut: 'Log out',
    // Knowledge (knowledge.js)
    documents: 'Documents', collections: 'Collections', newCollection: 'New collection name',
    create: 'Create', upload: 'Add files', useHere: 'Answer from it in this chat',
    addUrl: 'Add from URL', urlPlaceholder: 'https://… (web page or file)',
    close: 'Close', remove: 'Delete', sources: 'Sources', page: 'page',
    unsupported: 'Not supported by the sources', queued: 'waiting', running: 'indexing',
    succeeded: 'done', failed: 'failed', cancelled: 'cancelled', duplicate: 'already there',
    reindexed: 're-indexed', empty: 'No collection yet.', passage: 'Cited passage',
    grounded: 'Answers from', docs: 'documents',
    // Import and export (imports.js)
    importExport: 'Import and export', importKind: 'Export to import',
    importChatgpt: 'ChatGPT export (ZIP)', importOpenwebui: 'Open WebUI chats (JSON)',
    importCauserie: 'Causerie export (ZIP)', importFile: 'Import a file',
    exportMine: 'Export my data', importRunning: 'importing…',
    importAdded: 'new conversations:', importUpdated: 'updated:', importMessages: 'messages:',
    importUnchanged: 'already imported:', importSkipped: 'skipped:',
    importCancel: 'Stop the import', importCancelled: 'stopped; what was imported is kept (import the file again for the rest)',
    importRestored: 'restored:', importInstance: 'Whole instance export (ZIP, admin)',
    exportInstance: 'Export the whole instance',
    outOfView: 'Earlier messages ({n}) are out of the model’s view: it reads the latest ones.',
    // Server errors by their stable code ({…} from the error body); the server's text is the detail.
    'error.message_too_long': 'This message is too long for the model: about {tokens} tokens ({chars} characters), for at most {limit}. Shorten it or attach it as a document.',
    'error.context_length_exceeded': 'The conversation is too long for the model.',
    'error.unreachable': 'The server cannot be reached. Check that it is running.',
    offline: 'The server cannot be reached. Trying again…',
    'error.invalid_login': 'Wrong user name or password.',
    'error.too_many_login_attempts': 'Too many failed sign-ins. Try again {when}.',
    'error.empty_document': '“{name}” is empty.',
    'error.content_mismatch': '“{name}” is labelled {label}, but its content is not a {label} file.',
    'error.unsupported_archive': '“{name}” is a zip archive, not a supported document.',
    'error.no_text': 'No text could be extracted from “{name}”.',
    // Account and administration (account.js)
    changePassword: 'Change password', currentPassword: 'Current password',
    newPassword: 'New password', passwordChanged: 'Password changed. Your other sessions are signed out.',
    apiKeys: 'API keys', keyName: 'Key name', createKey: 'Create a key',
    keyShownOnce: 'Copy this key now: it will not be shown again.', revoke: 'Revoke',
    confirmRevoke: 'Revoke for good?', revoked: 'revoked', users: 'Users', role: 'Role',
    roleUser: 'User', admin: 'Administrator', requestsPerMinute: 'Requests / min',
    tokensPerDay: 'Tokens / day', requests_per_minute: 'Requests per minute',
    tokens_per_day: 'Tokens per day', usage30: 'Tokens (30 days)', actions: 'Actions',
    newUser: 'New user', enable: 'Enable', disable: 'Disable', resetPassword: 'Reset password',
    passwordReset: 'password reset, sessions ended.', saved: 'saved.', userCreated: 'created.',
    'error.wrong_password': 'The current password is wrong.',
    'error.password_too_short': 'The password needs at least 8 characters.',
    // Everyday (chat.js, dom.js, knowledge.js)
    showMore: 'Show more', showLess: 'Show less', confirmDelete: 'Delete for good?',
    skipToMessage: 'Skip to the message box', replyFinished: 'Reply:',
    'docCount.one': '{n} document', 'docCount.other': '{n} documents',
    copyFailed: 'Copying failed: select the text and press Ctrl+C.',
    // Web search (websearch.js, knowledge.js)
    searchWeb: 'Search the web', unreadPages: 'Pages that could not be read',
    webSource: 'web page', openPage: 'Open the page',
    // Files attached from the composer (attachments.js), undo in Documents (knowledge.js)
    attachFiles: 'Attach files', attachedFiles: 'Attached files', chatFiles: 'Chat files',
    uploading: 'uploading…', indexingPct: 'indexing {pct}', ready: 'ready',
    removeFile: 'Remove {name}', documentsHint: 'Documents: collections and files the chats answer from',
    documentDeleted: '“{name}” deleted.', failedBecause: 'failed: {reason}',
  },
  fr: {
    conversations: 'Discussions',
    newChat: 'Nouvelle discussion',
    searchChats: 'Rechercher',
    settings: 'Paramètres',
    openSidebar: 'Ouvrir le panneau',
    closeSidebar: 'Fermer le panneau',
    model: 'Modèle',
    chatSettings: 'Réglages de la discussion',
    heroTitle: `Comment puis-je vous aider${NNBSP}?`,
    placeholder: 'Écrire à Causerie',
    message: 'Message',
    send: 'Envoyer',
    stop: 'Arrêter',
    jumpToLatest: 'Aller au dernier message',
    disclaimer: 'Les réponses viennent d’un modèle local et peuvent être fausses.',
    systemPrompt: 'Instructions système',
    systemPromptPlaceholder: 'Consignes que le modèle suit dans cette discussion',
    temperature: 'Température',
    modelDefault: 'Valeur du modèle',
    cancel: 'Annuler',
    save: 'Enregistrer',
    language: 'Langue',
    languageAuto: 'Langue du navigateur',
    theme: 'Thème',
    themeSystem: 'Système',
    themeLight: 'Clair',
    themeDark: 'Sombre',
    done: 'Terminé',
    rename: 'Renommer',
    delete: 'Supprimer',
    moreOptions: 'Plus d’options',
    today: 'Aujourd’hui',
    yesterday: 'Hier',
    untitled: 'Nouvelle discussion',
    noResults: `Aucune discussion ne correspond à «${NNBSP}{q}${NNBSP}».`,
    noChats: 'Aucune discussion pour l’instant.',
    loading: 'Chargement…',
    deleted: 'Discussion supprimée.',
    undo: 'Annuler',
    copy: 'Copier',
    copied: 'Copié',
    copyCode: 'Copier le code',
    edit: 'Modifier',
    regenerate: 'Régénérer',
    retry: 'Réessayer',
    previous: 'Version précédente',
    next: 'Version suivante',
    version: 'Version {i} sur {n}',
    interrupted: `Arrêtée${NNBSP}: cette réponse est incomplète.`,
    incomplete: 'Cette réponse n’a pas été terminée.',
    errorTitle: 'Une erreur est survenue',
    cutOff: 'La réponse a été interrompue',
    connectionLost: 'La connexion au serveur a été perdue.',
    settingsForNewChats: 'S’applique désormais aux nouvelles discussions.',
    settingsForThisChat: 'S’applique à cette discussion seulement.',
    defaultModelSuffix: '(par défaut)',
    modelUnavailable: '{model} (indisponible)',
    image: `Image${NNBSP}: {alt}`,
    notFound: 'Cette discussion n’existe plus.',
    renamed: 'Discussion renommée.',
    signIn: 'Se connecter',
    signInTitle: 'Connexion à Causerie',
    userName: 'Nom ou e-mail',
    password: 'Mot de passe',
    signedInAs: 'Connecté en tant que',
    logOut: 'Se déconnecter',
    // Knowledge (knowledge.js)
    documents: 'Documents', collections: 'Collections', newCollection: 'Nom de la collection',
    create: 'Créer', upload: 'Ajouter des fichiers', useHere: 'Répondre à partir d’elle ici',
    addUrl: 'Ajouter une URL', urlPlaceholder: 'https://… (page web ou fichier)',
    close: 'Fermer', remove: 'Supprimer', sources: 'Sources', page: 'page',
    unsupported: 'Non étayé par les sources', queued: 'en attente', running: 'indexation',
    succeeded: 'terminé', failed: 'échec', cancelled: 'annulé', duplicate: 'déjà présent',
    reindexed: 'réindexé', empty: 'Aucune collection.', passage: 'Passage cité',
    grounded: 'Répond à partir de', docs: 'documents',
    // Import and export (imports.js)
    importExport: 'Importer et exporter', importKind: 'Export à importer',
    importChatgpt: 'Export ChatGPT (ZIP)', importOpenwebui: 'Discussions Open WebUI (JSON)',
    importCauserie: 'Export Causerie (ZIP)', importFile: 'Importer un fichier',
    exportMine: 'Exporter mes données', importRunning: 'importation…',
    importAdded: 'nouvelles discussions\u202f:', importUpdated: 'mises à jour\u202f:',
    importMessages: 'messages\u202f:', importUnchanged: 'déjà importées\u202f:',
    importSkipped: 'ignorées\u202f:',
    importCancel: 'Arrêter l’importation',
    importCancelled: 'arrêtée\u202f; ce qui a été importé est gardé (importez le fichier à nouveau pour le reste)',
    importRestored: 'restaurés\u202f:', importInstance: 'Export de toute l’instance (ZIP, admin)',
    exportInstance: 'Exporter toute l’instance',
    outOfView: `Les messages plus anciens ({n}) sont hors de la vue du modèle${NNBSP}: il lit les plus récents.`,
    'error.message_too_long': `Ce message est trop long pour le modèle${NNBSP}: environ {tokens} jetons ({chars} caractères), pour {limit} au plus. Raccourcissez-le ou joignez-le comme document.`,
    'error.context_length_exceeded': 'La conversation est trop longue pour le modèle.',
    'error.unreachable': 'Le serveur est injoignable. Vérifiez qu’il est démarré.',
    offline: 'Le serveur est injoignable. Nouvelle tentative…',
    'error.invalid_login': 'Nom d’utilisateur ou mot de passe incorrect.',
    'error.too_many_login_attempts': 'Trop de connexions échouées. Réessayez {when}.',
    'error.empty_document': '« {name} » est vide.',
    'error.content_mismatch': '« {name} » est présenté comme un fichier {label}, mais son contenu n’en est pas un.',
    'error.unsupported_archive': '« {name} » est une archive zip, pas un document pris en charge.',
    'error.no_text': 'Aucun texte n’a pu être extrait de « {name} ».',
    // Account and administration (account.js)
    changePassword: 'Changer le mot de passe', currentPassword: 'Mot de passe actuel',
    newPassword: 'Nouveau mot de passe', passwordChanged: 'Mot de passe changé. Vos autres sessions sont déconnectées.',
    apiKeys: 'Clés d’API', keyName: 'Nom de la clé', createKey: 'Créer une clé',
    keyShownOnce: `Copiez cette clé maintenant${NNBSP}: elle ne sera plus affichée.`, revoke: 'Révoquer',
    confirmRevoke: `Révoquer définitivement${NNBSP}?`, revoked: 'révoquée', users: 'Utilisateurs', role: 'Rôle',
    roleUser: 'Utilisateur', admin: 'Administrateur', requestsPerMinute: 'Requêtes / min',
    tokensPerDay: 'Jetons / jour', requests_per_minute: 'Requêtes par minute',
    tokens_per_day: 'Jetons par jour', usage30: 'Jetons (30 jours)', actions: 'Actions',
    newUser: 'Nouvel utilisateur', enable: 'Activer', disable: 'Désactiver', resetPassword: 'Réinitialiser le mot de passe',
    passwordReset: 'mot de passe réinitialisé, sessions fermées.', saved: 'enregistré.', userCreated: 'créé.',
    'error.wrong_password': 'Le mot de passe actuel est incorrect.',
    'error.password_too_short': 'Le mot de passe doit comporter au moins 8 caractères.',
    // Everyday (chat.js, dom.js, knowledge.js)
    showMore: 'Afficher plus', showLess: 'Afficher moins',
    skipToMessage: 'Aller à la zone de message', replyFinished: `Réponse${NNBSP}:`,
    confirmDelete: `Supprimer définitivement${NNBSP}?`,
    'docCount.one': '{n} document', 'docCount.other': '{n} documents',
    copyFailed: `La copie a échoué${NNBSP}: sélectionnez le texte et appuyez sur Ctrl+C.`,
    searchWeb: 'Chercher sur le web', unreadPages: 'Pages qui n’ont pas pu être lues',
    webSource: 'page web', openPage: 'Ouvrir la page',
    attachFiles: 'Joindre des fichiers', attachedFiles: 'Fichiers joints',
    chatFiles: 'Fichiers de la discussion', uploading: 'envoi…', indexingPct: 'indexation {pct}',
    ready: 'prêt', removeFile: 'Retirer {name}',
    documentsHint: `Documents${NNBSP}: les collections et fichiers dont les discussions se servent`,
    documentDeleted: '« {name} » supprimé.', failedBecause: `échec${NNBSP}: {reason}`,
  },
};

export const LANGUAGES = Object.keys(STRINGS);
const PREF_KEY = 'causerie.lang';
let current = 'en';

/** The stored preference: 'auto', 'en' or 'fr'. */
export function languagePreference() {
  const pref = localStorage.getItem(PREF_KEY);
  return LANGUAGES.includes(pref) ? pref : 'auto';
}

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language]) {
    const base = String(tag).slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

/** Apply a preference ('auto' follows the browser) and remember it. */
export function setLanguagePreference(pref) {
  if (pref === 'auto') localStorage.removeItem(PREF_KEY);
  else localStorage.setItem(PREF_KEY, pref);
  current = pref === 'auto' ? browserLanguage() : pref;
  document.documentElement.lang = current;
  applyI18n();
}

export function language() {
  return current;
}

/** The string for key in the current language, with {name} placeholders filled in. */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** key.one / key.other (…) by the language's plural rules, with {n} formatted: "1 document". */
export function plural(key, n, vars = {}) {
  const form = new Intl.PluralRules(current).select(n);
  const chosen = `${key}.${form}`;
  const known = chosen in STRINGS[current] || chosen in STRINGS.en;
  return t(known ? chosen : `${key}.other`, { ...vars, n: new Intl.NumberFormat(current).format(n) });
}

/** A server error in the user's language, by its stable code; the server's text otherwise. */
export function errorText(err) {
  if (err instanceof TypeError) return t('error.unreachable'); // fetch failed: no server
  const key = err?.code && `error.${err.code}`;
  if (!key || !(key in STRINGS[current] || key in STRINGS.en)) return err?.message || String(err);
  const numbers = new Intl.NumberFormat(current);
  const vars = {};
  for (const [name, value] of Object.entries(err.detail || {})) {
    vars[name] = typeof value === 'number' ? numbers.format(value) : value;
  }
  const wait = err.detail?.retry_after;
  if (typeof wait === 'number') { // "in 15 minutes", "dans 15 minutes"
    const when = new Intl.RelativeTimeFormat(current, { numeric: 'always' });
    vars.when = wait < 90 ? when.format(wait, 'second') : when.format(Math.ceil(wait / 60), 'minute');
  }
  return t(key, vars);
}

/** Translate the static page: data-i18n (text), -label (aria-label, title), -placeholder. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    if (el.tagName === 'BUTTON') el.title = t(el.dataset.i18nLabel);
  }
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
}
