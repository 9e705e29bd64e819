// The account flows of the portal in headless Chromium (Debian's, through
// playwright-core) against a running `vidmocap serve` whose mail goes to a
// real SMTP server (tests/support/smtp_sink.py), which writes each message
// as JSON into <mail-dir>; the script reads the links from there and opens
// them as a user would.
//
//   node web/e2e/account.mjs <base-url> <mail-dir> <screenshot-dir>
//
// Checks: sign-up refused without the 18+ box (said in words, focus on
// the box), the address confirmed from its mail, the settings page
// (password change with a wrong then the right current password,
// notification choices kept, email change confirmed from the new
// address's mail), a forgotten password reset from its mail, the reset
// link refused when opened again, and axe-core on every page. Exits
// non-zero with a message on the first failed check.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  axe as axeIn, check, launch, shotBoth as shotsOf,
} from './browser.mjs';

const [base, mailDir, shots] = process.argv.slice(2);
if (!base || !mailDir || !shots) {
  console.error('usage: account.mjs <base-url> <mail-dir> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

// The next mail to `to` whose subject has `subject` not taken before (the
// files stay: the test reads them all afterwards).
const taken = new Set();
async function takeMail(to, subject) {
  for (let i = 0; i < 200; i += 1) {
    for (const f of readdirSync(mailDir).filter((n) => n.endsWith('.json') && !taken.has(n))) {
      const m = JSON.parse(readFileSync(join(mailDir, f), 'utf8'));
      if (m.rcpt_tos.includes(to) && m.subject.includes(subject)) {
        taken.add(f);
        return m;
      }
    }
    await new Promise((r) => { setTimeout(r, 100); });
  }
  throw new Error(`check failed: no mail to ${to} about “${subject}”`);
}
const linkIn = (mail, route) => {
  const link = mail.text.split(/\s+/).find((w) => w.startsWith(`${base}/#/${route}`));
  check(Boolean(link), `the mail “${mail.subject}” has a ${route} link to this server`);
  return link;
};

const { page, consoleErrors, close } = await launch();
try {
  const shotBoth = (name) => shotsOf(page, shots, name);
  const axe = (what) => axeIn(page, what);
  const text = async (sel) => (await page.textContent(sel)).replace(/\s+/g, ' ').trim();
  const waitText = (sel) => page.waitForFunction((s) => document.querySelector(s).textContent.trim().length > 0, sel);
  const headingFocused = async (what) => check(
    await page.evaluate(() => document.activeElement.tagName === 'H1'),
    `the ${what} view focuses its heading`,
  );

  // ---- sign up: the 18+ box is required ---------------------------------------
  const email = `acct-${Date.now()}@example.com`;
  await page.goto(`${base}/#/signup`);
  await page.waitForSelector('#over-18');
  check(await page.locator('label:has(#over-18)').count() === 1, 'the 18+ box has its label');
  check(!(await page.isChecked('#marketing')), 'news and offers are off unless chosen');
  await page.fill('#email', email);
  await page.fill('#password', 'correct horse battery');
  await page.click('#auth button[type=submit]');
  await waitText('#auth-error');
  const ageWords = await text('#auth-error');
  check(/18 or over/.test(ageWords), `sign-up without the 18+ box is refused in words (“${ageWords}”)`);
  check(await page.evaluate(() => document.activeElement.id === 'over-18'), 'focus goes to the 18+ box');
  await axe('the signup page with its 18+ refusal');
  await shotBoth('signup-age');
  await page.keyboard.press('Space');
  await page.click('#auth button[type=submit]');
  await page.waitForSelector('#drop');
  check(true, 'with the box ticked, sign-up reached the upload view');

  // ---- the address, confirmed from its mail -------------------------------------
  const verify = await takeMail(email, 'Confirm your email address');
  await page.goto(linkIn(verify, 'verify-email?token='));
  await page.waitForSelector('#link-email');
  check(await text('#link-email') === email, 'opening the mailed link confirms the address');
  await headingFocused('address-confirmed');
  await axe('the address-confirmed page');
  await shotBoth('email-confirmed');

  // ---- settings -----------------------------------------------------------------
  await page.goto(`${base}/#/account`);
  await page.click('#settings-link');
  await page.waitForSelector('#email-current');
  check(/settings/i.test(await page.title()), `the settings page has its own title (${await page.title()})`);
  await headingFocused('settings');
  check(await text('#email-verified') === 'confirmed', 'settings say the address is confirmed');
  check(await page.isChecked('#job-emails') && !(await page.isChecked('#marketing-emails')), 'settings show the notification choices');
  await axe('the settings page');
  await shotBoth('settings');

  // Password: a wrong current one, then the right one.
  await page.fill('#current-password', 'not my password');
  await page.fill('#new-password', 'a brand new password');
  await page.click('#password-form button[type=submit]');
  await waitText('#password-error');
  check(/not your current password/.test(await text('#password-error')), 'a wrong current password is said in words');
  await page.fill('#current-password', 'correct horse battery');
  await page.click('#password-form button[type=submit]');
  await page.waitForFunction(() => /was changed/.test(document.querySelector('#password-status').textContent));
  check(await text('#password-error') === '', 'the earlier error is gone');
  await takeMail(email, 'password was changed');
  check(true, 'the password change is told by mail');

  // Notifications: chosen, saved, shown again after a reload.
  await page.uncheck('#job-emails');
  await page.check('#marketing-emails');
  await page.click('#notify-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#notify-status').textContent === 'Saved.');
  await page.reload();
  await page.waitForSelector('#email-current');
  check(!(await page.isChecked('#job-emails')) && await page.isChecked('#marketing-emails'), 'the notification choices are kept');

  // Email: a link to the new address makes the change.
  const newEmail = `new-${email}`;
  await page.fill('#new-email', newEmail);
  await page.fill('#email-password', 'a brand new password');
  await page.click('#email-form button[type=submit]');
  await page.waitForFunction(() => /We sent a link/.test(document.querySelector('#email-status').textContent));
  check(await text('#email-current') === email, 'the address stays until the link is opened');
  const confirm = await takeMail(newEmail, 'Confirm your new email address');
  await page.goto(linkIn(confirm, 'confirm-email?token='));
  await page.waitForSelector('#link-email');
  check(await text('#link-email') === newEmail, 'opening the new address\'s link makes the change');
  await axe('the email-changed page');
  await shotBoth('email-changed');
  const told = await takeMail(email, 'email address was changed');
  check(told.text.includes(newEmail), 'the old address is told of the change');

  // ---- a forgotten password -------------------------------------------------------
  await page.goto(`${base}/#/settings`);
  await page.waitForSelector('#email-current');
  await page.click('#logout');
  // Logging out ends on the landing page; going on before it would be
  // overtaken by it.
  await page.waitForURL(/#\/welcome$/);
  await page.waitForSelector('#visitor-nav:not([hidden])');
  await page.goto(`${base}/#/login`);
  await page.click('text=Forgot your password?');
  await page.waitForSelector('#forgot-form');
  await headingFocused('reset-request');
  await page.fill('#forgot-email', newEmail);
  await page.click('#forgot-form button[type=submit]');
  await waitText('#forgot-status');
  check(/reset link is on its way/.test(await text('#forgot-status')), 'the reset request is acknowledged');
  await axe('the reset-request page');
  await shotBoth('forgot-password');
  const reset = await takeMail(newEmail, 'Reset your vidmocap password');
  check(/30 minutes/.test(reset.text), 'the reset mail says how long its link works');
  const resetLink = linkIn(reset, 'reset-password?token=');
  await page.goto(resetLink);
  await page.waitForSelector('#reset-form');
  await headingFocused('new-password');
  await axe('the new-password page');
  await shotBoth('reset-password');
  await page.fill('#reset-password', 'the password after reset');
  await page.click('#reset-form button[type=submit]');
  await page.waitForSelector('#reset-login');
  check(await page.evaluate(() => document.activeElement.id === 'reset-login'), 'after the reset, focus is on the way to log in');
  // The same link again: refused in words, with the way to a new one.
  await page.goto('about:blank');
  await page.goto(resetLink);
  await page.waitForSelector('#reset-form');
  await page.fill('#reset-password', 'someone else password');
  await page.click('#reset-form button[type=submit]');
  await waitText('#reset-error');
  const usedWords = await text('#reset-error');
  check(/already used/.test(usedWords) && await page.locator('#reset-error a[href="#/forgot-password"]').count() === 1,
    `a used reset link is refused in words, with a way to a new one (“${usedWords}”)`);
  await axe('the new-password page with a used link');
  await page.goto(`${base}/#/login`);
  await page.waitForSelector('#auth');
  await page.fill('#email', newEmail);
  await page.fill('#password', 'the password after reset');
  await page.click('#auth button[type=submit]');
  await page.waitForSelector('#drop');
  check(true, 'the new password signs in');

  // Chromium logs the API's refusals (400, 403, 410) as failed resources;
  // those are the refusals checked above, not page errors.
  const real = consoleErrors.filter((e) => !/status of (400|401|403|410)/.test(e));
  check(real.length === 0, `no console errors (${real.join(' | ')})`);
} finally {
  await close();
}
