// The job viewer: the animated GLB in three.js (ground grid, orbit camera
// that frames and follows the figure, skeleton) beside the source video
// with the 2D keypoints drawn over it. The animation's clock leads; the
// video follows it. Frames without a detected pose are marked, never
// passed off as measured.
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

// BlazePose's 33 landmarks: the limbs and torso worth drawing.
const BONES = [
  [11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
  [23, 25], [25, 27], [27, 29], [29, 31], [27, 31], [24, 26], [26, 28], [28, 30], [30, 32], [28, 32],
  [0, 11], [0, 12],
];

// Share of the 3D view's height the standing figure fills when followed.
const FILL = 0.7;
const ORBIT_STEP = Math.PI / 18;

/** What a frame of keypoints.json says about its pose, for marks. */
export function frameKind(f) {
  if (f && f.filled) return 'filled';
  if (f && f.bridged) return 'bridged';
  if (!f || !f.pose || !f.landmarks) return 'gap';
  return 'pose';
}

const KIND_WORDS = {
  gap: 'No pose was detected in this frame: the figure shows the motion carried over from the nearest detected frames.',
  bridged: 'This frame was bridged: the pose is interpolated between detected frames.',
  filled: 'This frame was filled in: the pose is estimated, not detected.',
};

/**
 * The displayed picture's rectangle inside a video element drawn with
 * `object-fit: contain`, in CSS pixels relative to the element's box.
 */
export function containRect(boxW, boxH, picW, picH) {
  const s = Math.min(boxW / picW, boxH / picH);
  const w = picW * s;
  const h = picH * s;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h, s };
}

/** Runs of frames of one kind over the followed span, as fractions of it. */
function timelineRuns(frames, t0, duration) {
  const runs = [];
  if (!duration) return runs;
  for (let i = 0; i < frames.length; i += 1) {
    const f = frames[i];
    const t = f.time_s - t0;
    if (t < -1e-6 || t > duration + 1e-3 || !f.world) continue;
    const kind = frameKind(f);
    if (kind === 'pose') continue;
    const next = frames[i + 1];
    const end = next ? next.time_s - t0 : t + 1 / 30;
    const lastRun = runs[runs.length - 1];
    if (lastRun && lastRun.kind === kind && Math.abs(lastRun.end - t) < 1e-3) lastRun.end = end;
    else runs.push({ kind, start: t, end });
  }
  return runs.map((r) => ({ kind: r.kind, from: r.start / duration, to: Math.min(r.end / duration, 1) }));
}

// The report's figures an animator can judge, in words with their units
// (keypoints.json's `quality`; the frame counts are said above already).
const QUALITY_FACTS = [
  ['planted_foot_slide_mm', (v) => `planted feet slide ${v.toFixed(1)} mm a frame`],
  ['wrist_jitter_mm', (v) => `wrist jitter ${v.toFixed(1)} mm/frame²`],
  ['ankle_jitter_mm', (v) => `ankle jitter ${v.toFixed(1)} mm/frame²`],
  ['max_root_step_m', (v) => `largest root step ${v.toFixed(2)} m`],
  ['reprojection_px', (v) => `2D error ${v.toFixed(1)} px`],
  ['limb_swaps_corrected', (v) => `${v} frames with limbs swapped back`],
  ['facing_flips_corrected', (v) => `${v} frames turned back to face the right way`],
  ['knees_clamped', (v) => `${v} knees held to bend one way`],
  // The camera looked down on (or up at) the ground the feet stood on; the
  // figure was turned upright by it, so the grid under it is level.
  ['ground_tilt_deg', (v) => (v >= 0.5 ? `the ground was seen tilted ${v.toFixed(0)}° and levelled` : '')],
];

/** The keypoints' quality in plain words; '' when there is nothing to say. */
export function qualityWords(keypoints) {
  if (!keypoints) return '';
  const span = keypoints.frames.filter((f) => f.world);
  const counts = { gap: 0, bridged: 0, filled: 0 };
  for (const f of span) {
    const k = frameKind(f);
    if (k !== 'pose') counts[k] += 1;
  }
  const parts = [];
  const n = span.length;
  if (n) {
    // Bridged and filled frames are estimates, not detections: they are
    // not counted as detected.
    const detected = n - counts.gap - counts.bridged - counts.filled;
    parts.push(detected === n
      ? `Every one of the ${n} frames has a detected pose.`
      : `${detected} of the ${n} frames have a detected pose.`);
    if (counts.gap) parts.push(`${counts.gap} (${Math.round((100 * counts.gap) / n)}%) have none; they are marked red on the timeline.`);
    if (counts.bridged) parts.push(`${counts.bridged} frames were bridged between detections (amber on the timeline).`);
    if (counts.filled) parts.push(`${counts.filled} frames were filled in by estimate (purple on the timeline).`);
  }
  const q = keypoints.quality;
  if (q && typeof q === 'object') {
    if (typeof q.summary === 'string') parts.push(q.summary);
    else {
      const facts = QUALITY_FACTS
        .filter(([key]) => typeof q[key] === 'number')
        .map(([key, say]) => say(q[key]))
        .filter(Boolean);
      if (facts.length) parts.push(`Motion quality: ${facts.join('; ')}.`);
    }
  }
  return parts.join(' ');
}

export async function openViewer({ stage, video, overlay, glbBytes, keypoints, videoUrl, controls, label }) {
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  const canvas = renderer.domElement;
  // The 3D view is an image to assistive technology, orbited by keys.
  canvas.tabIndex = 0;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `${label || '3D preview of the captured motion'}. Arrow keys orbit the camera, plus and minus zoom.`);
  stage.appendChild(canvas);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x20242c);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.5));
  const sun = new THREE.DirectionalLight(0xffffff, 2);
  sun.position.set(3, 6, 4);
  scene.add(sun);
  const grid = new THREE.GridHelper(40, 80, 0x8899aa, 0x3a4250);
  scene.add(grid);
  const camera = new THREE.PerspectiveCamera(45, 4 / 3, 0.05, 200);
  const orbit = new OrbitControls(camera, canvas);
  orbit.enableDamping = true;

  const gltf = await new GLTFLoader().parseAsync(glbBytes, '');
  scene.add(gltf.scene);
  // The skinned body's bounds are those of its bind pose, not of the
  // animated figure, so culling by them hides it.
  gltf.scene.traverse((o) => { if (o.isMesh) o.frustumCulled = false; });
  const skeleton = new THREE.SkeletonHelper(gltf.scene);
  skeleton.material.linewidth = 2;
  skeleton.material.depthTest = false;
  skeleton.frustumCulled = false;
  scene.add(skeleton);
  const mixer = new THREE.AnimationMixer(gltf.scene);
  const clip = gltf.animations[0];
  const action = clip ? mixer.clipAction(clip).play() : null;
  const duration = clip ? clip.duration : 0;
  // The root bone (the hips): the first bone of the skeleton.
  const root = skeleton.bones[0];

  // Bones, not the mesh: the skinned mesh's bounds stay at its bind pose.
  const bonesBox = () => {
    gltf.scene.updateMatrixWorld(true);
    const b = new THREE.Box3();
    for (const bone of skeleton.bones) b.expandByPoint(bone.getWorldPosition(new THREE.Vector3()));
    return b;
  };
  // The clip sampled once: its floor (lowest bone at any time) and the
  // figure's largest size, which the followed camera frames.
  const whole = new THREE.Box3();
  let tallest = 0;
  const SAMPLES = 48;
  for (let i = 0; i <= SAMPLES; i += 1) {
    mixer.setTime((duration * i) / SAMPLES);
    const b = bonesBox();
    whole.union(b);
    const s = b.getSize(new THREE.Vector3());
    tallest = Math.max(tallest, s.y, s.x, s.z);
  }
  mixer.setTime(0);
  // The toes' bones sit a few centimetres above the sole.
  grid.position.y = whole.min.y - 0.03;
  const fov = THREE.MathUtils.degToRad(camera.fov);
  const followDist = Math.max(tallest, 0.5) / (FILL * 2 * Math.tan(fov / 2));
  const wholeCentre = whole.getCenter(new THREE.Vector3());
  const wholeDist = (whole.getSize(new THREE.Vector3()).length() || 2) / (2 * Math.tan(fov / 2));
  const offsetDir = new THREE.Vector3(0.45, 0.25, 1).normalize();

  let follow = true;
  const followPoint = () => {
    const b = bonesBox();
    const p = root ? root.getWorldPosition(new THREE.Vector3()) : b.getCenter(new THREE.Vector3());
    p.y = (b.min.y + b.max.y) / 2;
    return p;
  };
  const frameCamera = () => {
    const target = follow ? followPoint() : wholeCentre.clone();
    const dist = follow ? followDist : wholeDist;
    orbit.target.copy(target);
    camera.position.copy(target).addScaledVector(offsetDir, dist);
    orbit.update();
  };
  frameCamera();

  if (videoUrl) video.src = videoUrl;
  const frames = keypoints ? keypoints.frames : [];
  // The motion starts at the followed span's first frame, not the video's.
  const start = keypoints ? frames.find((f) => f.frame === keypoints.first_frame) : null;
  const t0 = start ? start.time_s : 0;
  const picW = keypoints && keypoints.video && keypoints.video.upright_width;
  const picH = keypoints && keypoints.video && keypoints.video.upright_height;
  const ctx = overlay.getContext('2d');
  let drawn = null;

  if (controls.gaps) {
    controls.gaps.innerHTML = timelineRuns(frames, t0, duration)
      .map((r) => `<span class="${r.kind}" style="left:${(r.from * 100).toFixed(2)}%;width:${Math.max((r.to - r.from) * 100, 0.4).toFixed(2)}%"></span>`)
      .join('');
  }

  let playing = true;
  let speed = 1;
  let time = 0;
  let last = performance.now();
  let raf = 0;

  const frameAt = (t) => {
    let lo = 0;
    let hi = frames.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (frames[mid].time_s <= t + 1e-4) lo = mid; else hi = mid - 1;
    }
    return frames[lo];
  };

  // The overlay covers exactly the displayed picture, whatever the box's
  // size and the clip's aspect (the video is drawn `object-fit: contain`).
  const drawKeypoints = (f) => {
    const vw = picW || video.videoWidth;
    const vh = picH || video.videoHeight;
    if (!vw || !vh || !video.clientWidth) return;
    const r = containRect(video.clientWidth, video.clientHeight, vw, vh);
    const dpr = window.devicePixelRatio || 1;
    const bw = Math.round(r.w * dpr);
    const bh = Math.round(r.h * dpr);
    Object.assign(overlay.style, {
      left: `${video.offsetLeft + r.x}px`, top: `${video.offsetTop + r.y}px`, width: `${r.w}px`, height: `${r.h}px`,
    });
    if (overlay.width !== bw || overlay.height !== bh) { overlay.width = bw; overlay.height = bh; }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, bw, bh);
    drawn = null;
    if (!f || !f.landmarks) return;
    const sx = bw / vw;
    const sy = bh / vh;
    const px = f.landmarks.map((p) => [p[0] * sx, p[1] * sy, p[3]]);
    ctx.strokeStyle = '#35e0a0';
    ctx.fillStyle = '#ffd23f';
    ctx.lineWidth = 2 * dpr;
    for (const [a, b] of BONES) {
      const p = px[a];
      const q = px[b];
      if (p[2] < 0.3 || q[2] < 0.3) continue;
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      ctx.lineTo(q[0], q[1]);
      ctx.stroke();
    }
    for (const p of px) {
      if (p[2] < 0.3) continue;
      ctx.beginPath();
      ctx.arc(p[0], p[1], 3 * dpr, 0, Math.PI * 2);
      ctx.fill();
    }
    drawn = { frame: f.frame, points: px.map((p) => [p[0], p[1]]) };
  };

  let shownKind = null;
  const markFrame = (f) => {
    const kind = keypoints ? frameKind(f) : 'pose';
    if (kind === shownKind || !controls.flag) return;
    shownKind = kind;
    controls.flag.textContent = KIND_WORDS[kind] || '';
    controls.flag.hidden = kind === 'pose';
    controls.flag.dataset.kind = kind;
  };

  const resize = () => {
    const w = stage.clientWidth;
    const h = stage.clientHeight;
    if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
      renderer.setSize(w, h, false);
      camera.aspect = w / h;
      camera.updateProjectionMatrix();
    }
  };

  const syncVideo = () => {
    if (!video.src || video.readyState < 1) return;
    video.playbackRate = speed;
    if (playing && video.paused) video.play().catch(() => {});
    if (!playing && !video.paused) video.pause();
    if (Math.abs(video.currentTime - (time + t0)) > (playing ? 0.25 : 0.02)) video.currentTime = time + t0;
  };

  // The followed point moves the camera and its target together, so the
  // user's orbit angle and zoom stay; paused, it snaps.
  const followStep = (dt) => {
    if (!follow) return;
    const want = followPoint();
    const k = playing ? 1 - Math.exp(-dt * 6) : 1;
    const delta = want.sub(orbit.target).multiplyScalar(k);
    orbit.target.add(delta);
    camera.position.add(delta);
  };

  const tick = (now) => {
    const dt = Math.min((now - last) / 1000, 0.1);
    last = now;
    if (playing && duration > 0) time = (time + dt * speed) % duration;
    mixer.setTime(time);
    followStep(dt);
    orbit.update();
    resize();
    renderer.render(scene, camera);
    syncVideo();
    const f = frameAt(time + t0);
    drawKeypoints(f);
    markFrame(f);
    controls.time.textContent = `${time.toFixed(2)} s`;
    if (document.activeElement !== controls.scrub) controls.scrub.value = duration ? Math.round((time / duration) * 1000) : 0;
    raf = requestAnimationFrame(tick);
  };
  raf = requestAnimationFrame(tick);

  const setPlaying = (p) => {
    playing = p;
    controls.play.textContent = p ? 'Pause' : 'Play';
  };
  const onPlay = () => setPlaying(!playing);
  const onScrub = () => {
    setPlaying(false);
    time = (controls.scrub.value / 1000) * duration;
  };
  const onSpeed = () => { speed = Number(controls.speed.value); };
  const onFollow = () => { follow = controls.follow.checked; frameCamera(); };
  // Keyboard orbit: arrows turn around the target, + and - zoom.
  const onKey = (e) => {
    const off = camera.position.clone().sub(orbit.target);
    const s = new THREE.Spherical().setFromVector3(off);
    if (e.key === 'ArrowLeft') s.theta -= ORBIT_STEP;
    else if (e.key === 'ArrowRight') s.theta += ORBIT_STEP;
    else if (e.key === 'ArrowUp') s.phi = Math.max(0.15, s.phi - ORBIT_STEP);
    else if (e.key === 'ArrowDown') s.phi = Math.min(Math.PI / 2 - 0.02, s.phi + ORBIT_STEP);
    else if (e.key === '+' || e.key === '=') s.radius = Math.max(0.5, s.radius * 0.85);
    else if (e.key === '-' || e.key === '_') s.radius = Math.min(60, s.radius / 0.85);
    else return;
    e.preventDefault();
    camera.position.copy(orbit.target).add(new THREE.Vector3().setFromSpherical(s));
    orbit.update();
  };
  controls.play.addEventListener('click', onPlay);
  controls.scrub.addEventListener('input', onScrub);
  controls.speed.addEventListener('change', onSpeed);
  if (controls.follow) controls.follow.addEventListener('change', onFollow);
  canvas.addEventListener('keydown', onKey);
  if (controls.quality) controls.quality.textContent = qualityWords(keypoints);

  // For the end-to-end test: the figure's bone box on the canvas, in CSS
  // pixels relative to the canvas, clipped to it.
  const figureBox = () => {
    const b = bonesBox();
    const r = canvas.getBoundingClientRect();
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    for (let i = 0; i < 8; i += 1) {
      const p = new THREE.Vector3(i & 1 ? b.max.x : b.min.x, i & 2 ? b.max.y : b.min.y, i & 4 ? b.max.z : b.min.z).project(camera);
      const x = ((p.x + 1) / 2) * r.width;
      const y = ((1 - p.y) / 2) * r.height;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    return { x: Math.max(0, x0), y: Math.max(0, y0), w: Math.min(r.width, x1) - Math.max(0, x0), h: Math.min(r.height, y1) - Math.max(0, y0), viewH: r.height };
  };
  window.vidmocapViewer = {
    figureBox, duration: () => duration, time: () => time, overlay: () => drawn, t0,
    floorY: () => grid.position.y, lowestBone: () => bonesBox().min.y,
  };

  return {
    dispose() {
      cancelAnimationFrame(raf);
      controls.play.removeEventListener('click', onPlay);
      controls.scrub.removeEventListener('input', onScrub);
      controls.speed.removeEventListener('change', onSpeed);
      if (controls.follow) controls.follow.removeEventListener('change', onFollow);
      canvas.removeEventListener('keydown', onKey);
      delete window.vidmocapViewer;
      orbit.dispose();
      renderer.dispose();
      if (action) action.stop();
    },
  };
}
