// Signing in with a provider, in headless Chromium (Debian's, through
// playwright-core), against a running `vidmocap serve` configured with one
// OpenID provider, "Test ID" (the real oidc-provider that
// tests/portal_e2e.rs starts, with its development login and consent pages).
//
//   node web/e2e/oidc.mjs <base-url> <screenshot-dir>
//
// The provider's users: `alice` (alice@example.com, verified) and `carol`
// (carol@example.com, not verified). Exits non-zero with a message on the
// first failed check.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { axe as axeOn, check, launch } from './browser.mjs';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: oidc.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const { context, close } = await launch({ viewport: { width: 1280, height: 800 } });
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const axe = (what) => axeOn(page, what);
  // Through the provider's own pages, as a person would.
  const atProvider = async (login) => {
    await page.waitForSelector('input[name="login"]', { timeout: 15000 });
    check(page.url().startsWith('http://127.0.0.1') && !page.url().startsWith(base), `at the provider's login page (${page.url()})`);
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', 'any password');
    await page.click('button[type="submit"]');
    await page.waitForSelector('button[type="submit"]', { timeout: 15000 });
    await page.click('button[type="submit"]'); // consent: Continue
  };

  await page.goto(`${base}/#/login`);
  const link = page.locator('#sign-in-with a', { hasText: 'Sign in with Test ID' });
  await link.waitFor({ timeout: 10000 });
  check(await link.getAttribute('href') === '/v1/auth/oidc/test/start', 'the login page links to the provider');
  await axe('the login page with its providers');
  await page.screenshot({ path: join(shots, 'login-providers.png'), fullPage: true });
  await page.goto(`${base}/#/signup`);
  await page.locator('#sign-in-with a', { hasText: 'Sign in with Test ID' }).waitFor({ timeout: 10000 });
  check(true, 'the signup page offers the provider too');

  // alice: verified, a new account (sign-up's 18+ box ticked), signed in
  // and at the upload page.
  await page.check('#over-18');
  await page.click('#sign-in-with a');
  await atProvider('alice');
  await page.waitForURL(`${base}/#/upload`, { timeout: 15000 });
  await page.waitForSelector('#nav:not([hidden])', { timeout: 10000 });
  const me = await page.evaluate(async () => (await fetch('/v1/account')).json());
  check(me.email === 'alice@example.com', `signed in as the provider's user (${me.email})`);
  await page.screenshot({ path: join(shots, 'signed-in-provider.png'), fullPage: true });
  await page.click('#logout');
  await page.waitForSelector('#visitor-nav:not([hidden])', { timeout: 10000 });

  // carol: the provider has not verified her address; refused, said why.
  // The provider still has alice's session (it would sign her in again at
  // once): a fresh start, as on another person's browser.
  await context.clearCookies();
  await page.goto(`${base}/#/login`);
  await page.click('#sign-in-with a');
  await atProvider('carol');
  await page.waitForURL(/#\/login\?error=oidc\.email_unverified$/, { timeout: 15000 });
  const said = await page.textContent('#auth-error');
  check(/not verified this email/.test(said), `the refusal in plain words (${said})`);
  check(await page.isHidden('#nav'), 'and not signed in');
  await axe('the login page with a refused sign-in');
  await page.screenshot({ path: join(shots, 'login-refused-provider.png'), fullPage: true });
  check(errors.length === 0, `no page errors (${errors.join(' | ')})`);
} finally {
  await close();
}
