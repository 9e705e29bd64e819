// Correcting an account, and the pages mailed links open: settings (email,
// password, which mails to get), the sign-up's confirmations, a forgotten
// password, and following a verification, email-change or reset link.
// The views come from main.js's `ui` (view, current, showError, el, esc,
// showNav), so they behave as every other view does (title, heading
// focused, stale renders dropped).
import { api } from './api.js';

// ---- sign-up's confirmations -------------------------------------------
/** The 18+ confirmation and the marketing consent of the sign-up form. */
export function signupConsent() {
  return `<label><input id="over-18" type="checkbox" required> I am 18 or over</label>
      <label><input id="marketing" type="checkbox"> Email me news and offers (optional; you can stop them any time)</label>`;
}

/** What the sign-up form's confirmations add to its request. */
export function signupChoices(el) {
  return { over_18: el('over-18').checked, marketing_emails: el('marketing').checked };
}

/** The login form's way to a forgotten password. */
export function forgotLink() {
  return '<p><a href="#/forgot-password">Forgot your password?</a></p>';
}

// ---- settings -------------------------------------------------------------
export async function settingsView(ui) {
  const { el } = ui;
  ui.view('Settings', `<section><h1>Settings</h1>
      <p class="muted">Your email address, your password, and which emails you get.</p>
      <p id="set-error" class="error" role="alert"></p>
      <p id="mail-off" class="muted" hidden>This server does not send email, so changing the address and
        email notifications are not available here. Ask its operator for help.</p></section>
    <section aria-labelledby="email-h"><h2 id="email-h">Email address</h2>
      <p id="email-now"></p>
      <p><button id="resend" type="button" class="secondary" hidden>Send the confirmation link again</button></p>
      <p id="resend-status" role="status"></p>
      <form id="email-form" novalidate>
        <label>New email address <input id="new-email" type="email" autocomplete="email" required></label>
        <label>Current password <input id="email-password" type="password" autocomplete="current-password" required></label>
        <p class="muted">We send a link to the new address; the change is made when you open it.</p>
        <button type="submit">Send confirmation link</button>
        <p id="email-status" role="status"></p>
        <p id="email-error" class="error" role="alert"></p>
      </form></section>
    <section aria-labelledby="pw-h"><h2 id="pw-h">Password</h2>
      <form id="password-form" novalidate>
        <label>Current password <input id="current-password" type="password" autocomplete="current-password" required></label>
        <label>New password <input id="new-password" type="password" minlength="8" autocomplete="new-password" aria-describedby="new-pw-help" required></label>
        <p id="new-pw-help" class="muted">At least 8 characters. Your other sessions are signed out.</p>
        <button type="submit">Change password</button>
        <p id="password-status" role="status"></p>
        <p id="password-error" class="error" role="alert"></p>
      </form></section>
    <section aria-labelledby="notify-h"><h2 id="notify-h">Email notifications</h2>
      <form id="notify-form">
        <label><input id="job-emails" type="checkbox"> Email me when a job finishes or fails</label>
        <p id="unverified-note" class="muted" hidden>Job emails start once your address is confirmed.</p>
        <label><input id="marketing-emails" type="checkbox"> Email me news and offers</label>
        <button type="submit">Save notifications</button>
        <p id="notify-status" role="status"></p>
        <p id="notify-error" class="error" role="alert"></p>
      </form></section>`);
  const gen = ui.gen();
  let acct;
  let notes;
  try {
    [acct, notes] = await Promise.all([api('/v1/account'), api('/v1/account/notifications')]);
  } catch (err) {
    if (ui.current(gen)) ui.showError(el('set-error'), err);
    return;
  }
  if (!ui.current(gen)) return;
  const showAddress = (email, verified) => {
    el('email-now').innerHTML = `Your address is <strong id="email-current">${ui.esc(email)}</strong>: ${verified
      ? '<span id="email-verified">confirmed</span>.'
      : '<span id="email-verified">not confirmed yet</span>. Open the link we mailed you to confirm it.'}`;
    el('resend').hidden = verified || !notes.mail_enabled;
    el('unverified-note').hidden = verified;
  };
  showAddress(acct.email, notes.email_verified);
  el('job-emails').checked = notes.job_emails;
  el('marketing-emails').checked = notes.marketing_emails;
  if (!notes.mail_enabled) {
    el('mail-off').hidden = false;
    el('email-form').querySelectorAll('input, button').forEach((c) => { c.disabled = true; });
  }

  // Each form: its status and error cleared, its button held while sent.
  const submit = (form, status, error, send) => el(form).addEventListener('submit', async (e) => {
    e.preventDefault();
    el(status).textContent = '';
    el(error).textContent = '';
    const button = el(form).querySelector('button[type=submit]');
    button.disabled = true;
    try {
      el(status).textContent = await send();
    } catch (err) {
      ui.showError(el(error), err);
    } finally {
      button.disabled = false;
    }
  });
  submit('email-form', 'email-status', 'email-error', async () => {
    const p = await api('/v1/account/email', {
      method: 'POST', body: { new_email: el('new-email').value, password: el('email-password').value },
    });
    el('email-password').value = '';
    return `We sent a link to ${p.pending_email}. Open it within a day to make the change; until then your address stays ${acct.email}.`;
  });
  submit('password-form', 'password-status', 'password-error', async () => {
    await api('/v1/account/password', {
      method: 'POST', body: { current_password: el('current-password').value, new_password: el('new-password').value },
    });
    el('current-password').value = '';
    el('new-password').value = '';
    return 'Your password was changed. Your other sessions were signed out.';
  });
  submit('notify-form', 'notify-status', 'notify-error', async () => {
    const n = await api('/v1/account/notifications', {
      method: 'PUT', body: { job_emails: el('job-emails').checked, marketing_emails: el('marketing-emails').checked },
    });
    el('job-emails').checked = n.job_emails;
    el('marketing-emails').checked = n.marketing_emails;
    return 'Saved.';
  });
  el('resend').addEventListener('click', async () => {
    el('resend-status').textContent = '';
    try {
      await api('/v1/account/verification', { method: 'POST' });
      el('resend-status').textContent = `We sent a new link to ${acct.email}.`;
    } catch (err) {
      ui.showError(el('resend-status'), err);
    }
  });
}

// ---- a forgotten password -------------------------------------------------
export function forgotView(ui) {
  const { el } = ui;
  ui.showNav(false);
  ui.view('Reset your password', `<section><h1>Reset your password</h1>
    <form id="forgot-form" novalidate>
      <label>Email <input id="forgot-email" type="email" autocomplete="email" required></label>
      <p class="muted">We email a link to set a new password. It works once, for 30 minutes.</p>
      <button type="submit">Send reset link</button>
      <p id="forgot-status" role="status"></p>
      <p id="forgot-error" class="error" role="alert"></p>
    </form>
    <p><a href="#/login">Back to log in</a></p></section>`);
  el('forgot-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    el('forgot-status').textContent = '';
    el('forgot-error').textContent = '';
    try {
      await api('/v1/auth/password-reset', { method: 'POST', body: { email: el('forgot-email').value } });
      el('forgot-status').textContent = 'If an account uses that address, a reset link is on its way. Check your inbox.';
    } catch (err) {
      ui.showError(el('forgot-error'), err);
    }
  });
}

const ASK_AGAIN = {
  reset: '<a href="#/forgot-password">Ask for a new reset link</a>',
  verify: '<a href="#/settings">Send a new link from your settings</a>',
};

// A refused link in words, with the way to a new one.
function linkRefused(ui, target, err, again) {
  ui.showError(target, err);
  if (['auth.link_used', 'auth.link_expired', 'auth.link_invalid'].includes(err.code)) {
    target.insertAdjacentHTML('beforeend', ` ${again}.`);
  }
}

export function resetView(ui, query) {
  const { el } = ui;
  ui.showNav(false);
  ui.view('Choose a new password', `<section><h1>Choose a new password</h1>
    <form id="reset-form" novalidate>
      <label>New password <input id="reset-password" type="password" minlength="8" autocomplete="new-password" aria-describedby="reset-help" required></label>
      <p id="reset-help" class="muted">At least 8 characters. Every session of the account is signed out.</p>
      <button type="submit">Set password</button>
      <p id="reset-status" role="status"></p>
      <p id="reset-error" class="error" role="alert"></p>
    </form></section>`);
  const token = query.get('token') || '';
  el('reset-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    el('reset-status').textContent = '';
    el('reset-error').textContent = '';
    try {
      await api('/v1/auth/password-reset/confirm', { method: 'POST', body: { token, new_password: el('reset-password').value } });
      el('reset-form').querySelectorAll('input, button').forEach((c) => { c.disabled = true; });
      el('reset-status').innerHTML = 'Your password was changed. <a id="reset-login" href="#/login">Log in with it</a>.';
      el('reset-login').focus();
    } catch (err) {
      linkRefused(ui, el('reset-error'), err, ASK_AGAIN.reset);
    }
  });
}

// ---- following an address link: it works on opening ------------------------
// The page posts the token itself, so a mail scanner that only fetches the
// link confirms nothing.
export async function addressLinkView(ui, kind, query) {
  const { el } = ui;
  const change = kind === 'confirm-email';
  ui.showNav(false);
  ui.view(change ? 'Confirm your new address' : 'Confirm your address', `<section>
    <h1>${change ? 'Confirm your new address' : 'Confirm your address'}</h1>
    <p id="link-status" role="status">Confirming…</p><p id="link-error" class="error" role="alert"></p>
    <p><a href="#/settings">Your settings</a> · <a href="#/login">Log in</a></p></section>`);
  const gen = ui.gen();
  try {
    const r = await api(change ? '/v1/auth/confirm-email' : '/v1/auth/verify-email', {
      method: 'POST', body: { token: query.get('token') || '' },
    });
    if (!ui.current(gen)) return;
    el('link-status').innerHTML = change
      ? `Done: your account's address is now <strong id="link-email">${ui.esc(r.email)}</strong>. Log in with it from now on.`
      : `Thank you: <strong id="link-email">${ui.esc(r.email)}</strong> is confirmed.`;
  } catch (err) {
    if (!ui.current(gen)) return;
    el('link-status').textContent = '';
    linkRefused(ui, el('link-error'), err, ASK_AGAIN.verify);
  }
}

/** The routes this module answers, signed in or not. */
export const PUBLIC_ROUTES = ['forgot-password', 'reset-password', 'verify-email', 'confirm-email'];

export async function publicRoute(ui, name, query) {
  if (name === 'forgot-password') forgotView(ui);
  else if (name === 'reset-password') resetView(ui, query);
  else await addressLinkView(ui, name, query);
}
