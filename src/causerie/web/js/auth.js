// Signing in, when the server has accounts (single-user servers skip all of this).

import { api } from './api.js';
import { h, icon } from './dom.js';
import { errorText, t } from './i18n.js';

/** Resolve once this browser may use the API: at once, or after a successful login. */
export async function signIn() {
  const state = await api.authState();
  if (state.authenticated) return state;
  await loginForm();
  return api.authState();
}

function loginForm() {
  return new Promise((resolve) => {
    const name = h('input', { id: 'login-name', type: 'text', autocomplete: 'username',
      required: true, 'aria-label': t('userName') });
    const password = h('input', { id: 'login-password', type: 'password',
      autocomplete: 'current-password', required: true, 'aria-label': t('password') });
    const error = h('p', { class: 'login-error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'btn primary', text: t('signIn') });
    const form = h('form', { class: 'login-card' },
      h('img', { src: 'favicon.svg', alt: '', width: '44', height: '44' }),
      h('h1', { text: t('signInTitle') }),
      h('label', { class: 'field' }, h('span', { text: t('userName') }), name),
      h('label', { class: 'field' }, h('span', { text: t('password') }), password),
      error, submit);
    const screen = h('div', { class: 'login', id: 'login' }, form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.textContent = '';
      try {
        await api.login(name.value.trim(), password.value);
        screen.remove();
        resolve();
      } catch (err) {
        // In the user's language by its code; the server's own words on hover.
        error.replaceChildren(icon('alert'), h('span', { text: errorText(err), title: err.message }));
        password.select();
      } finally {
        submit.disabled = false;
      }
    });
    document.body.append(screen);
    name.focus();
  });
}

/** Show who is signed in, with a way out, in the settings dialog; the user, or null. */
export async function showAccount(state) {
  const row = document.getElementById('account-row');
  if (state.mode !== 'accounts') {
    row.hidden = true;
    return null;
  }
  const me = await api.me();
  document.getElementById('account-name').textContent = me.name;
  row.hidden = false;
  // An administrator backs up and restores the whole instance (imports.js).
  const admin = me.role === 'admin';
  document.getElementById('export-instance').hidden = !admin;
  const option = document.getElementById('import-instance');
  option.hidden = !admin;
  option.disabled = !admin;
  document.getElementById('logout').onclick = async () => {
    await api.logout();
    location.reload();
  };
  return me;
}
