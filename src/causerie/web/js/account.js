// Settings → one's account (password, API keys) and, for admins, the users page.
// Shown only on servers with accounts; single-user mode has no one to sign in as.

import { call } from './api.js';
import { confirmingButton, copyText, h } from './dom.js';
import { errorText, language, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export class Account {
  constructor(app) {
    this.app = app;
    $('password-save').addEventListener('click', () => this.changePassword());
    $('key-create').addEventListener('click', () => this.createKey());
    $('new-key-copy').addEventListener('click', (e) => this.copyKey(e.currentTarget));
    $('open-users').addEventListener('click', () => this.openUsers());
    $('new-user-create').addEventListener('click', () => this.createUser());
  }

  /** Reveal the account sections for this signed-in user (me: GET /api/me). */
  async show(me) {
    $('account-password').hidden = false;
    $('account-keys').hidden = false;
    $('open-users').hidden = me.role !== 'admin';
    await this.loadKeys();
  }

  async changePassword() {
    const status = $('password-status');
    try {
      await call('POST', '/api/me/password', {
        current_password: $('password-current').value, new_password: $('password-new').value,
      });
      $('password-current').value = '';
      $('password-new').value = '';
      status.textContent = t('passwordChanged');
    } catch (err) {
      status.textContent = errorText(err);
    }
  }

  // -- API keys ----------------------------------------------------------------------------

  async loadKeys() {
    const { data } = await call('GET', '/api/keys');
    $('key-list').replaceChildren(...data.map((key) => this.keyItem(key)));
  }

  keyItem(key) {
    const label = `${key.name} · ${key.prefix}… · ${shortDate(key.created_at)}`;
    if (key.revoked_at) {
      return h('li', { dataset: { id: key.id } },
        h('span', { class: 'revoked', text: label }), h('span', { text: t('revoked') }));
    }
    const revoke = confirmingButton(t('revoke'), t('confirmRevoke'), () => this.revoke(key));
    return h('li', { dataset: { id: key.id } }, h('span', { text: label }), revoke);
  }

  async createKey() {
    try {
      const key = await call('POST', '/api/keys', { name: $('key-name').value.trim() || 'key' });
      $('key-name').value = '';
      $('new-key-value').textContent = key.key;
      $('new-key').hidden = false;
      await this.loadKeys();
    } catch (err) {
      this.app.showError(err);
    }
  }

  async copyKey(button) {
    await copyText($('new-key-value').textContent, button, t('copyFailed'));
  }

  async revoke(key) {
    try {
      await call('DELETE', `/api/keys/${encodeURIComponent(key.id)}`);
      await this.loadKeys();
      $('key-create').focus(); // the button that had focus is gone
    } catch (err) {
      this.app.showError(err);
    }
  }

  // -- administration ----------------------------------------------------------------------

  async openUsers() {
    $('users-status').textContent = '';
    await this.loadUsers();
    $('users-dialog').showModal();
  }

  async loadUsers() {
    const [users, usage] = await Promise.all([
      call('GET', '/api/admin/users'), call('GET', '/api/admin/usage?days=30'),
    ]);
    const tokens = new Map();
    for (const row of usage.data) {
      tokens.set(row.user_id, (tokens.get(row.user_id) || 0) + row.total_tokens);
    }
    $('user-rows').replaceChildren(...users.data.map((u) => this.userRow(u, tokens.get(u.id) || 0)));
  }

  userRow(user, used) {
    const limit = (field) => h('input', {
      type: 'number', min: '1', value: user[field] ?? '', 'aria-label': `${t(field)} (${user.name})`,
      placeholder: '∞', dataset: { field },
    });
    const rpm = limit('requests_per_minute');
    const tpd = limit('tokens_per_day');
    const role = h('select', { 'aria-label': `${t('role')} (${user.name})` },
      ...['user', 'admin'].map((r) => h('option', {
        value: r, selected: r === user.role, text: t(r === 'admin' ? 'admin' : 'roleUser'),
      })));
    const password = h('input', {
      type: 'password', autocomplete: 'new-password', placeholder: t('newPassword'),
      'aria-label': `${t('newPassword')} (${user.name})`,
    });
    const number = (input) => (input.value ? Number(input.value) : null);
    const save = () => this.updateUser(user, {
      role: role.value, requests_per_minute: number(rpm), tokens_per_day: number(tpd),
    });
    const reset = () => this.updateUser(user, { password: password.value }, t('passwordReset'));
    const toggle = () => this.updateUser(user, { disabled: !user.disabled });
    const nf = new Intl.NumberFormat(language());
    return h('tr', { class: user.disabled ? 'disabled' : null, dataset: { name: user.name } },
      h('td', { text: user.email ? `${user.name} (${user.email})` : user.name }),
      h('td', {}, role), h('td', {}, rpm), h('td', {}, tpd),
      h('td', { class: 'used', text: nf.format(used) }),
      h('td', {},
        h('button', { type: 'button', class: 'btn small', text: t('save'), onclick: save }),
        h('button', {
          type: 'button', class: 'btn small', text: t(user.disabled ? 'enable' : 'disable'),
          onclick: toggle,
        }),
        password,
        h('button', { type: 'button', class: 'btn small', text: t('resetPassword'), onclick: reset })));
  }

  async updateUser(user, changes, done = t('saved')) {
    const status = $('users-status');
    try {
      await call('PATCH', `/api/admin/users/${encodeURIComponent(user.id)}`, changes);
      await this.loadUsers();
      status.textContent = `${user.name}: ${done}`;
    } catch (err) {
      status.textContent = `${user.name}: ${errorText(err)}`;
    }
  }

  async createUser() {
    const status = $('users-status');
    const name = $('new-user-name').value.trim();
    try {
      await call('POST', '/api/admin/users', {
        name, password: $('new-user-password').value,
        role: $('new-user-admin').checked ? 'admin' : 'user',
      });
      $('new-user-name').value = '';
      $('new-user-password').value = '';
      $('new-user-admin').checked = false;
      await this.loadUsers();
      status.textContent = `${name}: ${t('userCreated')}`;
    } catch (err) {
      status.textContent = `${name}: ${errorText(err)}`;
    }
  }
}

function shortDate(iso) {
  return new Date(iso).toLocaleDateString(language(), { dateStyle: 'medium' });
}
