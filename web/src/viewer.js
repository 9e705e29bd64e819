// The job viewer: the animated GLB in three.js (grid, orbit camera,
// skeleton) beside the source video with the 2D keypoints drawn over it.
// The animation's clock leads; the video follows it.
import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

// BlazePose's 33 landmarks: the limbs and torso worth drawing.
const BONES = [
  [11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
  [23, 25], [25, 27], [27, 29], [29, 31], [27, 31], [24, 26], [26, 28], [28, 30], [30, 32], [28, 32],
  [0, 11], [0, 12],
];

export async function openViewer({ stage, video, overlay, glbBytes, keypoints, videoUrl, controls }) {
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  stage.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x20242c);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.5));
  const sun = new THREE.DirectionalLight(0xffffff, 2);
  sun.position.set(3, 6, 4);
  scene.add(sun);
  scene.add(new THREE.GridHelper(20, 40, 0x8899aa, 0x3a4250));
  const camera = new THREE.PerspectiveCamera(45, 4 / 3, 0.05, 200);
  const orbit = new OrbitControls(camera, renderer.domElement);
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

  // Frame the whole clip: the figure's box over a few sampled times.
  // Bones, not the mesh: the skinned mesh's bounds stay at its bind pose.
  const bonesBox = () => {
    gltf.scene.updateMatrixWorld(true);
    const b = new THREE.Box3();
    for (const bone of skeleton.bones) b.expandByPoint(bone.getWorldPosition(new THREE.Vector3()));
    return b.expandByScalar(0.15);
  };
  const box = new THREE.Box3();
  for (let i = 0; i <= 8; i += 1) {
    mixer.setTime((duration * i) / 8);
    box.union(bonesBox());
  }
  mixer.setTime(0);
  const centre = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3()).length() || 2;
  camera.position.copy(centre).add(new THREE.Vector3(size * 0.5, size * 0.3, size * 1.0));
  orbit.target.copy(centre);
  orbit.update();

  if (videoUrl) video.src = videoUrl;
  const frames = keypoints ? keypoints.frames : [];
  // The motion starts at the followed span's first frame, not the video's.
  const start = frames.find((f) => f.frame === keypoints.first_frame);
  const t0 = start ? start.time_s : 0;
  const ctx = overlay.getContext('2d');

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
      if (frames[mid].time_s <= t) lo = mid; else hi = mid - 1;
    }
    return frames[lo];
  };

  const drawKeypoints = () => {
    const w = video.clientWidth;
    const h = video.clientHeight;
    if (overlay.width !== w || overlay.height !== h) { overlay.width = w; overlay.height = h; }
    ctx.clearRect(0, 0, w, h);
    const f = frameAt(time + t0);
    if (!f || !f.landmarks || !video.videoWidth) return;
    const sx = w / video.videoWidth;
    const sy = h / video.videoHeight;
    ctx.strokeStyle = '#35e0a0';
    ctx.fillStyle = '#ffd23f';
    ctx.lineWidth = 2;
    for (const [a, b] of BONES) {
      const p = f.landmarks[a];
      const q = f.landmarks[b];
      if (p[3] < 0.3 || q[3] < 0.3) continue;
      ctx.beginPath();
      ctx.moveTo(p[0] * sx, p[1] * sy);
      ctx.lineTo(q[0] * sx, q[1] * sy);
      ctx.stroke();
    }
    for (const p of f.landmarks) {
      if (p[3] < 0.3) continue;
      ctx.beginPath();
      ctx.arc(p[0] * sx, p[1] * sy, 3, 0, Math.PI * 2);
      ctx.fill();
    }
  };

  const resize = () => {
    const w = stage.clientWidth;
    const h = stage.clientHeight;
    if (renderer.domElement.width !== Math.floor(w * renderer.getPixelRatio())) {
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

  const tick = (now) => {
    const dt = Math.min((now - last) / 1000, 0.1);
    last = now;
    if (playing && duration > 0) time = (time + dt * speed) % duration;
    mixer.setTime(time);
    orbit.update();
    resize();
    renderer.render(scene, camera);
    syncVideo();
    drawKeypoints();
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
  controls.play.addEventListener('click', onPlay);
  controls.scrub.addEventListener('input', onScrub);
  controls.speed.addEventListener('change', onSpeed);

  // For the end-to-end test: the figure's box on the canvas, in CSS pixels
  // relative to the canvas.
  const figureBox = () => {
    const b = bonesBox();
    const r = renderer.domElement.getBoundingClientRect();
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    for (let i = 0; i < 8; i += 1) {
      const p = new THREE.Vector3(i & 1 ? b.max.x : b.min.x, i & 2 ? b.max.y : b.min.y, i & 4 ? b.max.z : b.min.z).project(camera);
      const x = ((p.x + 1) / 2) * r.width;
      const y = ((1 - p.y) / 2) * r.height;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    return { x: Math.max(0, x0), y: Math.max(0, y0), w: Math.min(r.width, x1) - Math.max(0, x0), h: Math.min(r.height, y1) - Math.max(0, y0) };
  };
  window.vidmocapViewer = { figureBox, duration: () => duration, time: () => time };

  return {
    dispose() {
      cancelAnimationFrame(raf);
      controls.play.removeEventListener('click', onPlay);
      controls.scrub.removeEventListener('input', onScrub);
      controls.speed.removeEventListener('change', onSpeed);
      delete window.vidmocapViewer;
      orbit.dispose();
      renderer.dispose();
      if (action) action.stop();
    },
  };
}
