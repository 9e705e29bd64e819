// The portal's views, switched by the URL's hash: login, signup, upload,
// jobs, one job's viewer, account. Every view fetches what it shows.
import { api, uploadFile, setUnauthorizedHandler, ApiError } from './api.js';
import { openViewer } from './viewer.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let cleanup = () => {};

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const el = (id) => document.getElementById(id);

function toast(msg) {
  const t = el('toast');
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 4000);
}

function showError(target, err) {
  if (err instanceof ApiError && err.status === 401) return; // already back at login
  target.textContent = err.message || String(err);
}

// Views render after awaits; a view the user has left must not write.
let viewGen = 0;
const current = (gen) => gen === viewGen;

function view(html) {
  viewGen += 1;
  cleanup();
  cleanup = () => {};
  main.innerHTML = html;
  main.focus();
}

setUnauthorizedHandler(() => {
  nav.hidden = true;
  if (!location.hash.startsWith('#/login')) {
    location.hash = '#/login';
  }
});

// ---- sign up / log in ----------------------------------------------------
function authView(kind) {
  const signup = kind === 'signup';
  nav.hidden = true;
  view(`<section><h1>${signup ? 'Create an account' : 'Log in'}</h1>
    <form id="auth">
      <label>Email <input id="email" type="email" autocomplete="email" required></label>
      <label>Password <input id="password" type="password" minlength="8"
        autocomplete="${signup ? 'new-password' : 'current-password'}" required></label>
      <button type="submit">${signup ? 'Sign up' : 'Log in'}</button>
      <p id="auth-error" class="error" role="alert"></p>
    </form>
    <p>${signup ? 'Have an account? <a href="#/login">Log in</a>' : 'New here? <a href="#/signup">Create an account</a>'}</p>
  </section>`);
  el('auth').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api(`/v1/auth/${kind}`, { method: 'POST', body: { email: el('email').value, password: el('password').value } });
      location.hash = '#/upload';
    } catch (err) {
      showError(el('auth-error'), err);
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
    const done = (d) => { URL.revokeObjectURL(url); resolve(d); };
    v.onloadedmetadata = () => done(Number.isFinite(v.duration) ? v.duration : null);
    v.onerror = () => done(null);
    v.src = url;
  });
}

async function uploadView() {
  view(`<section><h1>Upload a video</h1>
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
  <section id="job-form" hidden><h2>Create the job</h2>
    <form id="create">
      <label>Rig <select id="rig">
        <option value="generic">generic</option><option value="mixamo">mixamo</option><option value="ue5">ue5</option>
      </select></label>
      <fieldset><legend>Formats</legend>
        ${['glb', 'keypoints', 'fbx', 'bvh', 'csv'].map((f) => `<label><input type="checkbox" name="fmt" value="${f}" ${f === 'glb' || f === 'keypoints' ? 'checked' : ''}> ${f === 'keypoints' ? 'keypoints.json' : f.toUpperCase()}</label>`).join('')}
      </fieldset>
      <label><input id="keep" type="checkbox" checked> Keep the video (needed for the side-by-side viewer)</label>
      <button type="submit">Start the job</button>
      <p id="create-error" class="error" role="alert"></p>
    </form>
  </section>`);
  const gen = viewGen;
  let limits;
  try {
    limits = await api('/v1/account/limits');
  } catch (err) {
    if (current(gen)) showError(el('clip-error'), err);
    return;
  }
  if (!current(gen)) return;
  let file = null;
  let upload = null;
  let pending = null;
  const choose = async (f) => {
    file = null;
    el('chosen').hidden = false;
    el('job-form').hidden = true;
    el('clip-error').textContent = '';
    el('clip-info').textContent = `${f.name}, ${fmtBytes(f.size)}: reading…`;
    // The same refusals as the API, in its words, before any byte is sent.
    if (!(f.type.startsWith('video/') || /\.(mp4|mov|m4v|webm|mkv|avi)$/i.test(f.name))) {
      el('clip-error').textContent = 'the file is not a video the service can read';
      return;
    }
    if (f.size > limits.max_upload_bytes) {
      el('clip-error').textContent = `the upload is larger than the ${limits.max_upload_bytes}-byte limit`;
      return;
    }
    const d = await clipDuration(f);
    if (!current(gen)) return;
    if (d === null) {
      el('clip-info').textContent = `${f.name}, ${fmtBytes(f.size)}: the browser cannot read its length; the server will check it`;
    } else {
      if (d > limits.max_clip_s) {
        el('clip-error').textContent = `the video is ${d.toFixed(1)} s long; the limit is ${limits.max_clip_s.toFixed(0)} s`;
        return;
      }
      const cost = Math.max(Math.ceil(d * limits.credits_per_second), limits.min_job_credits);
      el('clip-info').innerHTML = `${esc(f.name)}, ${fmtBytes(f.size)}, <span id="clip-duration">${d.toFixed(1)} s</span>: costs <strong id="clip-cost">${cost}</strong> credits`;
    }
    file = f;
  };
  el('file').addEventListener('change', () => el('file').files[0] && choose(el('file').files[0]));
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
    try {
      upload = await pending.done;
      el('bar').value = 100;
      el('speed').textContent = `uploaded: ${upload.duration_s.toFixed(1)} s, costs ${upload.price} credits`;
      el('job-form').hidden = false;
    } catch (err) {
      showError(el('clip-error'), err);
      el('bar').value = 0;
    } finally {
      pending = null;
      el('start').disabled = false;
      el('cancel-upload').hidden = true;
    }
  });
  el('cancel-upload').addEventListener('click', () => pending && pending.abort());
  cleanup = () => pending && pending.abort();
  el('create').addEventListener('submit', async (e) => {
    e.preventDefault();
    const outputs = [...document.querySelectorAll('input[name=fmt]:checked')].map((c) => c.value);
    try {
      const job = await api('/v1/jobs', {
        method: 'POST',
        body: { upload_id: upload.id, outputs, rig: el('rig').value, person: 'auto', keep_upload: el('keep').checked },
      });
      location.hash = `#/jobs?new=${job.id}`;
    } catch (err) {
      showError(el('create-error'), err);
    }
  });
}

// ---- jobs ------------------------------------------------------------------
// Job failures as a user would put them; other codes show the API's message.
const ERROR_WORDS = {
  'credits.insufficient': 'not enough credits for this clip',
  'pipeline.no_person': 'no person was found in the video; try a clip where one person is fully in view',
  'pipeline.unknown_person': 'the chosen person is not in the video',
  'pipeline.canceled': 'canceled',
  'video.truncated': 'the video file is incomplete; upload it again',
  'video.corrupt_frames': 'too much of the video is damaged to read',
  'video.unsupported_codec': 'the video is in a format the service cannot read',
  'export.empty_motion': 'no motion could be made from the video',
  'job.internal': 'something went wrong on our side; the credits were not charged',
};

function jobStatus(j) {
  if (j.state === 'canceled') return 'canceled';
  if (j.state === 'failed' || j.error) {
    const e = j.error || {};
    return `failed: ${esc(ERROR_WORDS[e.code] || e.message || 'the job could not finish')}`;
  }
  if (j.state === 'running') {
    const { frames_done: d, frames_total: t } = j.progress;
    const pct = t ? Math.round((100 * d) / t) : 0;
    return `running: ${esc(j.stage || 'starting')} <progress max="100" value="${pct}" aria-label="Job progress"></progress> ${t ? `${d}/${t} frames` : ''}`;
  }
  return esc(j.state);
}

function jobRow(j) {
  const finished = ['succeeded', 'failed', 'canceled'].includes(j.state);
  return `<tr id="job-${j.id}" data-state="${esc(j.state)}">
    <td><span class="hide-narrow">${new Date(j.created_ms).toLocaleString()}</span><br><span class="muted">${esc(j.id.slice(0, 8))} · ${j.price} credits</span></td>
    <td class="status">${jobStatus(j)}</td>
    <td class="row">
      ${j.state === 'succeeded' ? `<a href="#/job/${j.id}">View</a>` : ''}
      ${finished ? '' : `<button type="button" class="secondary" data-cancel="${j.id}">Cancel</button>`}
      ${j.state === 'running' ? '' : `<button type="button" class="danger" data-delete="${j.id}">Delete</button>`}
    </td></tr>`;
}

async function jobsView() {
  view(`<section><h1>Jobs</h1><p id="jobs-error" class="error" role="alert"></p>
    <table><thead><tr><th>Created</th><th>Status</th><th>Actions</th></tr></thead><tbody id="jobs"></tbody></table>
    <p id="jobs-empty" class="muted" hidden>No jobs yet. <a href="#/upload">Upload a video</a>.</p></section>`);
  const streams = [];
  cleanup = () => streams.forEach((s) => s.close());
  const gen = viewGen;
  let list;
  try {
    list = await api('/v1/jobs?limit=50');
  } catch (err) {
    if (current(gen)) showError(el('jobs-error'), err);
    return;
  }
  if (!current(gen)) return;
  const body = el('jobs');
  body.innerHTML = list.jobs.map(jobRow).join('');
  el('jobs-empty').hidden = list.jobs.length > 0;
  for (const j of list.jobs) {
    if (['succeeded', 'failed', 'canceled'].includes(j.state)) continue;
    const es = new EventSource(`/v1/jobs/${j.id}/events`);
    streams.push(es);
    const update = (e) => {
      const job = JSON.parse(e.data);
      const row = el(`job-${job.id}`);
      if (row) row.outerHTML = jobRow(job);
    };
    es.addEventListener('progress', update);
    es.addEventListener('done', (e) => { update(e); es.close(); });
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
        const row = el(`job-${id}`);
        if (row) row.outerHTML = jobRow(job);
        toast(job.state === 'canceled' ? 'job canceled' : 'cancel requested');
      } else {
        await api(`/v1/jobs/${id}`, { method: 'DELETE' });
        el(`job-${id}`).remove();
        toast('job deleted');
      }
    } catch (err) {
      showError(el('jobs-error'), err);
    }
  });
}

// ---- one job: viewer and downloads ---------------------------------------
async function jobView(id) {
  view(`<section><h1>Job ${esc(id.slice(0, 8))}</h1><p id="job-error" class="error" role="alert"></p>
    <div class="viewer">
      <div><div id="stage" class="stage3d" aria-label="Animated figure"></div></div>
      <div class="src"><video id="video" muted playsinline aria-label="Source video"></video><canvas id="overlay"></canvas></div>
    </div>
    <div class="row controls">
      <button id="play" type="button">Pause</button>
      <input id="scrub" type="range" min="0" max="1000" value="0" aria-label="Time">
      <span id="time" class="muted">0.00 s</span>
      <label class="row">Speed <select id="speed-sel">
        <option value="0.25">0.25×</option><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option>
      </select></label>
    </div></section>
    <section><h2>Downloads</h2><ul id="downloads"></ul></section>`);
  const gen = viewGen;
  try {
    const job = await api(`/v1/jobs/${id}`);
    const outs = await api(`/v1/jobs/${id}/outputs`);
    if (!current(gen)) return;
    el('downloads').innerHTML = outs.outputs
      .map((o) => `<li><a href="${esc(o.url)}" download="${esc(o.name)}">${esc(o.name)}</a> <span class="muted">${fmtBytes(o.size)}</span></li>`)
      .join('');
    const glb = outs.outputs.find((o) => o.name.endsWith('.glb'));
    const kp = outs.outputs.find((o) => o.name === 'keypoints.json');
    if (!glb) {
      el('job-error').textContent = 'this job has no GLB output to show';
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
      if (err.status === 401) return;
      if (current(gen)) el('job-error').textContent = 'the source video is no longer kept; only the figure is shown';
    }
    if (!current(gen)) return;
    const viewer = await openViewer({
      stage: el('stage'), video: el('video'), overlay: el('overlay'), glbBytes, keypoints, videoUrl,
      controls: { play: el('play'), scrub: el('scrub'), time: el('time'), speed: el('speed-sel') },
    });
    const dispose = () => { viewer.dispose(); if (videoUrl) URL.revokeObjectURL(videoUrl); };
    if (current(gen)) cleanup = dispose; else dispose();
  } catch (err) {
    if (current(gen)) showError(el('job-error'), err);
  }
}

// ---- account: credits, API keys, export, delete ----------------------------
async function accountView() {
  view(`<section><h1>Account</h1><p id="acct-error" class="error" role="alert"></p>
    <p id="acct-summary"></p><p id="acct-limits" class="muted"></p></section>
    <section><h2>Credit history</h2><table><thead><tr><th>When</th><th>Change</th><th>Why</th></tr></thead><tbody id="ledger"></tbody></table></section>
    <section><h2>API keys</h2>
      <form id="key-form" class="row"><label>Name <input id="key-name" type="text" maxlength="100"></label><button type="submit">Create key</button></form>
      <p id="new-key" role="status"></p>
      <table><tbody id="keys"></tbody></table></section>
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
    const [acct, limits, ledger, keys] = await Promise.all([
      api('/v1/account'), api('/v1/account/limits'), api('/v1/account/ledger'), api('/v1/api-keys'),
    ]);
    if (!current(gen)) return;
    me = acct;
    el('acct-summary').innerHTML = `${esc(acct.email)} · tier <strong id="tier">${esc(acct.tier)}</strong> · balance <strong id="balance">${acct.credits.balance}</strong> credits (${acct.credits.available} available)`;
    el('acct-limits').textContent = `Your tier allows clips up to ${limits.max_clip_s} s, ${limits.max_running} job(s) at once, files up to ${fmtBytes(limits.max_upload_bytes)}; ${limits.credits_per_second} credit(s) per second of video, at least ${limits.min_job_credits} per job.`;
    el('ledger').innerHTML = ledger.entries
      .map((e) => `<tr><td>${new Date(e.created_ms).toLocaleString()}</td><td>${ledgerChange(e)}</td><td>${esc(LEDGER_WORDS[e.kind] || e.kind)}</td></tr>`)
      .join('') || '<tr><td colspan="3" class="muted">nothing yet</td></tr>';
    renderKeys(keys);
  } catch (err) {
    if (current(gen)) showError(el('acct-error'), err);
    return;
  }
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
      el('delete-error').textContent = 'that is not this account’s email';
      return;
    }
    try {
      await api('/v1/account', { method: 'DELETE' });
      nav.hidden = true;
      location.hash = '#/login';
      toast('your account has been deleted');
    } catch (err) {
      showError(el('delete-error'), err);
    }
  });
}

// Reservations hold credits without spending them; only charges spend.
const LEDGER_WORDS = {
  grant: 'credits added', payment: 'credits bought', reserve: 'held for a job',
  charge: 'spent on a job', release: 'hold released',
};
function ledgerChange(e) {
  const n = Math.abs(e.amount);
  if (e.kind === 'charge') return `−${n}`;
  if (e.kind === 'reserve' || e.kind === 'release') return `(${n})`;
  return `+${n}`;
}

function renderKeys(keys) {
  const list = keys.api_keys.filter((k) => !k.revoked_ms);
  el('keys').innerHTML = list
    .map((k) => `<tr><td>${esc(k.name || '(no name)')}</td><td><code>${esc(k.prefix)}…</code></td><td><button type="button" class="secondary" data-revoke="${k.id}">Revoke</button></td></tr>`)
    .join('') || '<tr><td class="muted">no keys</td></tr>';
}

// ---- routing -----------------------------------------------------------------
async function route() {
  const hash = location.hash || '#/jobs';
  const [path] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'login' || parts[0] === 'signup') {
    authView(parts[0]);
    return;
  }
  nav.hidden = false;
  if (parts[0] === 'upload') await uploadView();
  else if (parts[0] === 'job' && parts[1]) await jobView(parts[1]);
  else if (parts[0] === 'account') await accountView();
  else await jobsView();
}

el('logout').addEventListener('click', async () => {
  try {
    await api('/v1/auth/logout', { method: 'POST' });
  } catch { /* the session may already be gone: either way, back to login */ }
  nav.hidden = true;
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
