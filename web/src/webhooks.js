// The account page's webhooks: add a URL (its signing secret is shown
// once), list them, delete one, read one's delivery log. The account view
// places `webhooksSection()` in its page and calls `mountWebhooks` once
// the page is there.
import { api } from './api.js';

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const el = (id) => document.getElementById(id);

const EVENTS = [
  ['job.succeeded', 'A job succeeded'],
  ['job.failed', 'A job failed'],
  ['job.canceled', 'A job was canceled'],
];

// What went wrong on an attempt that got no HTTP answer.
const ATTEMPT_ERRORS = {
  'user_webhook.timeout': 'no answer in time',
  'user_webhook.connect': 'could not connect',
  'user_webhook.private_address': 'refused: the address is private or local',
  'user_webhook.unresolvable': 'the host name did not resolve',
  'user_webhook.bad_url': 'the URL is not valid',
  'user_webhook.request': 'the request failed',
};

const when = (ms) => (ms == null ? '' : new Date(ms).toLocaleString());

export function webhooksSection() {
  const boxes = EVENTS.map(([v, words]) => `<label><input type="checkbox" name="hook-event" value="${v}" checked> ${words} <code>${v}</code></label>`).join('');
  return `<section id="webhooks" aria-labelledby="webhooks-h"><h2 id="webhooks-h">Webhooks</h2>
    <p class="muted">When a job ends, the service posts a JSON event to each URL here, signed with the
      URL's secret in the <code>Vidmocap-Signature</code> header, and tries again later when it is not received.</p>
    <form id="hook-form">
      <label>Endpoint URL <input id="hook-url" type="url" required placeholder="https://example.com/vidmocap-events" maxlength="2048"></label>
      <fieldset><legend>Send these events</legend>${boxes}</fieldset>
      <button type="submit">Add webhook</button>
    </form>
    <p id="hook-error" class="error" role="alert"></p>
    <div id="hook-secret" role="status"></div>
    <table class="hooks"><caption class="sr-only">Your webhooks</caption>
      <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Added</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody id="hooks"></tbody></table>
    <div id="hook-log" hidden>
      <h3 id="hook-log-h" tabindex="-1"></h3>
      <table class="hooks"><caption class="sr-only">Delivery attempts, newest first</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Result</th><th scope="col">Next try</th></tr></thead>
        <tbody id="hook-attempts"></tbody></table>
    </div></section>`;
}

function renderHooks(list) {
  el('hooks').innerHTML = list.map((h) => `<tr id="hook-${esc(h.id)}"><td class="hook-url">${esc(h.url)}</td>
      <td>${h.events.map((e) => `<code>${esc(e)}</code>`).join(' ')}</td><td>${when(h.created_ms)}</td>
      <td><div class="row"><button type="button" class="secondary" data-log="${esc(h.id)}" aria-label="Deliveries to ${esc(h.url)}">Deliveries</button>
      <button type="button" class="secondary" data-delete="${esc(h.id)}" aria-label="Delete the webhook to ${esc(h.url)}">Delete</button></div></td></tr>`)
    .join('') || '<tr><td colspan="4" class="muted">no webhooks</td></tr>';
}

function result(a) {
  if (a.http_status != null) {
    const ok = a.http_status >= 200 && a.http_status < 300;
    return `<span class="${ok ? 'refunded' : 'reason'}">HTTP ${a.http_status}${ok ? ' · received' : ''}</span>`;
  }
  return `<span class="reason">${esc(ATTEMPT_ERRORS[a.error] || a.error || 'failed')}</span>`;
}

async function showLog(hook) {
  const log = await api(`/v1/account/webhooks/${encodeURIComponent(hook.id)}/deliveries`);
  el('hook-log').hidden = false;
  el('hook-log-h').textContent = `Deliveries to ${hook.url}`;
  el('hook-log').dataset.hook = hook.id;
  el('hook-attempts').innerHTML = log.attempts.map((a) => `<tr><td>${when(a.at_ms)}</td>
      <td><code>${esc(a.event_type)}</code> <span class="muted">${esc(a.event_id)}</span></td>
      <td>${a.attempt}</td><td>${result(a)}</td><td>${a.next_retry_ms == null ? '—' : when(a.next_retry_ms)}</td></tr>`)
    .join('') || '<tr><td colspan="5" class="muted">nothing sent yet</td></tr>';
  el('hook-log-h').focus();
}

/** Wires the section; `showError(target, err)` says a failure where it arose. */
export async function mountWebhooks(showError) {
  let hooks = [];
  const reload = async () => {
    hooks = (await api('/v1/account/webhooks')).webhooks;
    renderHooks(hooks);
  };
  try {
    await reload();
  } catch (err) {
    showError(el('hook-error'), err);
  }
  el('hook-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    el('hook-error').textContent = '';
    el('hook-secret').textContent = '';
    const events = [...document.querySelectorAll('input[name=hook-event]:checked')].map((c) => c.value);
    if (events.length === 0) {
      el('hook-error').textContent = 'Choose at least one event to send.';
      return;
    }
    try {
      const made = await api('/v1/account/webhooks', { method: 'POST', body: { url: el('hook-url').value.trim(), events } });
      el('hook-secret').innerHTML = `Added. Its signing secret, shown only now (keep it where your receiver can read it):
        <code class="key" id="hook-secret-value">${esc(made.secret)}</code>`;
      el('hook-url').value = '';
      await reload();
    } catch (err) {
      showError(el('hook-error'), err);
    }
  });
  el('hooks').addEventListener('click', async (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    const hook = hooks.find((h) => h.id === (button.dataset.log || button.dataset.delete));
    if (!hook) return;
    el('hook-error').textContent = '';
    try {
      if (button.dataset.log) {
        await showLog(hook);
      } else {
        await api(`/v1/account/webhooks/${encodeURIComponent(hook.id)}`, { method: 'DELETE' });
        if (el('hook-log').dataset.hook === hook.id) el('hook-log').hidden = true;
        await reload();
        el('hook-url').focus();
      }
    } catch (err) {
      showError(el('hook-error'), err);
    }
  });
}
