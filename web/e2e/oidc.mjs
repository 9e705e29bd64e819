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
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: oidc.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const AXE = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/axe-core/axe.min.js');

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const profile = mkdtempSync(join(tmpdir(), 'vidmocap-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
});
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const axe = async (what) => {
    await page.addScriptTag({ path: AXE });
    const bad = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
    });
    check(bad.length === 0, `axe: no serious or critical violation on ${what} (${bad.join(', ')})`);
  };
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

  // alice: verified, a new account, signed in and at the upload page.
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
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
