// The portal's webhooks in headless Chromium (see browser.mjs) against a
// running `vidmocap serve` whose webhooks may point at 127.0.0.1 and are
// retried after half a second.
//
//   node web/e2e/webhooks.mjs <base-url> <receiver-url> <clip.mp4> <screenshot-dir> <grant-cmd...>
//
// The receiver answers 500 to the first request and 200 after. The script
// signs up, adds a webhook (a refused URL first), reads its secret once,
// makes a job end (canceled while queued: the server has no workers),
// reads the delivery log (a 500, then the retry received), deletes the
// webhook, and checks axe-core and a phone's width on the way. It prints
// `webhook-secret=<secret>` for the test to verify the signature with.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  DESKTOP, PHONE, axe as axeIn, check, launch, shotBoth as shotsOf,
} from './browser.mjs';

const [base, receiver, clip, shots, ...grant] = process.argv.slice(2);
if (!base || !receiver || !clip || !shots || grant.length === 0) {
  console.error('usage: webhooks.mjs <base-url> <receiver-url> <clip> <screenshot-dir> <grant-cmd...>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const { page, consoleErrors, close } = await launch({ acceptDownloads: true });
try {
  const shotBoth = (name, ready) => shotsOf(page, shots, name, ready);
  const axe = (what) => axeIn(page, what);

  // An account (the browser's own cookie) with credits for one job.
  const email = `hooks-${Date.now()}@example.com`;
  const signup = await page.request.post(`${base}/v1/auth/signup`, { data: { email, password: 'correct horse battery', over_18: true } });
  check(signup.status() === 201, `signed up (${signup.status()})`);
  execFileSync(grant[0], [...grant.slice(1), email], { stdio: 'inherit' });

  await page.goto(`${base}/#/account`);
  await page.waitForSelector('#hooks tr');
  check(/no webhooks/.test(await page.textContent('#hooks')), 'the account page lists no webhooks yet');
  // Every control of the form has a name a screen reader says.
  check(await page.getByLabel('Endpoint URL').count() === 1, 'the URL field is labelled');
  check(await page.getByRole('group', { name: 'Send these events' }).count() === 1, 'the event choices are a named group');

  // A URL the server refuses: its words, and nothing added.
  await page.fill('#hook-url', 'ftp://example.com/events');
  await page.click('#hook-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#hook-error').textContent.length > 0);
  const refusal = await page.textContent('#hook-error');
  check(/http or https/.test(refusal), `a URL that is not http(s) is refused in plain words (“${refusal}”)`);
  check(/no webhooks/.test(await page.textContent('#hooks')), 'the refused URL was not added');

  // The receiver's URL: added, its secret shown once.
  await page.fill('#hook-url', receiver);
  await page.uncheck('input[name=hook-event][value="job.succeeded"]');
  await page.click('#hook-form button[type=submit]');
  await page.waitForSelector('#hook-secret-value');
  const secret = await page.textContent('#hook-secret-value');
  check(/^whsec_[0-9a-f]{64}$/.test(secret), 'the new webhook\'s secret is shown');
  console.log(`webhook-secret=${secret}`);
  await page.waitForSelector('#hooks button[data-log]');
  check((await page.textContent('#hooks')).includes(receiver), 'the webhook is listed with its URL');
  check(!(await page.textContent('#hooks')).includes('job.succeeded'), 'it lists the events chosen');
  await axe('the account page with a webhook');

  // A job ends (canceled while queued): job.canceled is sent, refused
  // once by the receiver, and sent again.
  const upload = await page.request.post(`${base}/v1/uploads`, {
    headers: { 'content-type': 'application/octet-stream', 'x-filename': basename(clip) },
    data: readFileSync(clip),
  });
  check(upload.status() === 201, `the clip was uploaded (${upload.status()})`);
  const job = await page.request.post(`${base}/v1/jobs`, { data: { upload_id: (await upload.json()).id } });
  check(job.status() === 201, `a job was accepted (${job.status()})`);
  const jobId = (await job.json()).id;
  const cancel = await page.request.post(`${base}/v1/jobs/${jobId}/cancel`);
  check(cancel.ok(), 'the queued job was canceled');

  const deadline = Date.now() + 30000;
  let rows = 0;
  while (Date.now() < deadline) {
    await page.click('#hooks button[data-log]');
    await page.waitForSelector('#hook-log:not([hidden]) #hook-attempts tr');
    rows = await page.locator('#hook-attempts tr').count();
    if (rows >= 2) break;
    await page.waitForTimeout(300);
  }
  check(rows === 2, `the delivery log shows two attempts (${rows})`);
  const newest = await page.textContent('#hook-attempts tr:nth-child(1)');
  const oldest = await page.textContent('#hook-attempts tr:nth-child(2)');
  check(/job\.canceled/.test(newest) && /HTTP 200/.test(newest) && /received/.test(newest), `the retry was received (“${newest.replace(/\s+/g, ' ')}”)`);
  check(/HTTP 500/.test(oldest) && !/—/.test(oldest), `the first attempt was refused and a retry scheduled (“${oldest.replace(/\s+/g, ' ')}”)`);
  check(await page.evaluate(() => document.activeElement.id) === 'hook-log-h', 'the log\'s heading has focus');
  await axe('the delivery log');
  await shotBoth('webhooks');
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the webhooks fit a phone's width (overflow ${overflow}px)`);
  await page.setViewportSize(DESKTOP);

  await page.click('#hooks button[data-delete]');
  await page.waitForFunction(() => /no webhooks/.test(document.querySelector('#hooks').textContent));
  check(await page.isHidden('#hook-log'), 'deleting the webhook closed its log');
  const left = await page.request.get(`${base}/v1/account/webhooks`);
  check((await left.json()).webhooks.length === 0, 'the webhook was deleted');

  // The refused URL's 400 is logged by Chromium as a failed resource: the
  // refusal checked above, not a page error.
  const real = consoleErrors.filter((e) => !/status of 400/.test(e));
  check(real.length === 0, `no console errors (${real.join(' | ')})`);
} finally {
  await close();
}
