// Settings → Import and export: upload an export as a job, follow its progress, show the summary.

import { call } from './api.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;

export class Imports {
  constructor(app) {
    this.app = app;
    this.job = null;
    $('import-file').addEventListener('change', (e) => this.upload(e.target));
    // The job lives on the server: cancelling keeps what it already imported.
    $('import-cancel').addEventListener('click', () => {
      if (this.job) call('POST', `/api/imports/${this.job.id}/cancel`).catch(() => {});
    });
  }

  async upload(input) {
    const file = input.files[0];
    input.value = '';
    if (!file) return;
    const form = new FormData();
    const kind = $('import-kind').value;
    form.append('kind', kind);
    form.append('file', file, file.name);
    const bar = $('import-progress');
    const status = $('import-status');
    bar.hidden = false;
    bar.value = 0;
    status.textContent = `${file.name}: ${t('importRunning')}`;
    const cancel = $('import-cancel');
    try {
      const url = kind === 'instance' ? '/api/admin/imports' : '/api/imports';
      let job = await call('POST', url, form);
      this.job = job;
      cancel.hidden = false;
      while (job.status === 'queued' || job.status === 'running') {
        bar.value = job.progress;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await call('GET', `/api/imports/${job.id}`);
      }
      bar.value = 1;
      status.textContent = `${file.name}: ${outcomeText(job)}`;
      await this.app.sidebar.reload();
    } catch (err) {
      status.textContent = `${file.name}: ${t('failed')}: ${err.message}`;
    } finally {
      this.job = null;
      cancel.hidden = true;
    }
  }
}

function outcomeText(job) {
  if (job.status === 'succeeded') return summaryText(job.summary);
  if (job.status === 'cancelled') return t('importCancelled');
  return `${t('failed')}: ${job.error}`;
}

/** The job's summary in the UI's language: imported, skipped and why, errors. */
function summaryText(s) {
  const parts = [
    `${t('importAdded')} ${s.conversations_added}`,
    `${t('importUpdated')} ${s.conversations_updated}`,
    `${t('importMessages')} ${s.messages_added}`,
    `${t('importUnchanged')} ${s.unchanged}`,
  ];
  for (const [reason, n] of Object.entries(s.skipped)) {
    parts.push(`${t('importSkipped')} ${n} (${reason})`);
  }
  for (const [kind, n] of Object.entries(s.restored || {})) {
    if (n) parts.push(`${t('importRestored')} ${n} ${kind}`);
  }
  for (const error of s.errors) parts.push(`${t('failed')}: ${error}`);
  return parts.join(' · ');
}
