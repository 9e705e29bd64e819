// End-to-end run of the portal in headless Chromium (Debian's, through
// playwright-core) against a running `vidmocap serve`.
//
//   node web/e2e/portal.mjs <base-url> <landscape.mp4> <portrait.mp4> <nobody.mp4> <screenshot-dir> <grant-cmd...>
//
// <nobody.mp4> is a clip with no person in it (its job must fail). The last
// arguments are a command run with the new account's email appended, which
// grants it credits (the test passes `vidmocap admin grant-credits ...
// --email`). The server's Stripe is a local stand-in with a pack "small"
// (100 credits, €9), a pack "broken" whose price the stand-in refuses and a
// plan (500 credits a month, pro tier, €29). $VIDMOCAP_E2E_DEMO_DIR, when set, is the server's demo folder:
// the script fills it from its first job and checks the landing page's
// demo. Exits non-zero with a message on the first failed check.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  DESKTOP, PHONE, SIZES, axe as axeIn, check, launch, shotBoth as shotsOf,
} from './browser.mjs';

const [base, landscape, portrait, nobody, shots, ...grant] = process.argv.slice(2);
if (!base || !landscape || !portrait || !nobody || !shots || grant.length === 0) {
  console.error('usage: portal.mjs <base-url> <landscape> <portrait> <nobody> <screenshot-dir> <grant-cmd...>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const demoDir = process.env.VIDMOCAP_E2E_DEMO_DIR;

const {
  context, page, consoleErrors, close,
} = await launch({ acceptDownloads: true });
try {
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const shotBoth = (name, ready) => shotsOf(page, shots, name, ready);
  const axe = (what) => axeIn(page, what);
  const title = async (re, what) => check(re.test(await page.title()), `the ${what} page has its own title (${await page.title()})`);
  const focusNotLost = async (what) => {
    const tag = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    check(tag && tag !== 'BODY', `focus stays on the page's controls ${what} (on ${tag})`);
  };

  // ---- the visitor's landing page ------------------------------------------
  // The portal's first view with nothing cached, best of three loads (this
  // machine is shared): from the navigation's start to the prices shown, in
  // the page's own clock (an upper bound: it includes this call's trip).
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await page.goto(`${base}/healthz`);
  const loads = [];
  for (let i = 0; i < 3; i += 1) {
    await page.goto(`${base}/`);
    await page.waitForSelector('#price-per-second');
    loads.push(await page.evaluate(() => performance.now()));
    await page.goto(`${base}/healthz`);
  }
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await page.goto(`${base}/`);
  await page.waitForSelector('#price-per-second');
  const firstLoad = Math.min(...loads);
  check(firstLoad < 1000, `the landing page loads uncached with its prices in under 1 s (best ${firstLoad.toFixed(0)} ms of ${loads.map((x) => x.toFixed(0)).join(', ')})`);
  check(/motion capture/i.test(await page.textContent('h1')), 'the landing page says what the service does');
  check(Number(await page.textContent('#price-per-second')) > 0, 'it shows the price per second');
  const presets = await page.textContent('#price-presets');
  check(['Fast ×', 'Balanced ×', 'Best ×'].every((p) => presets.includes(p)), `it says what each accuracy preset costs (“${presets}”)`);
  check(await page.locator('#tiers tbody tr').count() >= 1, 'it lists the tiers');
  check(await page.locator('main a[href="#/signup"]').count() >= 1, 'it offers sign-up');
  await page.waitForSelector('#demo p');
  await title(/motion capture/i, 'landing');
  // The view focuses its heading, not the page: no ring around everything.
  check(await page.evaluate(() => document.activeElement.tagName) === 'H1', 'the landing view focuses its heading');
  await axe('the landing page');
  await shotBoth('landing');

  // ---- a wrong password says so ------------------------------------------
  await page.goto(`${base}/#/login`);
  await page.waitForSelector('#auth');
  await title(/log in/i, 'login');
  await page.fill('#email', 'nobody-here@example.com');
  await page.fill('#password', 'not the password');
  await page.click('#auth button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#auth-error').textContent.length > 0);
  const wrong = await page.textContent('#auth-error');
  check(/do not match/.test(wrong), `a wrong password or unknown email shows a message (“${wrong}”)`);
  await axe('the login page with its error');
  await shotBoth('login-wrong');

  // ---- sign up, by keyboard alone -----------------------------------------
  await page.goto(`${base}/#/signup`);
  const email = `e2e-${Date.now()}@example.com`;
  await page.waitForSelector('#auth');
  // The view focuses its heading; Tab reaches the fields.
  await page.keyboard.press('Tab');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct horse battery');
  // The 18+ box (ticked), the news box (left off), then Sign up.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Space');
  await page.keyboard.press('Tab');
  await axe('the signup page');
  await shotBoth('signup');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#drop');
  check(true, 'signed up by keyboard and reached the upload view');
  await title(/upload/i, 'upload');

  // What the API would refuse is refused before sending, in plain words.
  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a video') });
  await page.waitForFunction(() => document.querySelector('#clip-error').textContent.length > 0);
  const refusal = await page.textContent('#clip-error');
  check(/not a video/.test(refusal) && !/ffmpeg/i.test(refusal), `a text file is refused before upload, in plain words (“${refusal}”)`);

  // Credits, from the operator's command; the header shows them.
  execFileSync(grant[0], [...grant.slice(1), email], { stdio: 'inherit' });
  await page.goto(`${base}/#/jobs`);
  await page.waitForFunction(() => document.querySelector('#head-credits').textContent === '500 credits', null, { timeout: 10000 });
  check(true, 'the header shows the granted balance (500 credits)');

  // ---- buying credits: from the header's balance to Stripe Checkout ---------
  // The server's Stripe is the test's local stand-in (Stripe cannot be
  // reached from here); its "checkout page" is a plain local page.
  await page.click('#head-credits');
  await page.waitForSelector('#packs button[data-offer]');
  await title(/buy credits/i, 'buy credits');
  check(await page.evaluate(() => document.activeElement.tagName === 'H1'), 'the buy-credits view focuses its heading');
  const packs = (await page.textContent('#packs')).replace(/\s+/g, ' ');
  check(/100 credits/.test(packs) && /€9/.test(packs), `the packs are listed with their prices (${packs.trim()})`);
  const plans = (await page.textContent('#plans')).replace(/\s+/g, ' ');
  check(/500 credits a month, pro tier/.test(plans) && /€29/.test(plans), `the plans are listed with credits, tier and price (${plans.trim()})`);
  await axe('the buy-credits page');
  await shotBoth('buy-credits');
  // A pack Stripe refuses: the user's words, the buttons back, focus kept.
  await page.focus('#packs button[data-offer="broken"]');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#buy-error').textContent.length > 0);
  const refusedWords = await page.textContent('#buy-error');
  check(/Nothing was charged/.test(refusedWords) && !/stripe|price_/i.test(refusedWords), `a checkout that cannot open says so in plain words (“${refusedWords}”)`);
  check(await page.evaluate(() => document.activeElement.dataset.offer === 'broken'), 'focus stays on the chosen Buy button');
  check(await page.isEnabled('#packs button[data-offer="small"]'), 'the Buy buttons work again');
  const [checkoutCall] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/billing/checkout') && r.method() === 'POST'),
    page.click('#packs button[data-offer="small"]'),
  ]);
  check(JSON.parse(checkoutCall.postData()).offer === 'small', 'choosing a pack sends its checkout');
  await page.waitForURL(/\/pay\/cs_test_/, { timeout: 10000 });
  check(/Checkout stand-in/.test(await page.textContent('h1')), `the browser went to the checkout URL (${page.url()})`);
  // Back as Checkout's cancel link sends the user.
  await page.goto(`${base}/#/credits?checkout=canceled`);
  await page.waitForFunction(() => /nothing was charged/.test(document.querySelector('#checkout-note').textContent));
  check(true, 'back from a canceled checkout, the page says nothing was charged');
  check(Number(await page.textContent('#buy-available')) === 500, 'the balance is unchanged until a payment is confirmed');
  await page.goto(`${base}/#/upload`);

  // Choose the landscape clip: duration and cost shown before uploading.
  await page.setInputFiles('#file', landscape);
  await page.waitForSelector('#clip-cost');
  const cost = Number(await page.textContent('#clip-cost'));
  check(cost > 0, `the clip's cost is shown before upload (${cost} credits)`);
  check(/s$/.test(await page.textContent('#clip-duration')), 'the clip duration is shown');
  await shotBoth('upload-chosen');
  await page.focus('#start');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#job-form:not([hidden])', { timeout: 120000 });
  check(Number(await page.getAttribute('#bar', 'value')) === 100, 'the upload progress bar reached 100%');
  await focusNotLost('when the upload finishes');
  check(await page.evaluate(() => document.activeElement.id) === 'job-form-h', 'focus moves to the job form');
  check(await page.locator('#rig-mixamo-help').count() === 1 && await page.locator('#fmt-bvh-help').count() === 1, 'the rig and format choices are explained');
  // The accuracy presets, each with its price for this clip, before sending.
  const costNow = async () => Number(await page.textContent('#job-cost-n'));
  check(await page.isChecked('input[name=quality][value=balanced]'), 'the service\'s preset (balanced) is chosen by default');
  const balancedCost = await costNow();
  check(balancedCost === cost, `the job form's price is the one shown before upload (${balancedCost})`);
  await page.check('input[name=quality][value=best]');
  const bestCost = await costNow();
  await page.check('input[name=quality][value=fast]');
  const fastCost = await costNow();
  check(fastCost < balancedCost && balancedCost < bestCost, `each preset's price is shown before the job is sent (fast ${fastCost}, balanced ${balancedCost}, best ${bestCost})`);
  await axe('the upload page with the job form');
  await shotBoth('upload-done');
  await page.click('#create button[type=submit]');
  await page.waitForSelector('#jobs tr');
  const jobA = (await page.getAttribute('#jobs tr', 'id')).slice(4);
  check(/· Fast/.test(await page.textContent(`#job-${jobA} .settings`)), 'the list shows the job\'s preset');
  const priceA = await page.evaluate(async (id) => (await (await fetch(`/v1/jobs/${id}`)).json()).price, jobA);
  check(priceA === fastCost, `the job is charged the fast preset's price (${priceA})`);
  await title(/jobs/i, 'jobs');

  // ---- focus on Cancel through live progress updates ----------------------
  const cancelA = `#job-${jobA} button[data-cancel]`;
  await page.waitForSelector(`#job-${jobA}[data-state=running] progress`, { timeout: 300000 });
  await page.focus(cancelA);
  const progressValue = () => page.evaluate((id) => {
    const p = document.querySelector(`#job-${id} .status`);
    return p ? p.textContent : '';
  }, jobA);
  let seenTexts = new Set([await progressValue()]);
  const until = Date.now() + 120000;
  while (seenTexts.size < 3 && Date.now() < until) {
    await page.waitForTimeout(250);
    const state = await page.getAttribute(`#job-${jobA}`, 'data-state');
    if (state !== 'running') break;
    seenTexts.add(await progressValue());
  }
  check(seenTexts.size >= 3, `the job's row was updated live (${seenTexts.size - 1} progress updates seen)`);
  check(await page.evaluate((sel) => document.activeElement === document.querySelector(sel), cancelA),
    'keyboard focus stayed on the job\'s Cancel button through the progress updates');
  check(/left/.test(await progressValue()), `a running job shows its time left (“${(await progressValue()).trim().replace(/\s+/g, ' ')}”)`);
  await shotBoth('jobs-running');

  // The running job's own page: its live progress, not an empty viewer.
  await page.goto(`${base}/#/job/${jobA}`);
  await page.waitForSelector('#job-status progress', { timeout: 60000 }).catch(() => {});
  if (await page.locator('#job-status').count()) {
    check(/running|waiting/.test(await page.textContent('#job-status')), 'a running job\'s page shows its progress');
    await axe('a running job\'s page');
    await shotBoth('job-running');
  } else {
    check(await page.locator('#stage').count() === 1, 'the job finished before its page opened and shows its result');
  }

  // ---- the portrait clip by a presigned PUT (the path large files take) ---
  await page.evaluate(() => { localStorage.vidmocapDirectUpload = '1'; });
  await page.goto(`${base}/#/upload`);
  await page.setInputFiles('#file', portrait);
  await page.waitForFunction(() => !/reading…$/.test(document.querySelector('#clip-info').textContent), null, { timeout: 30000 });
  console.log(`portrait clip: ${await page.textContent('#clip-info')} ${await page.textContent('#clip-error')}`);
  await page.click('#start');
  await page.waitForSelector('#job-form:not([hidden])', { timeout: 120000 });
  check(/Uploaded/.test(await page.textContent('#speed')), 'a presigned upload completed');
  await page.evaluate(() => { localStorage.removeItem('vidmocapDirectUpload'); });
  await page.click('#create button[type=submit]');
  await page.waitForSelector('#jobs tr');

  // A clip with nobody in it (its job fails), and a job to cancel.
  const ids = await page.evaluate(async (bytes) => {
    const body = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
    const up = await (await fetch('/v1/uploads', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'X-Filename': 'empty-room.mp4' }, body })).json();
    const post = async (b) => (await (await fetch('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) })).json()).id;
    const jobs = (await (await fetch('/v1/jobs')).json()).jobs;
    const failing = await post({ upload_id: up.id, outputs: ['glb', 'keypoints'] });
    const doomed = await post({ upload_id: jobs[0].upload_id, rig: 'mixamo', outputs: ['glb', 'bvh'] });
    return { portraitJob: jobs[0].id, failing, doomed };
  }, readFileSync(nobody).toString('base64'));
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector(`#job-${ids.doomed} button[data-cancel]`);
  check(/Mixamo rig · GLB, BVH/.test(await page.textContent(`#job-${ids.doomed} .settings`)), 'the list shows each job\'s rig and formats');
  await page.click(`#job-${ids.doomed} button[data-cancel]`);
  await page.waitForSelector(`#job-${ids.doomed}[data-state=canceled]`, { timeout: 60000 });
  check(true, 'a job canceled from the list shows as canceled');
  check(/refunded/.test(await page.textContent(`#job-${ids.doomed} .cost`)), 'a canceled job\'s credits show as refunded');
  await focusNotLost('after canceling from the list');
  await page.click(`#job-${ids.doomed} button[data-delete]`);
  await page.waitForSelector(`#job-${ids.doomed}`, { state: 'detached' });
  check(true, 'a deleted job left the list');
  await focusNotLost('after deleting from the list');

  for (const id of [jobA, ids.portraitJob, ids.failing]) {
    await page.waitForSelector(`#job-${id}:is([data-state=succeeded], [data-state=failed])`, { timeout: 900000 });
  }
  check(await page.getAttribute(`#job-${jobA}`, 'data-state') === 'succeeded', 'the landscape job succeeded, followed over SSE');
  const metaA = await page.evaluate(async (id) => (await (await fetch(`/v1/jobs/${id}`)).json()).metadata, jobA);
  check(metaA.preset === 'fast', `the worker ran the preset the job asked for (${metaA.preset})`);
  check(await page.getAttribute(`#job-${ids.portraitJob}`, 'data-state') === 'succeeded', 'the portrait job succeeded');
  const rowA = await page.textContent(`#job-${jobA}`);
  check(rowA.includes(basename(landscape)) && /\d\.\d s/.test(rowA), `the list names the clip and its length (${rowA.trim().replace(/\s+/g, ' ').slice(0, 80)}…)`);
  await axe('the jobs list');
  await shotBoth('jobs-done');

  // ---- the failed job: its reason in plain words, and a retry -------------
  await page.goto(`${base}/#/job/${ids.failing}`);
  await page.waitForSelector('#job-reason');
  const reason = await page.textContent('#job-reason');
  check(/person|motion/i.test(reason) && !/ffmpeg|onnx|ort\b/i.test(reason), `a failed job's page gives the reason in plain words (“${reason}”)`);
  check(/returned/.test(await page.textContent('#job-body')), 'it says the credits were returned');
  await title(/failed/, 'failed job');
  await axe('a failed job\'s page');
  await shotBoth('job-failed');
  // The retried clip fails within a second or two once a worker takes it;
  // a job ahead of it in the queue keeps the one worker busy so that the
  // cancel below meets a job that is still waiting, not one that already
  // failed.
  const blocker = await page.evaluate(async (uploadOf) => {
    const jobs = (await (await fetch('/v1/jobs')).json()).jobs;
    const up = jobs.find((j) => j.id === uploadOf).upload_id;
    return (await (await fetch('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ upload_id: up, outputs: ['glb'] }) })).json()).id;
  }, jobA);
  await page.click('#retry');
  await page.waitForFunction((old) => location.hash.startsWith('#/job/') && !location.hash.endsWith(old), ids.failing);
  await page.waitForSelector('#job-cancel');
  check(true, 'Try again created the same job again and opened its page');
  await page.click('#job-cancel');
  await page.waitForSelector('#job-reason', { timeout: 60000 });
  check(/canceled/.test(await page.textContent('#job-reason')), 'canceling from the job\'s page shows it canceled');
  await page.evaluate(async (id) => { await fetch(`/v1/jobs/${id}/cancel`, { method: 'POST' }); }, blocker);

  // ---- the viewers: overlay aligned, figure framed, keyboard orbit --------
  const keypointsOf = (id) => page.evaluate(async (jid) => {
    const outs = (await (await fetch(`/v1/jobs/${jid}/outputs`)).json()).outputs;
    return (await fetch(outs.find((o) => o.name === 'keypoints.json').url)).json();
  }, id);
  const scrubTo = async (frac) => {
    await page.locator('#scrub').fill(String(Math.round(frac * 1000)));
    // Paused, the viewer snaps the camera and seeks the video on its next
    // frame; let the seek land.
    await page.waitForTimeout(100);
    await page.waitForFunction(() => {
      const v = document.querySelector('#video');
      return !v.src || (!v.seeking && v.readyState >= 2);
    }, null, { timeout: 10000 });
    await page.waitForTimeout(150);
  };
  // Where the overlay drew the ankles against where keypoints.json puts
  // them in the video's displayed picture (object-fit: contain), as a share
  // of the picture's height on screen.
  const ankleError = (kp) => page.evaluate((kp) => {
    const d = window.vidmocapViewer.overlay();
    if (!d) return null;
    const f = kp.frames.find((x) => x.frame === d.frame);
    const v = document.querySelector('#video');
    const c = document.querySelector('#overlay');
    const vr = v.getBoundingClientRect();
    const s = Math.min(vr.width / v.videoWidth, vr.height / v.videoHeight);
    const pw = v.videoWidth * s;
    const ph = v.videoHeight * s;
    const x0 = vr.left + (vr.width - pw) / 2;
    const y0 = vr.top + (vr.height - ph) / 2;
    const cr = c.getBoundingClientRect();
    const ctx = c.getContext('2d');
    let worst = 0;
    let painted = true;
    for (const i of [27, 28]) {
      const [lx, ly] = f.landmarks[i];
      const ex = x0 + (lx * pw) / kp.video.upright_width;
      const ey = y0 + (ly * ph) / kp.video.upright_height;
      const [cx, cy] = d.points[i];
      const ax = cr.left + (cx * cr.width) / c.width;
      const ay = cr.top + (cy * cr.height) / c.height;
      worst = Math.max(worst, Math.hypot(ax - ex, ay - ey) / ph);
      if (f.landmarks[i][3] >= 0.3) painted &&= ctx.getImageData(Math.round(cx), Math.round(cy), 1, 1).data[3] > 0;
    }
    return { worst, painted, videoAt: v.currentTime, frameAt: f.time_s, fps: kp.fps };
  }, kp);

  const inspect = async (id, which) => {
    const kp = await keypointsOf(id);
    await page.goto(`${base}/#/job/${id}`);
    await page.waitForFunction(() => window.vidmocapViewer && window.vidmocapViewer.duration() > 0, null, { timeout: 60000 });
    await page.waitForFunction(() => document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
    await page.click('#play'); // pause
    const withPose = kp.frames.filter((f) => f.landmarks);
    const t0 = kp.frames.find((f) => f.frame === kp.first_frame).time_s;
    for (const [size, vp] of SIZES) {
      await page.setViewportSize(vp);
      // Frames with a pose across the clip: the overlay sits on the picture.
      for (const frac of [0.25, 0.5, 0.75]) {
        const f = withPose[Math.floor(frac * (withPose.length - 1))];
        const dur = await page.evaluate(() => window.vidmocapViewer.duration());
        await scrubTo(Math.min((f.time_s - t0 + 0.01) / dur, 1));
        const e = await ankleError(kp);
        check(e && e.worst <= 0.02 && e.painted, `${which} at ${vp.width}x${vp.height}: the overlay's ankles are within 2% of the frame height of keypoints.json (${e && (e.worst * 100).toFixed(2)}%)`);
        check(Math.abs(e.videoAt - e.frameAt) <= 1.5 / e.fps, `${which}: the video shows the overlay's frame (${e.videoAt.toFixed(3)} s vs ${e.frameAt.toFixed(3)} s)`);
      }
      await shot(`viewer-${which}-${size}`);
    }
    await page.setViewportSize(DESKTOP);
    return kp;
  };

  const kpA = await inspect(jobA, 'landscape');
  await title(/walk|\.mp4/i, 'viewer');
  // The followed figure fills the 3D view at every sampled time, on the ground.
  const heights = [];
  for (let i = 0; i <= 10; i += 1) {
    await scrubTo(i / 10);
    const b = await page.evaluate(() => ({ ...window.vidmocapViewer.figureBox(), floor: window.vidmocapViewer.floorY(), low: window.vidmocapViewer.lowestBone() }));
    heights.push(b.h / b.viewH);
    check(b.low >= b.floor - 0.01, `at ${i * 10}% of the clip the feet are not below the ground (lowest bone ${b.low.toFixed(2)} m, ground ${b.floor.toFixed(2)} m)`);
  }
  check(Math.min(...heights) >= 0.3, `the figure's box is at least 30% of the 3D view's height at every sampled time (least ${(Math.min(...heights) * 100).toFixed(0)}%, most ${(Math.max(...heights) * 100).toFixed(0)}%)`);
  // Gaps: frames of the followed span without a pose are marked.
  // Frames without a detected pose: gaps, and frames filled or bridged.
  const gaps = kpA.frames.filter((f) => f.world && (f.filled || f.bridged || !f.pose || !f.landmarks)).length;
  const marks = await page.locator('#gaps span').count();
  check(gaps > 0 ? marks > 0 : marks === 0, `the timeline marks the ${gaps} frames without a detected pose (${marks} marks)`);
  const said = await page.textContent('#quality');
  check(said.includes('Motion quality:') && said.includes('2D error'), `the quality is said in words (“${said}”)`);
  const spanFrames = kpA.frames.filter((f) => f.world).length;
  const countSaid = gaps
    ? `${spanFrames - gaps} of the ${spanFrames} frames have a detected pose`
    : `Every one of the ${spanFrames} frames has a detected pose`;
  check(said.includes(countSaid), `the words count only detected frames as detected (“${countSaid}”)`);
  const tilt = kpA.quality && kpA.quality.ground_tilt_deg;
  if (tilt >= 0.5) check(said.includes(`tilted ${tilt.toFixed(0)}°`), `the ground's tilt (${tilt.toFixed(1)}°) is said`);
  // The 3D view has a text alternative and orbits by keyboard.
  const alt = await page.getAttribute('#stage canvas', 'aria-label');
  check(alt && alt.length > 20 && await page.getAttribute('#stage canvas', 'role') === 'img', `the 3D view has a text alternative (“${alt}”)`);
  const before = await page.evaluate(() => window.vidmocapViewer.figureBox());
  await page.focus('#stage canvas');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('+');
  await page.waitForTimeout(200);
  const after = await page.evaluate(() => window.vidmocapViewer.figureBox());
  check(Math.abs(after.x - before.x) + Math.abs(after.h - before.h) > 2, `arrow keys and + orbit and zoom the 3D view (box ${before.h.toFixed(0)} → ${after.h.toFixed(0)} px high)`);
  // The figure moves between two times.
  const canvas = page.locator('#stage canvas');
  await page.uncheck('#follow');
  const pics = [];
  const boxes = [];
  for (const frac of [0.2, 0.6]) {
    await scrubTo(frac);
    boxes.push(await page.evaluate(() => window.vidmocapViewer.figureBox()));
    pics.push((await canvas.screenshot()).toString('base64'));
  }
  const box = {
    x: Math.min(boxes[0].x, boxes[1].x), y: Math.min(boxes[0].y, boxes[1].y),
    x1: Math.max(boxes[0].x + boxes[0].w, boxes[1].x + boxes[1].w),
    y1: Math.max(boxes[0].y + boxes[0].h, boxes[1].y + boxes[1].h),
  };
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
  await page.check('#follow');
  await axe('the viewer');

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
  if (demoDir) {
    // The operator's demo, made from this job as `make serve` makes it.
    writeFileSync(join(demoDir, 'motion.glb'), glb);
    writeFileSync(join(demoDir, 'keypoints.json'), JSON.stringify(kpA));
    copyFileSync(landscape, join(demoDir, 'demo.mp4'));
  }

  await inspect(ids.portraitJob, 'portrait');

  // ---- the people of the landscape clip: choose another, re-solved -------
  await page.goto(`${base}/#/job/${jobA}`);
  await page.waitForSelector('#people:not([hidden]) .track img');
  const people = await page.locator('#tracks .track').count();
  check(people >= 2, `the finished job lists its people (${people})`);
  // Pictures load after the list renders: wait until each has finished
  // (loaded or failed), then ask whether each one decoded.
  await page.waitForFunction(() => [...document.querySelectorAll('#tracks img')].every((i) => i.complete), null, { timeout: 15000 });
  const thumbsOk = await page.evaluate(() => [...document.querySelectorAll('#tracks img')].every((i) => i.naturalWidth > 0));
  check(thumbsOk, 'each person has a picture that loaded');
  await axe('the people of a job');
  await shotBoth('job-people');
  const other = await page.getAttribute('#tracks button[data-person]', 'data-person');
  const creditsBefore = await page.evaluate(async () => (await (await fetch('/v1/account')).json()).credits.available);
  await page.click(`#tracks button[data-person="${other}"]`);
  await page.waitForFunction((old) => location.hash.startsWith('#/job/') && !location.hash.endsWith(old), jobA);
  const resolvedId = await page.evaluate(() => location.hash.slice('#/job/'.length));
  await page.waitForSelector('#people:not([hidden]) .track', { timeout: 300000 });
  const followedNow = await page.evaluate((id) => document.querySelector(`#track-${id}`).textContent.includes('followed'), other);
  check(followedNow, `the re-solve follows person ${other} and shows its result`);
  const resolved = await page.evaluate(async (id) => (await (await fetch(`/v1/jobs/${id}`)).json()), resolvedId);
  const creditsAfter = await page.evaluate(async () => (await (await fetch('/v1/account')).json()).credits.available);
  check(resolved.price === 1 && creditsBefore - creditsAfter === 1, `the re-solve cost the fee once (${resolved.price} credit, balance ${creditsBefore} → ${creditsAfter})`);

  // ---- account: credits, keys, then delete with confirmation ---------------
  await page.goto(`${base}/#/account`);
  await page.waitForSelector('#balance');
  check(Number(await page.textContent('#balance')) >= 0, 'the account shows a balance');
  await page.waitForSelector('#ledger tr');
  await title(/account/i, 'account');
  await axe('the account page');
  await shotBoth('account');
  await page.fill('#key-name', 'e2e');
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#new-key code.key');
  check((await page.textContent('#new-key code.key')).length > 20, 'a new API key is shown once');
  await page.waitForSelector('#keys button[data-revoke]');
  await page.click('#keys button[data-revoke]');
  await page.waitForFunction(() => !document.querySelector('#keys button[data-revoke]'));
  check(true, 'the key was revoked and left the list');

  // Retention: shorter uploads, results for 14 days, then no-retain.
  check(await page.inputValue('#ret-upload') === '30', 'uploads are kept 30 days by default');
  check(await page.isChecked('#ret-keep-outputs'), 'results are kept by default');
  await page.fill('#ret-upload', '7');
  await page.uncheck('#ret-keep-outputs');
  await page.fill('#ret-output', '14');
  await page.check('#ret-no-retain');
  await page.click('#retention-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#ret-status').textContent === 'Saved.');
  const kept = await page.evaluate(async () => (await (await fetch('/v1/account/retention')).json()));
  check(kept.upload_retention_days === 7 && kept.output_retention_days === 14 && kept.no_retain === true,
    `the retention settings were saved (${JSON.stringify(kept)})`);
  await page.reload();
  // Finished jobs are told apart by whom they solved.
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector(`#job-${jobA} .pic`);
  const picture = (id) => page.evaluate((i) => {
    const img = document.querySelector(`#job-${i} img.thumb`);
    return img ? { done: img.complete, w: img.naturalWidth } : null;
  }, id);
  await page.waitForFunction((i) => { const img = document.querySelector(`#job-${i} img.thumb`); return img && img.complete; }, jobA, { timeout: 30000 }).catch(() => {});
  const picA = await picture(jobA);
  check(picA && picA.w > 0, `a finished job shows a picture of the person it solved (${JSON.stringify(picA)})`);
  check(await picture(ids.failing) === null && await page.locator(`#job-${ids.failing} .thumb`).count() === 1, 'a failed job shows an empty square, no broken picture');
  await shotBoth('jobs-finished');
  await page.goto(`${base}/#/account`);
  await page.waitForSelector('#balance');
  await page.waitForFunction(() => document.querySelector('#ret-upload').value === '7');
  check(await page.isChecked('#ret-no-retain') && await page.inputValue('#ret-output') === '14',
    'the account page shows the saved retention');
  await axe('the account page with retention changed');

  // Phone-sized screen: the jobs list fits.
  await page.setViewportSize(PHONE);
  await page.goto(`${base}/#/jobs`);
  await page.waitForSelector('#jobs tr');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the jobs page fits a phone's width (overflow ${overflow}px)`);
  await page.setViewportSize(DESKTOP);
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

  // ---- the landing page's demo, playing -------------------------------------
  if (demoDir) {
    await page.goto('about:blank');
    await page.goto(`${base}/`);
    await page.waitForFunction(() => window.vidmocapViewer && window.vidmocapViewer.duration() > 0, null, { timeout: 30000 });
    console.log(`the landing page with its demo viewer running took ${(await page.evaluate(() => performance.now())).toFixed(0)} ms`);
    const t1 = await page.evaluate(() => window.vidmocapViewer.time());
    await page.waitForTimeout(700);
    const playing = await page.evaluate(() => ({ t: window.vidmocapViewer.time(), v: document.querySelector('#video').currentTime }));
    check(playing.t !== t1 && playing.v > 0, `the landing page plays the demo clip beside its 3D result (figure at ${playing.t.toFixed(2)} s, video at ${playing.v.toFixed(2)} s)`);
    await axe('the landing page with its demo');
    await shotBoth('landing-demo');
  }
  // A 401 answered by the server is logged by Chromium itself as a failed
  // resource, as is the 502 of the checkout Stripe refused; those are the
  // refusals checked above, not page errors.
  const real = consoleErrors.filter((e) => !/status of (401|502)/.test(e));
  check(real.length === 0, `no console errors (${real.join(' | ')})`);
} finally {
  await close();
}
