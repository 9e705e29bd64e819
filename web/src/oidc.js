// "Sign in with <provider>" on the login and signup views: one link per
// provider the server has configured (GET /v1/auth/providers). A link, not
// a fetch: the browser itself goes to the provider and comes back through
// the server's callback, which sets the session and sends it to the
// portal, or to #/login?error=CODE when the sign-in was refused.

const WORDS = {
  'oidc.unknown_provider': 'That sign-in provider is not set up on this server.',
  'oidc.provider': 'The sign-in provider could not be reached just now. Try again in a moment.',
  'oidc.denied': 'Sign-in was cancelled at the provider. Nothing was changed.',
  'oidc.bad_state': 'That sign-in link has expired or was already used. Start again.',
  'oidc.bad_code': 'The provider did not accept this sign-in. Start again.',
  'oidc.bad_signature': 'The sign-in could not be verified. Start again; if it keeps happening, tell us.',
  'oidc.bad_nonce': 'The sign-in could not be verified. Start again.',
  'oidc.bad_token': 'The sign-in could not be verified. Start again.',
  'oidc.no_email': 'The provider did not share an email address, which an account needs. Allow it, or sign up with a password.',
  'auth.age_unconfirmed': 'To create an account you must be 18 or over: tick "I am 18 or over" on the sign-up page, then continue with the provider.',
  'oidc.email_unverified': 'The provider has not verified this email address, so it cannot sign you in here. Verify it with the provider, or log in with your password.',
};

/** The words for a sign-in error code the callback sent back. */
export function signInError(code) {
  return WORDS[code] || 'Signing in with the provider did not work. Try again.';
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Fills `box` with a link per configured provider; hides it when there is none. */
export async function showProviders(box) {
  box.hidden = true;
  let providers = [];
  try {
    const res = await fetch('/v1/auth/providers', { credentials: 'same-origin' });
    if (res.ok) providers = (await res.json()).providers;
  } catch { /* no providers shown: the password form still works */ }
  if (!box.isConnected || providers.length === 0) return;
  box.innerHTML = `<p class="muted">Or continue with</p>
    <ul class="providers">${providers.map((p) => `<li><a class="button secondary" href="${esc(p.start_url)}">Sign in with ${esc(p.display_name)}</a></li>`).join('')}</ul>`;
  // Sign-up's "I am 18 or over" goes with the sign-in: without it the
  // server links an existing account but makes no new one.
  for (const a of box.querySelectorAll('a')) {
    const start = a.getAttribute('href');
    a.addEventListener('click', () => {
      const age = document.getElementById('over-18');
      a.setAttribute('href', age && age.checked ? `${start}?over_18=1` : start);
    });
  }
  box.hidden = false;
}
