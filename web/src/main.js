// The portal's views, switched by the URL's hash: the landing page for
// visitors, login, signup, upload, jobs, one job (its progress, failure or
// viewer), account, buying credits; settings and the pages mailed links
// open are in account.js. Every view fetches what it shows.
import { api, uploadFile, setUnauthorizedHandler, whoami } from './api.js';
import { say } from './words.js';
import {
  forgotLink, publicRoute, PUBLIC_ROUTES, settingsView, signupChoices, signupConsent,
} from './account.js';
import { mountWebhooks, webhooksSection } from './webhooks.js';
import { showProviders, signInError } from './oidc.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const visitorNav = document.getElementById('visitor-nav');
let cleanup = () => {};

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const el = (id) => document.getElementById(id);

function toast(msg) {
  const t = el('toast');
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 4000);
}

// An ended session has already sent the user to the login view; every
// other failure (a wrong password's 401 among them) is said where it arose.
function showError(target, err) {
  if (err && err.code === 'auth.required') return;
  target.textContent = say(err);
}

// Views render after awaits; a view the user has left must not write.
let viewGen = 0;
const current = (gen) => gen === viewGen;

// A new view: its title, and focus on its heading (not the whole page, so
// no focus ring frames it) for screen readers and the next Tab.
function view(title, html) {
  viewGen += 1;
  cleanup();
  cleanup = () => {};
  document.title = `${title} · vidmocap`;
  main.innerHTML = html;
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
}

function showNav(loggedIn) {
  nav.hidden = !loggedIn;
  visitorNav.hidden = loggedIn;
}

setUnauthorizedHandler(() => {
  showNav(false);
  if (!location.hash.startsWith('#/login')) {
    location.hash = '#/login';
  }
});

// The balance in the header: what the account may still spend.
async function refreshCredits() {
  try {
    const a = await api('/v1/account');
    const head = el('head-credits');
    head.textContent = creditCount(a.credits.available);
    head.setAttribute('aria-label', `${a.credits.available} credits: buy more`);
  } catch { /* the view shows its own error */ }
}

const fmtSecs = (s) => (s == null ? '' : `${Number(s).toFixed(1)} s`);
const FORMAT_NAMES = { glb: 'GLB', keypoints: 'keypoints.json', fbx: 'FBX', bvh: 'BVH', csv: 'CSV', json: 'keypoints.json' };

// ---- the viewer's markup, shared by a job and the landing page's demo ------
function viewerMarkup(caption) {
  return `<div class="viewer">
      <figure><div id="stage" class="stage3d"></div><figcaption class="muted">${caption.figure}</figcaption></figure>
      <figure><div class="src"><video id="video" muted playsinline aria-label="${esc(caption.videoLabel)}"></video><canvas id="overlay" aria-hidden="true"></canvas></div>
        <figcaption class="muted">${caption.video}</figcaption></figure>
    </div>
    <p id="frame-flag" class="flag" hidden></p>
    <div class="controls">
      <div class="row">
        <button id="play" type="button">Pause</button>
        <div class="timeline"><input id="scrub" type="range" min="0" max="1000" value="0" aria-label="Time" aria-describedby="quality">
          <div id="gaps" class="gaps" aria-hidden="true"></div></div>
        <span id="time" class="muted">0.00 s</span>
      </div>
      <div class="row">
        <label class="row">Speed <select id="speed-sel">
          <option value="0.25">0.25×</option><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option>
        </select></label>
        <label class="row"><input id="follow" type="checkbox" checked> Camera follows the figure</label>
      </div>
    </div>
    <p id="quality" class="muted"></p>`;
}

// three.js loads only with a viewer, so the first view stays small.
async function startViewer(gen, { glbBytes, keypoints, videoUrl, label }) {
  const { openViewer } = await import('./viewer.js');
  if (!current(gen)) { if (videoUrl) URL.revokeObjectURL(videoUrl); return; }
  const viewer = await openViewer({
    stage: el('stage'), video: el('video'), overlay: el('overlay'), glbBytes, keypoints, videoUrl, label,
    controls: {
      play: el('play'), scrub: el('scrub'), time: el('time'), speed: el('speed-sel'), follow: el('follow'),
      gaps: el('gaps'), flag: el('frame-flag'), quality: el('quality'),
    },
  });
  const dispose = () => {
    viewer.dispose();
    if (!videoUrl) return;
    // Detach the video first: a revoked URL it still reads from is a
    // failed load in the console.
    const v = document.getElementById('video');
    if (v && v.src === videoUrl) { v.pause(); v.removeAttribute('src'); v.load(); }
    URL.revokeObjectURL(videoUrl);
  };
  if (current(gen)) cleanup = dispose; else dispose();
}

// ---- landing page for visitors ---------------------------------------------
async function landingView() {
  showNav(false);
  view('3D motion capture from any video', `<section class="hero"><h1>Turn a video of a person into 3D motion capture</h1>
      <p>Upload a clip filmed with any camera or phone. vidmocap finds the body in every frame, solves a humanoid
        skeleton and hands you an animated GLB, FBX or BVH for Blender, Unity or Unreal, plus every frame's landmarks.
        No suit, no markers, no studio.</p>
      <p class="row"><a class="button" href="#/signup">Create a free account</a> <a href="#/login">Log in</a></p></section>
    <section id="demo-section" aria-labelledby="demo-h"><h2 id="demo-h">See it work</h2><div id="demo"><p class="muted">Loading the demo…</p></div></section>
    <section aria-labelledby="price-h"><h2 id="price-h">Prices</h2><p id="price-line">Loading prices…</p>
      <table id="tiers"><caption class="muted">What each plan allows</caption>
        <thead><tr><th scope="col">Plan</th><th scope="col">Longest clip</th><th scope="col">Jobs at once</th><th scope="col">Queue</th></tr></thead><tbody></tbody></table>
      <p class="muted">Credits are held when a job starts and returned if it fails or is canceled; you pay only for finished jobs.</p></section>
    <section aria-labelledby="how-h"><h2 id="how-h">How it works</h2><ol>
      <li>Sign up and upload a clip; its length and price show before a byte is sent.</li>
      <li>Pick the skeleton's naming (generic, Mixamo, Unreal 5) and the files you want.</li>
      <li>Watch the progress live, then check the result side by side with your video and download it.</li></ol>
      <p><a class="button" href="#/signup">Sign up</a></p></section>`);
  const gen = viewGen;
  let pricing = null;
  try {
    pricing = await api('/v1/pricing');
  } catch (err) {
    if (current(gen)) showError(el('price-line'), err);
  }
  if (!current(gen)) return;
  if (pricing) {
    const per = pricing.credits_per_second;
    el('price-line').innerHTML = `<strong id="price-per-second">${per}</strong> credit${per === 1 ? '' : 's'} per second of video, rounded up, at least <strong>${pricing.min_job_credits}</strong> credits per job: a 10-second clip costs ${Math.max(Math.ceil(10 * per), pricing.min_job_credits)} credits.`
      + presetFactors(pricing);
    el('tiers').querySelector('tbody').innerHTML = pricing.tiers
      .map((t) => `<tr><th scope="row">${esc(t.name)}${t.name === pricing.default_tier ? ' <span class="muted">(new accounts)</span>' : ''}</th><td>${t.max_clip_s} s</td><td>${t.max_running}</td><td>${t.priority > 0 ? 'ahead' : 'standard'}</td></tr>`)
      .join('');
  }
  if (!pricing || !pricing.demo) {
    el('demo').innerHTML = '<p>The demo is not set up on this server. Sign up to try a clip of your own: you see its price before uploading.</p>';
    return;
  }
  el('demo').innerHTML = viewerMarkup({
    figure: 'The 3D result: a skeleton solved from the video.',
    video: 'The demo clip, with the detected body drawn over it.',
    videoLabel: 'Demo clip',
  });
  try {
    const [glbBytes, keypoints, video] = await Promise.all([
      fetch('/v1/demo/motion.glb').then((r) => r.arrayBuffer()),
      fetch('/v1/demo/keypoints.json').then((r) => r.json()),
      fetch('/v1/demo/demo.mp4').then((r) => r.blob()),
    ]);
    if (!current(gen)) return;
    await startViewer(gen, { glbBytes, keypoints, videoUrl: URL.createObjectURL(video), label: 'The demo clip\'s motion on a 3D skeleton' });
  } catch {
    if (current(gen)) el('demo').innerHTML = '<p>The demo could not be loaded just now.</p>';
  }
}

// ---- sign up / log in ----------------------------------------------------
function authView(kind, params = new URLSearchParams()) {
  const signup = kind === 'signup';
  showNav(false);
  view(signup ? 'Create an account' : 'Log in', `<section><h1>${signup ? 'Create an account' : 'Log in'}</h1>
    <form id="auth" novalidate>
      <label>Email <input id="email" type="email" autocomplete="email" required></label>
      <label>Password <input id="password" type="password" minlength="8" aria-describedby="pw-help"
        autocomplete="${signup ? 'new-password' : 'current-password'}" required></label>
      ${signup ? '<p id="pw-help" class="muted">At least 8 characters. New accounts start on the free plan.</p>' : '<p id="pw-help" class="muted" hidden></p>'}
      ${signup ? signupConsent() : ''}
      <button type="submit">${signup ? 'Sign up' : 'Log in'}</button>
      <p id="auth-error" class="error" role="alert"></p>
    </form>
    ${signup ? '' : forgotLink()}
    <div id="sign-in-with" hidden></div>
    <p>${signup ? 'Have an account? <a href="#/login">Log in</a>' : 'New here? <a href="#/signup">Create an account</a>'}</p>
  </section>`);
  showProviders(el('sign-in-with'));
  // A provider's sign-in that the server refused comes back here.
  if (params.get('error')) el('auth-error').textContent = signInError(params.get('error'));
  el('auth').addEventListener('submit', async (e) => {
    e.preventDefault();
    el('auth-error').textContent = '';
    try {
      const body = { email: el('email').value, password: el('password').value };
      await api(`/v1/auth/${kind}`, { method: 'POST', body: signup ? { ...body, ...signupChoices(el) } : body });
      location.hash = '#/upload';
    } catch (err) {
      showError(el('auth-error'), err);
      if (err.code === 'auth.age_unconfirmed') el('over-18').focus();
    }
  });
}

// ---- upload ----------------------------------------------------------------
function fmtBytes(n) {
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function clipDuration(file) {
  return new Promise((resolve) => {
    const v = document.createElement('video');
    v.preload = 'metadata';
    const url = URL.createObjectURL(file);
    // The element is detached before the URL is revoked: it may still be
    // reading ahead, and a revoked URL is a failed load in the console.
    const done = (d) => {
      v.onerror = null;
      v.removeAttribute('src');
      v.load();
      URL.revokeObjectURL(url);
      resolve(d);
    };
    v.onloadedmetadata = () => done(Number.isFinite(v.duration) ? v.duration : null);
    v.onerror = () => done(null);
    v.src = url;
  });
}

// The quality presets: which BlazePose landmark model runs, and its price factor.
const QUALITIES = [
  ['fast', 'Fast', 'BlazePose lite: quickest, least accurate; for previews and blocking.'],
  ['balanced', 'Balanced', 'BlazePose full: the default, accurate enough for most shots.'],
  ['best', 'Best', 'BlazePose heavy: the most accurate hands, feet and depth; about three times the compute.'],
];
const QUALITY_NAMES = Object.fromEntries(QUALITIES.map(([v, name]) => [v, name]));

// The landing page's line on what accuracy does to the price.
function presetFactors(pricing) {
  const f = pricing.quality_factors;
  if (!f) return '';
  const each = QUALITIES.map(([v, name]) => `${name} ×${f[v]}${v === pricing.default_quality ? ' (the default)' : ''}`);
  return ` <span id="price-presets">The accuracy you choose scales that price: ${each.join(', ')}.</span>`;
}

// Credits a clip of `d` seconds costs at quality `q`, as the API prices it.
function clipCost(limits, d, q) {
  const factor = (limits.quality_factors || {})[q] ?? 1;
  return Math.max(Math.ceil(d * limits.credits_per_second * factor), limits.min_job_credits);
}

const RIGS = [
  ['generic', 'Generic', 'vidmocap\'s own bone names (hips, spine, left_upper_leg…); retarget it in any tool.'],
  ['mixamo', 'Mixamo', 'Mixamo\'s bone names: drops onto Mixamo characters and the Blender and Unity presets made for them.'],
  ['ue5', 'Unreal Engine 5', 'The UE5 mannequin\'s bone names (pelvis, spine_01…), for retargeting to Manny and Quinn.'],
];
const FORMATS = [
  ['glb', 'The animated 3D figure (glTF): opens in Blender, three.js and most viewers. The preview here needs it.', true],
  ['keypoints', 'Every frame\'s 2D and 3D body landmarks as JSON: the overlay and the gap marks of the preview need it.', true],
  ['fbx', 'The animation for Maya, MotionBuilder, Unity and Unreal.', false],
  ['bvh', 'The plain motion-capture skeleton for Blender, MotionBuilder and most mocap tools.', false],
  ['csv', 'The landmarks as a table, for spreadsheets and scripts.', false],
];

async function uploadView() {
  view('Upload a video', `<section><h1>Upload a video</h1>
    <div id="drop" class="drop">
      <p>Drop a video here, or</p>
      <label class="row" style="justify-content:center">Choose a file
        <input id="file" type="file" accept="video/*"></label>
    </div>
    <div id="chosen" hidden>
      <p id="clip-info"></p>
      <p id="clip-error" class="error" role="alert"></p>
      <div class="row">
        <button id="start" type="button">Upload</button>
        <button id="cancel-upload" type="button" class="secondary" hidden>Cancel upload</button>
      </div>
      <progress id="bar" max="100" value="0" aria-label="Upload progress" hidden></progress>
      <p id="speed" class="muted" aria-live="polite"></p>
    </div>
  </section>
  <section id="job-form" hidden><h2 id="job-form-h" tabindex="-1">Create the job</h2>
    <form id="create">
      <fieldset id="quality"><legend>Accuracy</legend>
        ${QUALITIES.map(([v, name, help]) => `<label><input type="radio" name="quality" value="${v}" aria-describedby="q-${v}-help"> ${name}</label><p id="q-${v}-help" class="muted help">${help} <span class="q-cost" data-q="${v}"></span></p>`).join('')}
      </fieldset>
      <fieldset><legend>Skeleton naming (rig)</legend>
        ${RIGS.map(([v, name, help], i) => `<label><input type="radio" name="rig" value="${v}" ${i === 0 ? 'checked' : ''} aria-describedby="rig-${v}-help"> ${name}</label><p id="rig-${v}-help" class="muted help">${help}</p>`).join('')}
      </fieldset>
      <fieldset><legend>Files to make</legend>
        ${FORMATS.map(([f, help, on]) => `<label><input type="checkbox" name="fmt" value="${f}" ${on ? 'checked' : ''} aria-describedby="fmt-${f}-help"> ${FORMAT_NAMES[f]}</label><p id="fmt-${f}-help" class="muted help">${help}</p>`).join('')}
      </fieldset>
      <p class="muted">The person followed is chosen for you: the one most in view. <!-- person picker: needs the models-and-people issue's routes --></p>
      <label><input id="keep" type="checkbox" checked aria-describedby="keep-help"> Keep the video</label>
      <p id="keep-help" class="muted help">Needed to show the result side by side with the video; uploads are deleted after 30 days.</p>
      <p id="job-cost" aria-live="polite"></p>
      <button type="submit">Start the job</button>
      <p id="create-error" class="error" role="alert"></p>
    </form>
  </section>`);
  const gen = viewGen;
  let limits;
  let acct;
  try {
    [limits, acct] = await Promise.all([api('/v1/account/limits'), api('/v1/account')]);
  } catch (err) {
    if (current(gen)) showError(el('clip-error'), err);
    return;
  }
  if (!current(gen)) return;
  const def = document.querySelector(`input[name=quality][value=${limits.default_quality || 'balanced'}]`);
  if (def) def.checked = true;
  let file = null;
  let upload = null;
  let pending = null;
  // Each preset's price for the uploaded clip, and the chosen one's total,
  // shown before the job is sent.
  const showCosts = () => {
    if (!upload) return;
    // The server's prices for this upload; the same rule computed here
    // only if an older server sent none.
    const cost = (q) => (upload.prices || {})[q] ?? clipCost(limits, upload.duration_s, q);
    for (const s of document.querySelectorAll('.q-cost')) s.textContent = `${cost(s.dataset.q)} credits for this clip.`;
    const q = document.querySelector('input[name=quality]:checked').value;
    el('job-cost').innerHTML = `This job costs <strong id="job-cost-n">${cost(q)}</strong> credits (${QUALITY_NAMES[q]}); you have ${acct.credits.available}.`;
  };
  for (const r of document.querySelectorAll('input[name=quality]')) r.addEventListener('change', showCosts);
  const choose = async (f) => {
    file = null;
    el('chosen').hidden = false;
    el('job-form').hidden = true;
    el('clip-error').textContent = '';
    el('clip-info').textContent = `${f.name}, ${fmtBytes(f.size)}: reading…`;
    // The same refusals as the API, in its words, before any byte is sent.
    if (!(f.type.startsWith('video/') || /\.(mp4|mov|m4v|webm|mkv|avi)$/i.test(f.name))) {
      el('clip-error').textContent = say({ code: 'video.not_a_video' });
      return;
    }
    if (f.size > limits.max_upload_bytes) {
      el('clip-error').textContent = `The file is ${fmtBytes(f.size)}; your plan takes files up to ${fmtBytes(limits.max_upload_bytes)}.`;
      return;
    }
    const d = await clipDuration(f);
    if (!current(gen)) return;
    if (d === null) {
      el('clip-info').textContent = `${f.name}, ${fmtBytes(f.size)}: the browser cannot read its length; the server will check it`;
    } else {
      if (d > limits.max_clip_s) {
        el('clip-error').textContent = `The video is ${d.toFixed(1)} s long; your plan takes clips up to ${limits.max_clip_s.toFixed(0)} s.`;
        return;
      }
      const cost = clipCost(limits, d, limits.default_quality || 'balanced');
      el('clip-info').innerHTML = `${esc(f.name)}, ${fmtBytes(f.size)}, <span id="clip-duration">${d.toFixed(1)} s</span>: costs <strong id="clip-cost">${cost}</strong> credits; you have ${acct.credits.available}.`;
    }
    file = f;
  };
  el('file').addEventListener('change', () => el('file').files[0] && choose(el('file').files[0]));
  // A file picked while the account was still loading (the input is on
  // the page from the start) is taken now, not lost.
  if (el('file').files[0]) choose(el('file').files[0]);
  const drop = el('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]);
  });
  el('start').addEventListener('click', async () => {
    if (!file) return;
    el('start').disabled = true;
    el('cancel-upload').hidden = false;
    // The Upload button is disabled now: focus goes where the user can act.
    el('cancel-upload').focus();
    el('bar').hidden = false;
    el('clip-error').textContent = '';
    // localStorage.vidmocapDirectUpload lets the browser test take the
    // presigned path with a small clip.
    const direct = file.size >= limits.direct_upload_from_bytes || localStorage.vidmocapDirectUpload === '1';
    pending = uploadFile(file, (p) => {
      const pct = Math.round((100 * p.loaded) / p.total);
      el('bar').value = pct;
      el('speed').textContent = `${pct}% · ${fmtBytes(p.bytesPerSec)}/s`;
    }, direct);
    let next;
    try {
      upload = await pending.done;
      el('bar').value = 100;
      el('speed').textContent = `Uploaded: ${upload.duration_s.toFixed(1)} s, costs ${upload.price} credits.`;
      el('job-form').hidden = false;
      showCosts();
      next = el('job-form-h');
    } catch (err) {
      showError(el('clip-error'), err);
      el('bar').value = 0;
      next = el('start');
    } finally {
      pending = null;
      el('start').disabled = false;
      el('cancel-upload').hidden = true;
    }
    if (current(gen)) next.focus();
  });
  el('cancel-upload').addEventListener('click', () => pending && pending.abort());
  cleanup = () => pending && pending.abort();
  el('create').addEventListener('submit', async (e) => {
    e.preventDefault();
    const outputs = [...document.querySelectorAll('input[name=fmt]:checked')].map((c) => c.value);
    const rig = document.querySelector('input[name=rig]:checked').value;
    const quality = document.querySelector('input[name=quality]:checked').value;
    try {
      const job = await api('/v1/jobs', {
        method: 'POST',
        body: { upload_id: upload.id, outputs, rig, quality, person: 'auto', keep_upload: el('keep').checked },
      });
      location.hash = `#/jobs?new=${job.id}`;
    } catch (err) {
      showError(el('create-error'), err);
    }
  });
}

// ---- jobs ------------------------------------------------------------------
const FINISHED = ['succeeded', 'failed', 'canceled'];

// Progress rate per job, from the updates this page saw: the ETA.
const seen = new Map();
function eta(j) {
  const { frames_done: d, frames_total: t } = j.progress;
  if (j.state !== 'running' || !t) return '';
  const now = performance.now();
  const s = seen.get(j.id);
  if (!s || d < s.done) {
    seen.set(j.id, { t: now, done: d });
    return 'estimating time left…';
  }
  if (d === s.done || now - s.t < 1000) return 'estimating time left…';
  const left = ((t - d) * (now - s.t)) / 1000 / (d - s.done);
  return left < 60 ? `about ${Math.max(1, Math.round(left))} s left` : `about ${Math.round(left / 60)} min left`;
}

function jobStatus(j) {
  if (j.state === 'canceled') return 'canceled';
  if (j.state === 'failed' || j.error) return `failed: ${esc(say(j.error || {}))}`;
  if (j.state === 'running') {
    const { frames_done: d, frames_total: t } = j.progress;
    const pct = t ? Math.round((100 * d) / t) : 0;
    return `running: ${esc(j.stage || 'starting')} <progress max="100" value="${pct}" aria-label="Job progress"></progress> ${t ? `${d}/${t} frames` : ''} <span class="eta">${esc(eta(j))}</span>`;
  }
  if (j.state === 'queued') return 'waiting for a worker';
  return esc(j.state);
}

/** "1 credit", "5 credits". */
function creditCount(n) {
  return `${n} credit${n === 1 ? '' : 's'}`;
}

function jobCost(j) {
  if (j.state === 'failed' || j.state === 'canceled') return `${creditCount(j.price)} · <strong class="refunded">refunded</strong>`;
  if (j.state === 'succeeded') return creditCount(j.price);
  return `${creditCount(j.price)} (held)`;
}

function jobSettings(j) {
  const o = j.options || {};
  const rig = (RIGS.find(([v]) => v === (o.rig || 'generic')) || [0, o.rig])[1];
  const formats = (o.outputs && o.outputs.length ? o.outputs : ['glb', 'keypoints']).map((f) => FORMAT_NAMES[f] || f).join(', ');
  const quality = o.quality ? ` · ${esc(QUALITY_NAMES[o.quality] || o.quality)}` : '';
  return `${esc(rig)} rig · ${esc(formats)}${quality}`;
}

function jobActions(j) {
  return `${j.state === 'succeeded' ? `<a href="#/job/${j.id}">View</a>` : `<a href="#/job/${j.id}">Details</a>`}
      ${FINISHED.includes(j.state) ? '' : `<button type="button" class="secondary" data-cancel="${j.id}">Cancel</button>`}
      ${j.state === 'running' ? '' : `<button type="button" class="danger" data-delete="${j.id}">Delete</button>`}`;
}

function clipCell(j, up) {
  const name = up ? up.filename || 'video' : 'video (deleted)';
  return `<strong class="fname">${esc(name)}</strong><br><span class="muted">${up ? `${fmtSecs(up.duration_s)} · ` : ''}${new Date(j.created_ms).toLocaleString()}</span>`;
}

// The person a finished job solved, so jobs on one clip are told apart;
// an empty square until then (and where the picture is gone).
function jobThumb(j) {
  return j.state === 'succeeded'
    ? `<img class="thumb" src="/v1/jobs/${esc(j.id)}/thumbnail" alt="" width="48" height="48" loading="lazy">`
    : '<span class="thumb" aria-hidden="true"></span>';
}

const CELLS = { pic: jobThumb, status: jobStatus, cost: jobCost, actions: jobActions };

function jobRow(j, up) {
  return `<tr id="job-${j.id}" data-state="${esc(j.state)}">
    <td class="pic">${jobThumb(j)}</td>
    <td class="clip">${clipCell(j, up)}</td>
    <td class="settings">${jobSettings(j)}</td>
    <td class="cost">${jobCost(j)}</td>
    <td class="status">${jobStatus(j)}</td>
    <td class="actions"><div class="row">${jobActions(j)}</div></td></tr>`;
}

// Updates a row's cells in place, only those that changed, so a focused
// control (Cancel, most often) stays where it is; when the control itself
// goes away, focus moves to the row's first remaining control.
function updateRow(j) {
  const row = el(`job-${j.id}`);
  if (!row) return;
  row.dataset.state = j.state;
  for (const [cls, render] of Object.entries(CELLS)) {
    const cell = row.querySelector(`.${cls}`);
    const target = cls === 'actions' ? cell.firstElementChild : cell;
    const html = render(j);
    if (target.dataset.html === html) continue;
    const focused = target.contains(document.activeElement) ? document.activeElement : null;
    target.innerHTML = html;
    target.dataset.html = html;
    if (focused) {
      const same = [...target.querySelectorAll('a, button')].find((n) => n.textContent === focused.textContent);
      (same || row.querySelector('a, button') || el('jobs-h')).focus();
    }
  }
}

async function jobsView() {
  view('Jobs', `<section><h1 id="jobs-h">Jobs</h1><p id="jobs-error" class="error" role="alert"></p>
    <table class="jobs"><thead><tr><th scope="col"><span class="sr-only">Person</span></th><th scope="col">Clip</th><th scope="col">Settings</th><th scope="col">Cost</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody id="jobs"></tbody></table>
    <p id="jobs-empty" class="muted" hidden>No jobs yet. <a href="#/upload">Upload a video</a>.</p></section>`);
  const streams = [];
  cleanup = () => streams.forEach((s) => s.close());
  const gen = viewGen;
  let list;
  let uploads;
  try {
    [list, uploads] = await Promise.all([api('/v1/jobs?limit=50'), api('/v1/uploads')]);
  } catch (err) {
    if (current(gen)) showError(el('jobs-error'), err);
    return;
  }
  if (!current(gen)) return;
  const ups = new Map(uploads.uploads.map((u) => [u.id, u]));
  const body = el('jobs');
  // A picture that does not load (deleted with the outputs) leaves the
  // empty square, not a broken-image icon; errors do not bubble.
  body.addEventListener('error', (e) => {
    if (e.target.tagName === 'IMG') e.target.replaceWith(Object.assign(document.createElement('span'), { className: 'thumb' }));
  }, true);
  body.innerHTML = list.jobs.map((j) => jobRow(j, ups.get(j.upload_id))).join('');
  for (const j of list.jobs) {
    const row = el(`job-${j.id}`);
    for (const [cls, render] of Object.entries(CELLS)) {
      const c = row.querySelector(`.${cls}`);
      (cls === 'actions' ? c.firstElementChild : c).dataset.html = render(j);
    }
  }
  el('jobs-empty').hidden = list.jobs.length > 0;
  for (const j of list.jobs) {
    if (FINISHED.includes(j.state)) continue;
    const es = new EventSource(`/v1/jobs/${j.id}/events`);
    streams.push(es);
    const update = (e) => updateRow(JSON.parse(e.data));
    es.addEventListener('progress', update);
    es.addEventListener('done', (e) => { update(e); es.close(); refreshCredits(); });
    es.addEventListener('gone', () => es.close());
    // A closed stream with no `done` is most often an ended session.
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) api('/v1/account').catch(() => {});
    };
  }
  body.addEventListener('click', async (e) => {
    const id = e.target.dataset.cancel || e.target.dataset.delete;
    if (!id) return;
    try {
      if (e.target.dataset.cancel) {
        const job = await api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
        updateRow(job);
        toast(job.state === 'canceled' ? 'Job canceled; its credits were returned.' : 'Cancel requested.');
        refreshCredits();
      } else {
        const row = el(`job-${id}`);
        const next = row.nextElementSibling || row.previousElementSibling;
        await api(`/v1/jobs/${id}`, { method: 'DELETE' });
        row.remove();
        (next ? next.querySelector('a, button') : el('jobs-h')).focus();
        el('jobs-empty').hidden = body.children.length > 0;
        toast('Job deleted.');
      }
    } catch (err) {
      showError(el('jobs-error'), err);
    }
  });
}

// ---- one job: progress, failure, or viewer and downloads --------------------
async function jobView(id) {
  view('Job', `<section><h1 id="job-h">Job</h1><p id="job-error" class="error" role="alert"></p>
    <div id="job-body"><p class="muted">Loading…</p></div></section>`);
  const gen = viewGen;
  let job;
  let up = null;
  try {
    job = await api(`/v1/jobs/${id}`);
    up = await api(`/v1/uploads/${job.upload_id}`).catch((err) => {
      if (err.code === 'auth.required') throw err;
      return null;
    });
  } catch (err) {
    if (current(gen)) {
      el('job-body').textContent = '';
      showError(el('job-error'), err);
    }
    return;
  }
  if (!current(gen)) return;
  const name = up ? up.filename || 'video' : 'video';
  document.title = `${name} (${job.state}) · vidmocap`;
  el('job-h').textContent = `${name}`;
  const facts = `<p class="muted">${up ? `${fmtSecs(up.duration_s)} · ` : ''}${jobSettings(job)} · ${jobCost(job)}</p>`;
  if (job.state === 'succeeded') {
    await resultView(gen, job, facts);
  } else if (FINISHED.includes(job.state)) {
    failedView(gen, job, facts);
  } else {
    progressView(gen, job, facts);
  }
}

function progressView(gen, job, facts) {
  el('job-body').innerHTML = `${facts}<p id="job-status" class="status">${jobStatus(job)}</p>
    <div class="row"><button id="job-cancel" type="button" class="secondary">Cancel</button></div>`;
  const es = new EventSource(`/v1/jobs/${job.id}/events`);
  cleanup = () => es.close();
  const update = (e) => {
    const j = JSON.parse(e.data);
    if (current(gen)) el('job-status').innerHTML = jobStatus(j);
  };
  es.addEventListener('progress', update);
  es.addEventListener('done', () => {
    es.close();
    refreshCredits();
    // The finished job's page: its result or its failure.
    if (current(gen)) jobView(job.id);
  });
  es.addEventListener('gone', () => es.close());
  el('job-cancel').addEventListener('click', async () => {
    try {
      const j = await api(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
      toast(j.state === 'canceled' ? 'Job canceled; its credits were returned.' : 'Cancel requested.');
      if (j.state === 'canceled' && current(gen)) jobView(job.id);
    } catch (err) {
      showError(el('job-error'), err);
    }
  });
}

function failedView(gen, job, facts) {
  const reason = job.state === 'canceled' ? 'The job was canceled before it finished.' : say(job.error || { message: 'The job could not finish.' });
  el('job-body').innerHTML = `${facts}<p id="job-reason" class="reason">${esc(reason)}</p>
    <p>The ${job.price} credits held for it were returned to your balance.</p>
    <div class="row"><button id="retry" type="button">Try again</button> <a href="#/upload">Upload another video</a></div>`;
  el('retry').addEventListener('click', async () => {
    const o = job.options || {};
    try {
      const j = await api('/v1/jobs', {
        method: 'POST',
        body: { upload_id: job.upload_id, outputs: o.outputs || [], rig: o.rig || '', person: o.person || 'auto', keep_upload: o.keep_upload !== false, ...(o.quality ? { quality: o.quality } : {}) },
      });
      location.hash = `#/job/${j.id}`;
    } catch (err) {
      if (current(gen)) showError(el('job-error'), err);
    }
  });
}

// The finished job's people, each with her picture, and a re-solve for
// anyone the motion does not follow.
async function peopleView(gen, job) {
  let tracks;
  let limits;
  try {
    [tracks, limits] = await Promise.all([api(`/v1/jobs/${job.id}/tracks`), api('/v1/account/limits')]);
  } catch (err) {
    // An older job kept no tracks: nothing to choose from.
    return;
  }
  if (!current(gen) || tracks.tracks.length === 0) return;
  const fee = limits.resolve_credits;
  el('tracks').innerHTML = tracks.tracks.map((t) => `<li class="track" id="track-${t.id}">
      ${t.thumbnail_url ? `<img src="${esc(t.thumbnail_url)}" alt="Person ${t.id}" width="96" height="96">` : ''}
      <span>Person ${t.id} · ${t.frames} frames${t.followed ? ' · <strong>followed</strong>' : ''}</span>
      ${t.followed ? '' : `<button type="button" data-person="${t.id}">Solve person ${t.id} (${creditCount(fee)})</button>`}
    </li>`).join('');
  el('people').hidden = false;
  for (const b of el('tracks').querySelectorAll('button[data-person]')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const j = await api(`/v1/jobs/${job.id}/resolve`, { method: 'POST', body: { person: b.dataset.person } });
        refreshCredits();
        location.hash = `#/job/${j.id}`;
      } catch (err) {
        b.disabled = false;
        if (current(gen)) showError(el('job-error'), err);
      }
    });
  }
}

async function resultView(gen, job, facts) {
  el('job-body').innerHTML = `${facts}${viewerMarkup({
    figure: 'The 3D result. Drag or use the arrow keys to orbit.',
    video: 'Your video, with the detected body drawn over it.',
    videoLabel: 'Source video',
  })}<h2>Downloads</h2><ul id="downloads"></ul>
    <section id="people" hidden><h2>People in this video</h2>
      <p class="muted">The motion above follows one person. Choose another to solve from the same tracking: no video is processed again.</p>
      <ul id="tracks" class="tracks"></ul></section>`;
  const outs = await api(`/v1/jobs/${job.id}/outputs`);
  if (!current(gen)) return;
  peopleView(gen, job);
  el('downloads').innerHTML = outs.outputs
    .filter((o) => !/^track-\d+\.jpg$/.test(o.name))
    .map((o) => `<li><a href="${esc(o.url)}" download="${esc(o.name)}">${esc(o.name)}</a> <span class="muted">${fmtBytes(o.size)}</span></li>`)
    .join('');
  const glb = outs.outputs.find((o) => o.name.endsWith('.glb'));
  const kp = outs.outputs.find((o) => o.name === 'keypoints.json');
  if (!glb) {
    el('job-error').textContent = 'This job made no GLB file, so there is no 3D preview; its files are below.';
    el('job-body').querySelectorAll('.viewer, .controls, #frame-flag, #quality').forEach((n) => n.remove());
    return;
  }
  const [glbBytes, keypoints] = await Promise.all([
    fetch(glb.url).then((r) => r.arrayBuffer()),
    kp ? fetch(kp.url).then((r) => r.json()) : null,
  ]);
  let videoUrl = null;
  try {
    const r = await api(`/v1/uploads/${job.upload_id}/video`, { raw: true });
    videoUrl = URL.createObjectURL(await r.blob());
  } catch (err) {
    if (err.code === 'auth.required') return;
    if (current(gen)) el('job-error').textContent = 'The video is no longer kept; only the figure is shown.';
  }
  if (!current(gen)) { if (videoUrl) URL.revokeObjectURL(videoUrl); return; }
  const rig = (RIGS.find(([v]) => v === ((job.options || {}).rig || 'generic')) || [0, 'generic'])[1];
  await startViewer(gen, { glbBytes, keypoints, videoUrl, label: `3D preview: the motion on a ${rig} skeleton` });
}

// ---- account: credits, API keys, webhooks, export, delete -------------------
async function accountView() {
  view('Account', `<section><h1>Account</h1><p id="acct-error" class="error" role="alert"></p>
    <p id="acct-summary"></p><p id="acct-limits" class="muted"></p>
    <p id="buy-credits"><a href="#/credits">Buy credits or a monthly plan</a></p>
    <p><a id="settings-link" href="#/settings">Change your email, password or notifications</a></p></section>
    <section><h2>Credit history</h2><table><thead><tr><th>When</th><th>Change</th><th>Why</th></tr></thead><tbody id="ledger"></tbody></table></section>
    <section><h2>API keys</h2>
      <form id="key-form" class="row"><label>Name <input id="key-name" type="text" maxlength="100"></label><button type="submit">Create key</button></form>
      <p id="new-key" role="status"></p>
      <table><tbody id="keys"></tbody></table></section>
    ${webhooksSection()}
    <section><h2>How long your data is kept</h2>
      <form id="retention-form">
        <label>Delete uploaded videos after <input id="ret-upload" type="number" min="1" step="1" required> days</label>
        <label><input id="ret-keep-outputs" type="checkbox"> Keep results until I delete them</label>
        <label id="ret-output-label">Delete results after <input id="ret-output" type="number" min="1" step="1"> days</label>
        <label><input id="ret-no-retain" type="checkbox"> No-retain mode: delete each video as soon as it has been read, and its results <span id="ret-hours"></span> hours after the job ends</label>
        <p id="ret-defaults" class="muted"></p>
        <button type="submit">Save retention</button>
        <p id="ret-status" role="status"></p>
        <p id="ret-error" class="error" role="alert"></p>
      </form></section>
    <section><h2>Your data</h2>
      <p><a href="/v1/account/export" download>Export everything (zip)</a></p>
      <button id="delete-start" type="button" class="danger">Delete account…</button>
      <form id="delete-form" hidden>
        <p>This deletes every job, upload, output and key. It cannot be undone.</p>
        <label>Type your email to confirm <input id="delete-email" type="email" required></label>
        <div class="row"><button type="submit" class="danger">Delete for ever</button>
          <button id="delete-cancel" type="button" class="secondary">Keep my account</button></div>
        <p id="delete-error" class="error" role="alert"></p>
      </form></section>`);
  const gen = viewGen;
  let me;
  try {
    const [acct, limits, ledger, keys, retention] = await Promise.all([
      api('/v1/account'), api('/v1/account/limits'), api('/v1/account/ledger'), api('/v1/api-keys'),
      api('/v1/account/retention'),
    ]);
    if (!current(gen)) return;
    me = acct;
    el('acct-summary').innerHTML = `${esc(acct.email)} · tier <strong id="tier">${esc(acct.tier)}</strong> · balance <strong id="balance">${acct.credits.balance}</strong> credits (${acct.credits.available} available)`;
    el('acct-limits').textContent = `Your tier allows clips up to ${limits.max_clip_s} s, ${limits.max_running} job(s) at once, files up to ${fmtBytes(limits.max_upload_bytes)}; ${limits.credits_per_second} credit(s) per second of video, at least ${limits.min_job_credits} per job.`;
    el('ledger').innerHTML = ledger.entries
      .map((e) => `<tr><td>${new Date(e.created_ms).toLocaleString()}</td><td>${ledgerChange(e)}</td><td>${esc(LEDGER_WORDS[e.kind] || e.kind)}</td></tr>`)
      .join('') || '<tr><td colspan="3" class="muted">nothing yet</td></tr>';
    renderKeys(keys);
    renderRetention(retention);
  } catch (err) {
    if (current(gen)) showError(el('acct-error'), err);
    return;
  }
  mountWebhooks(showError);
  el('ret-keep-outputs').addEventListener('change', () => {
    el('ret-output').disabled = el('ret-keep-outputs').checked;
  });
  el('retention-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    el('ret-status').textContent = '';
    el('ret-error').textContent = '';
    const body = {
      upload_retention_days: Number(el('ret-upload').value),
      output_retention_days: el('ret-keep-outputs').checked ? null : Number(el('ret-output').value),
      no_retain: el('ret-no-retain').checked,
    };
    try {
      renderRetention(await api('/v1/account/retention', { method: 'PUT', body }));
      el('ret-status').textContent = 'Saved.';
    } catch (err) {
      showError(el('ret-error'), err);
    }
  });
  el('key-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const k = await api('/v1/api-keys', { method: 'POST', body: { name: el('key-name').value } });
      el('new-key').innerHTML = `Your new key, shown only now: <code class="key">${esc(k.key)}</code>`;
      renderKeys(await api('/v1/api-keys'));
    } catch (err) {
      showError(el('acct-error'), err);
    }
  });
  el('keys').addEventListener('click', async (e) => {
    const id = e.target.dataset.revoke;
    if (!id) return;
    try {
      await api(`/v1/api-keys/${id}`, { method: 'DELETE' });
      renderKeys(await api('/v1/api-keys'));
    } catch (err) {
      showError(el('acct-error'), err);
    }
  });
  el('delete-start').addEventListener('click', () => { el('delete-form').hidden = false; el('delete-email').focus(); });
  el('delete-cancel').addEventListener('click', () => { el('delete-form').hidden = true; });
  el('delete-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (el('delete-email').value.trim().toLowerCase() !== me.email) {
      el('delete-error').textContent = 'That is not this account’s email.';
      return;
    }
    try {
      await api('/v1/account', { method: 'DELETE' });
      showNav(false);
      location.hash = '#/login';
      toast('Your account has been deleted.');
    } catch (err) {
      showError(el('delete-error'), err);
    }
  });
}

// Reservations hold credits without spending them; only charges spend.
const LEDGER_WORDS = {
  grant: 'credits added', topup: 'credits bought', refund: 'payment refunded',
  reserve: 'held for a job', charge: 'spent on a job', release: 'hold released',
};
function ledgerChange(e) {
  const n = Math.abs(e.amount);
  if (e.kind === 'charge' || e.kind === 'refund') return `−${n}`;
  if (e.kind === 'reserve' || e.kind === 'release') return `(${n})`;
  return `+${n}`;
}

function renderRetention(r) {
  el('ret-upload').value = r.upload_retention_days;
  el('ret-upload').max = r.max_retention_days;
  el('ret-output').max = r.max_retention_days;
  const keep = r.output_retention_days === null;
  el('ret-keep-outputs').checked = keep;
  el('ret-output').disabled = keep;
  el('ret-output').value = keep ? (r.defaults.output_retention_days || 30) : r.output_retention_days;
  el('ret-no-retain').checked = r.no_retain;
  el('ret-hours').textContent = r.no_retain_output_hours;
  const d = r.defaults;
  el('ret-defaults').textContent = `The service's defaults: videos ${d.upload_retention_days} days, results ${d.output_retention_days === null ? 'kept' : `${d.output_retention_days} days`}; at most ${r.max_retention_days} days.`;
}

function renderKeys(keys) {
  const list = keys.api_keys.filter((k) => !k.revoked_ms);
  el('keys').innerHTML = list
    .map((k) => `<tr><td>${esc(k.name || '(no name)')}</td><td><code>${esc(k.prefix)}…</code></td><td><button type="button" class="secondary" data-revoke="${k.id}">Revoke</button></td></tr>`)
    .join('') || '<tr><td class="muted">no keys</td></tr>';
}

// ---- buying credits: packs and plans through Stripe Checkout ---------------
const CHECKOUT_NOTES = {
  done: 'Thank you. Your payment is being confirmed; the credits appear in your balance in a moment.',
  canceled: 'The payment was canceled; nothing was charged.',
};

function offerItem(o, what) {
  // A pack named for what it holds ("100 credits") is not said twice.
  const facts = o.name === what ? '' : ` · ${esc(what)}`;
  const label = `Buy ${o.name}${facts ? `: ${what}` : ''} for ${o.amount_display}`;
  return `<li><strong>${esc(o.name)}</strong>${facts} · <span class="price">${esc(o.amount_display)}</span>
    <button type="button" data-offer="${esc(o.id)}" aria-label="${esc(label)}">Buy</button></li>`;
}

async function creditsView(query) {
  view('Buy credits', `<section><h1>Buy credits</h1>
    <p id="buy-balance"></p>
    <p id="checkout-note" role="status">${esc(CHECKOUT_NOTES[query.get('checkout')] || '')}</p>
    <p id="buy-error" class="error" role="alert"></p>
    <div id="offers" aria-busy="true"><p class="muted">Loading what is for sale…</p></div></section>`);
  const gen = viewGen;
  let offers;
  let acct;
  try {
    [offers, acct] = await Promise.all([api('/v1/billing/offers'), api('/v1/account')]);
  } catch (err) {
    if (current(gen)) showError(el('buy-error'), err);
    return;
  }
  if (!current(gen)) return;
  el('buy-balance').innerHTML = `You have <strong id="buy-available">${acct.credits.available}</strong> credits to spend, on the <strong>${esc(acct.tier)}</strong> tier.`;
  const box = el('offers');
  box.removeAttribute('aria-busy');
  if (!offers.enabled || (offers.packs.length === 0 && offers.plans.length === 0)) {
    box.innerHTML = `<p class="muted">${esc(say({ code: 'billing.disabled' }))}</p>`;
    return;
  }
  box.innerHTML = `${offers.packs.length ? `<h2>Credit packs</h2><p class="muted">Paid once; the credits do not expire.</p>
      <ul id="packs" class="offers">${offers.packs.map((p) => offerItem(p, `${p.credits} credits`)).join('')}</ul>` : ''}
    ${offers.plans.length ? `<h2>Monthly plans</h2><p class="muted">Credits every month and the plan’s tier; cancel any time, the tier lasts to the end of the month paid for.</p>
      <ul id="plans" class="offers">${offers.plans.map((p) => offerItem(p, `${p.monthly_credits} credits a month, ${p.tier} tier`)).join('')}</ul>` : ''}
    <p><button id="billing-portal" type="button" class="secondary">Manage payments and plans</button></p>`;
  if (query.get('checkout') === 'done') {
    // Stripe's event may land after the user is back: look again shortly.
    const timers = [3000, 10000].map((ms) => setTimeout(async () => {
      try {
        const a = await api('/v1/account');
        if (current(gen)) el('buy-available').textContent = a.credits.available;
        refreshCredits();
      } catch { /* the next look, or the next view, shows it */ }
    }, ms));
    cleanup = () => timers.forEach(clearTimeout);
  }
  const buttons = () => box.querySelectorAll('button');
  // One payment page at a time; the buttons come back if it cannot open.
  async function go(button, call) {
    el('buy-error').textContent = '';
    el('checkout-note').textContent = 'Opening the secure payment page…';
    buttons().forEach((b) => { b.disabled = true; });
    try {
      const { url } = await call();
      if (!current(gen)) return;
      location.assign(url);
    } catch (err) {
      if (!current(gen)) return;
      el('checkout-note').textContent = '';
      buttons().forEach((b) => { b.disabled = false; });
      showError(el('buy-error'), err);
      button.focus();
    }
  }
  box.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b || b.disabled) return;
    if (b.id === 'billing-portal') go(b, () => api('/v1/billing/portal', { method: 'POST' }));
    else if (b.dataset.offer) go(b, () => api('/v1/billing/checkout', { method: 'POST', body: { offer: b.dataset.offer } }));
  });
}

// ---- routing -----------------------------------------------------------------
async function route() {
  const [path, search = ''] = location.hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'login' || parts[0] === 'signup') {
    authView(parts[0], new URLSearchParams(search));
    return;
  }
  const ui = {
    view, current, gen: () => viewGen, showError, showNav, el, esc,
  };
  if (PUBLIC_ROUTES.includes(parts[0])) {
    await publicRoute(ui, parts[0], new URLSearchParams(search));
    return;
  }
  if (parts[0] === 'welcome' || (parts.length === 0 && !(await whoami()))) {
    await landingView();
    return;
  }
  showNav(true);
  refreshCredits();
  if (parts[0] === 'upload') await uploadView();
  else if (parts[0] === 'job' && parts[1]) await jobView(parts[1]);
  else if (parts[0] === 'account') await accountView();
  else if (parts[0] === 'credits') await creditsView(new URLSearchParams(search));
  else if (parts[0] === 'settings') await settingsView(ui);
  else await jobsView();
}

el('logout').addEventListener('click', async () => {
  try {
    await api('/v1/auth/logout', { method: 'POST' });
  } catch { /* the session may already be gone: either way, back to the start */ }
  showNav(false);
  location.hash = '#/welcome';
});
// The hash is the router's: the skip link moves focus itself.
el('skip').addEventListener('click', (e) => {
  e.preventDefault();
  const h1 = main.querySelector('h1');
  if (h1) h1.focus();
});
window.addEventListener('hashchange', route);
route();
