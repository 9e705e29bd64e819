// End-to-end run of the portal in headless Chromium (Debian's, through
// playwright-core) against a running `vidmocap serve`.
//
//   node web/e2e/portal.mjs <base-url> <video> <screenshot-dir> <grant-cmd...>
//
// The last arguments are a command run with the new account's email
// appended, which grants it credits (the test passes `vidmocap admin
// grant-credits ... --email`). Exits non-zero with a message on the first
// failed check.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, videoPath, shots, ...grant] = process.argv.slice(2);
if (!base || !videoPath || !shots || grant.length === 0) {
  console.error('usage: portal.mjs <base-url> <video> <screenshot-dir> <grant-cmd...>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const profile = mkdtempSync(join(tmpdir(), 'vidmocap-chromium-'));
// A fresh profile each run; Playwright passes it as --user-data-dir.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1200, height: 900 },
  acceptDownloads: true,
});
const consoleErrors = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`browser ${m.type()}: ${m.text()}`);
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Sign up.
  await page.goto(`${base}/#/signup`);
  const email = `e2e-${Date.now()}@example.com`;
  // By keyboard alone: the view focuses its main region, Tab reaches the fields.
  await page.waitForSelector('#auth');
  await page.keyboard.press('Tab');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct horse battery');
  await shot('signup');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#drop');
  check(true, 'signed up and reached the upload view');

  // What the API would refuse is refused before sending, in its words.
  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video') });
  await page.waitForFunction(() => document.querySelector('#clip-error').textContent.length > 0);
  check(/not a video/.test(await page.textContent('#clip-error')), 'a text file is refused before upload');

  // Credits, from the operator's command.
  execFileSync(grant[0], [...grant.slice(1), email], { stdio: 'inherit' });

  // Choose the clip: duration and cost shown before uploading.
  await page.setInputFiles('#file', videoPath);
  await page.waitForSelector('#clip-cost');
  const cost = Number(await page.textContent('#clip-cost'));
  check(cost > 0, `the clip's cost is shown before upload (${cost} credits)`);
  check(/s$/.test(await page.textContent('#clip-duration')), 'the clip duration is shown');
  await shot('upload-chosen');
  await page.click('#start');
  await page.waitForSelector('#job-form:not([hidden])', { timeout: 120000 });
  check(Number(await page.getAttribute('#bar', 'value')) === 100, 'the upload progress bar reached 100%');
  await shot('upload-done');

  // The same clip again by a presigned PUT and /complete (the path large
  // files and S3 take); this second upload is left unused.
  await page.evaluate(() => { localStorage.vidmocapDirectUpload = '1'; });
  await page.goto(`${base}/#/jobs`);
  await page.goto(`${base}/#/upload`);
  await page.setInputFiles('#file', videoPath);
  await page.waitForSelector('#clip-cost');
  await page.click('#start');
  await page.waitForSelector('#job-form:not([hidden])', { timeout: 120000 });
  check(/uploaded/.test(await page.textContent('#speed')), 'a presigned upload completed');
  await page.evaluate(() => { localStorage.removeItem('vidmocapDirectUpload'); });

  // Create the job and watch it over SSE.
  await page.click('#create button[type=submit]');
  await page.waitForSelector('#jobs tr');
  await shot('jobs-running');
  await page.waitForSelector('#jobs tr[data-state=succeeded]', { timeout: 540000 });
  check(true, 'the job list showed the job reach succeeded over SSE');
  await shot('jobs-done');

  // The viewer: the figure moves between two times.
  await page.click('#jobs tr[data-state=succeeded] a');
  await page.waitForFunction(() => window.vidmocapViewer && window.vidmocapViewer.duration() > 0, null, { timeout: 60000 });
  await page.click('#play'); // pause
  const canvas = page.locator('#stage canvas');
  const pics = [];
  const boxes = [];
  for (const frac of [0.2, 0.6]) {
    await page.locator('#scrub').fill(String(Math.round(frac * 1000)));
    await page.waitForTimeout(300);
    boxes.push(await page.evaluate(() => window.vidmocapViewer.figureBox()));
    pics.push((await canvas.screenshot({ path: join(shots, `viewer-${frac}.png`) })).toString('base64'));
  }
  await shot('viewer');
  const box = {
    x: Math.min(boxes[0].x, boxes[1].x), y: Math.min(boxes[0].y, boxes[1].y),
    x1: Math.max(boxes[0].x + boxes[0].w, boxes[1].x + boxes[1].w),
    y1: Math.max(boxes[0].y + boxes[0].h, boxes[1].y + boxes[1].h),
  };
  check(box.x1 - box.x > 4 && box.y1 - box.y > 4, `the figure is on the canvas (${JSON.stringify(box)})`);
  // Compare the two screenshots inside the figure's box, decoded by the browser.
  const changed = await page.evaluate(async ({ a, b, box }) => {
    const load = async (s) => createImageBitmap(await (await fetch(`data:image/png;base64,${s}`)).blob());
    const [ia, ib] = await Promise.all([load(a), load(b)]);
    const c = new OffscreenCanvas(ia.width, ia.height);
    const ctx = c.getContext('2d');
    const scale = ia.width / document.querySelector('#stage canvas').getBoundingClientRect().width;
    const x = Math.floor(box.x * scale); const y = Math.floor(box.y * scale);
    const w = Math.max(1, Math.ceil((box.x1 - box.x) * scale)); const h = Math.max(1, Math.ceil((box.y1 - box.y) * scale));
    ctx.drawImage(ia, 0, 0); const pa = ctx.getImageData(x, y, w, h).data;
    ctx.drawImage(ib, 0, 0); const pb = ctx.getImageData(x, y, w, h).data;
    let n = 0;
    for (let i = 0; i < pa.length; i += 4) {
      if (Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]) > 30) n += 1;
    }
    return n / (pa.length / 4);
  }, { a: pics[0], b: pics[1], box });
  check(changed > 0.005, `the figure moved between the two times (${(changed * 100).toFixed(1)}% of its box changed)`);

  // Download the GLB and parse it.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#downloads a[download="motion.glb"]'),
  ]);
  const glb = readFileSync(await download.path());
  check(glb.subarray(0, 4).toString('latin1') === 'glTF', 'the downloaded GLB starts with glTF');
  const jsonLen = glb.readUInt32LE(12);
  check(glb.readUInt32LE(16) === 0x4e4f534a, 'its first chunk is JSON');
  const gltf = JSON.parse(glb.subarray(20, 20 + jsonLen).toString('utf8'));
  check(gltf.asset && gltf.animations && gltf.animations.length > 0, 'its JSON parses and has an animation');

  // Cancel and delete: a job for the second upload, canceled from the list.
  const second = await page.evaluate(async () => {
    const ups = (await (await fetch('/v1/uploads')).json()).uploads;
    const jobs = (await (await fetch('/v1/jobs')).json()).jobs;
    const used = new Set(jobs.map((j) => j.upload_id));
    const u = ups.find((x) => !used.has(x.id));
    const r = await fetch('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ upload_id: u.id }) });
    return (await r.json()).id;
  });
  await page.goto(`${base}/#/jobs`);
  await page.click(`#job-${second} button[data-cancel]`);
  await page.waitForSelector(`#job-${second}[data-state=canceled]`, { timeout: 60000 });
  check(true, 'a job canceled from the list shows as canceled');
  await page.click(`#job-${second} button[data-delete]`);
  await page.waitForSelector(`#job-${second}`, { state: 'detached' });
  check(true, 'a deleted job left the list');

  // Account: credits, then delete with confirmation.
  await page.goto(`${base}/#/account`);
  await page.waitForSelector('#balance');
  check(Number(await page.textContent('#balance')) >= 0, 'the account shows a balance');
  await page.waitForSelector('#ledger tr');
  await shot('account');
  // API keys: created (shown once), listed, revoked.
  await page.fill('#key-name', 'e2e');
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#new-key code.key');
  check((await page.textContent('#new-key code.key')).length > 20, 'a new API key is shown once');
  await page.waitForSelector('#keys button[data-revoke]');
  await shot('account-key');
  await page.click('#keys button[data-revoke]');
  await page.waitForFunction(() => !document.querySelector('#keys button[data-revoke]'));
  check(true, 'the key was revoked and left the list');

  // Phone-sized screen: the jobs list and the account still fit.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#jobs tr');
  await shot('phone-jobs');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the jobs page fits a phone's width (overflow ${overflow}px)`);
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(`${base}/#/account`);
  await page.waitForSelector('#balance');

  const cookies = await context.cookies();
  await page.click('#delete-start');
  await page.fill('#delete-email', email);
  await page.click('#delete-form button[type=submit]');
  await page.waitForSelector('#auth');
  check(true, 'deleting the account returned to the login view');

  // The old session is refused on every page.
  await context.addCookies(cookies);
  for (const p of ['#/jobs', '#/upload', '#/account', '#/job/00000000-0000-0000-0000-000000000000']) {
    // A full load each time, so no view is left over from the last one.
    await page.goto('about:blank');
    await page.goto(`${base}/${p}`);
    await page.waitForURL(/#\/login$/, { timeout: 10000 });
    await page.waitForSelector('#auth', { timeout: 10000 });
    check(await page.isHidden('#nav'), `${p} refused the old session and showed login`);
  }
  await shot('login-after-delete');
  // A 401 answered by the server is logged by Chromium itself as a failed
  // resource; those are the refusals checked above, not page errors.
  const real = consoleErrors.filter((e) => !/status of 401/.test(e));
  check(real.length === 0, `no console errors (${real.join(' | ')})`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
