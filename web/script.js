// Digit Inference Engine, static page: drawing pad, camera and upload -> preprocess.js -> onnxruntime-web (wasm).
// Everything is fetched from this page's own folder; nothing leaves the browser.
import * as P from './preprocess.js';

const $ = (id) => document.getElementById(id);
const PAD_PEN = 20;            // pen width on the 280 px pad: about MNIST's stroke width once framed
const KEY_STEP = 10;           // keyboard pen step, pad pixels (Shift: 2)
const STATS_KEEP = 300;        // timings kept for the medians shown and read by the benchmark
const EXAMPLE = [              // an example "2" on the pad at start, so the page shows a prediction at once
  [[92, 98], [104, 76], [128, 62], [158, 62], [182, 78], [188, 104], [176, 134], [150, 164], [118, 196], [92, 222],
    [128, 220], [166, 220], [196, 222]],
];

const app = {
  ready: null,                 // Promise: resolves when the model is loaded, rejects with the shown message
  ort: null,
  session: null,
  contract: null,
  config: null,
  defaults: { ...P.DEFAULTS },
  cfg: { ...P.DEFAULTS },
  source: 'draw',
  stats: { capture: [], preprocess: [], inference: [], total: [], skipped: 0, frames: 0 },
  firstPredictionMs: null,     // ms since navigation start when the first prediction was shown
  last: null,                  // the last result shown
  lastDigit: null,             // its digit, or null for "no digit"
  preprocess: P,
  logits,                      // (Float32Array of n*784, n) -> Float32Array of n*10, for tests and benchmarks
  whenIdle,                    // () -> Promise resolved once no recognition runs or waits
};
window.digitApp = app;

// ------------------------------------------------------------------------------------------------ messages

function setStatus(text) { $('status').textContent = text; }

function showAlert(text) {
  const el = $('alert');
  el.textContent = text;
  el.hidden = !text;
}

class ShownError extends Error {}

function fail(kind, text) {
  document.body.dataset.state = 'error';
  document.body.dataset.error = kind;
  showAlert(text);
  setStatus('');
  throw new ShownError(text);
}

// ------------------------------------------------------------------------------------------------ model

async function fetchChecked(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`${what} (${url}) could not be fetched: ${e.message}`);
  }
  if (!res.ok) throw new Error(`${what} (${url}) could not be fetched: HTTP ${res.status}`);
  return res;
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;   // only in secure contexts (https, localhost)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function loadModel() {
  if (location.protocol === 'file:') {
    fail('file', 'This page must be served over http(s), not opened as a file: run `python -m core serve-web DIR` ' +
      'and open the address it prints.');
  }
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') {
    fail('wasm', 'This browser cannot run WebAssembly, which the model needs. Use an up-to-date Chrome, Edge, ' +
      'Firefox or Safari, and check that WebAssembly is not turned off by a policy or an extension.');
  }
  try {
    app.ort = await import('./ort.wasm.min.mjs');
    const ort = app.ort;
    ort.env.wasm.wasmPaths = new URL('./', document.baseURI).href;   // this folder, never a CDN
    // The model is tiny: one thread is fastest. More need cross-origin isolation (serve-web --isolate) and
    // can be tried with ?threads=N.
    const threads = Number(new URLSearchParams(location.search).get('threads')) || 1;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(threads, 8)) : 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';

    // The three small files and the model download in parallel; names are fixed by `core.web`.
    const [config, contract, bytes] = await Promise.all([
      fetchChecked('config.json', 'the page settings').then((r) => r.json()),
      fetchChecked('model.json', 'the model contract').then((r) => r.json()),
      fetchChecked('model.onnx', 'the model').then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
    ]);
    performance.mark('model-fetched');
    app.config = config;
    app.contract = contract;
    const modelUrl = 'model.onnx';
    if (contract.size_bytes && bytes.length !== contract.size_bytes) {
      throw new Error(`${modelUrl} has ${bytes.length} bytes but its contract says ${contract.size_bytes}`);
    }
    const digest = await sha256Hex(bytes);
    if (digest && contract.sha256 && digest !== contract.sha256) {
      throw new Error(`${modelUrl} does not match its contract (SHA-256 differs)`);
    }
    app.session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    performance.mark('session-created');
    const inName = contract.input?.name || 'image';
    const outName = contract.output?.name || 'logits';
    if (!app.session.inputNames.includes(inName) || !app.session.outputNames.includes(outName)) {
      throw new Error(`the model's input/output (${app.session.inputNames} -> ${app.session.outputNames}) ` +
        `do not match its contract (${inName} -> ${outName})`);
    }
    app.inName = inName;
    app.outName = outName;
    app.defaults = P.normalizeConfig({ ...P.DEFAULTS, ...(contract.preprocess || {}), ...(config.preprocess || {}) });
    setConfig(app.defaults);
    const acc = contract.metrics?.test_accuracy;
    $('about').textContent = `Model: ${modelUrl}, ${(bytes.length / 1024).toFixed(0)} KB` +
      (acc ? `, ${(100 * acc).toFixed(2)} % on the MNIST test set` : '') +
      ` · onnxruntime-web ${config.ort_version || ''} (WebAssembly, ${ort.env.wasm.numThreads} ` +
      `thread${ort.env.wasm.numThreads > 1 ? 's' : ''})`;
  } catch (e) {
    if (e instanceof ShownError) throw e;
    console.error(e);
    fail('model', `The model could not be loaded: ${e.message || e}. Reload the page; if it persists, the ` +
      'bundle is incomplete (re-export it with `python -m core export-web`).');
  }
  document.body.dataset.state = 'ready';
  setStatus('Model ready.');
}

// Every session.run goes through this chain: runs never overlap.
let chain = Promise.resolve();
function exclusive(fn) {
  const p = chain.then(fn);
  chain = p.catch(() => {});
  return p;
}

async function logits(data, n = 1) {
  await app.ready;
  return exclusive(async () => {
    const tensor = new app.ort.Tensor('float32', data, [n, 1, 28, 28]);
    const out = await app.session.run({ [app.inName]: tensor });
    return out[app.outName].data;
  });
}

function softmax(z) {
  const m = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

// ------------------------------------------------------------------------------------------------ scheduling

// UI work is coalesced: while a job runs, only the newest request waits; camera frames are skipped.
let busy = false;
let pending = null;
function schedule(job) {
  pending = job;
  pump();
}
async function pump() {
  if (busy || !pending || !app.session) return;
  const job = pending;
  pending = null;
  busy = true;
  try {
    await job();
  } catch (e) {
    console.error(e);
    showAlert(`Recognition failed: ${e.message || e}`);
  } finally {
    busy = false;
    if (pending) pump();
  }
}

function whenIdle() {
  return new Promise((resolve) => {
    const check = () => (!busy && !pending ? resolve() : setTimeout(check, 5));
    check();
  });
}

function keep(list, v) {
  list.push(v);
  if (list.length > STATS_KEEP) list.shift();
}

function median(list) {
  if (!list.length) return NaN;
  const s = [...list].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Each source hands over an image that already is the target box's content (the camera crops the box with
// P.boxOf, an upload or the pad is centre-cropped like `python -m core predict`). The pad is not paper seen by
// a camera: nothing there is a shadow or a ruled line, so ink touching its edge is kept.
function sourceConfig(source) {
  const whole = { ...app.cfg, box: null, center_x: 0.5, center_y: 0.5 };
  return source === 'draw' ? { ...whole, drop_border_ink: false } : whole;
}

// image: {data: RGBA bytes, width, height} (an ImageData).
async function recognize(image, source, captureMs = 0) {
  const t0 = performance.now();
  const r = P.preprocess(image, sourceConfig(source));
  const t1 = performance.now();
  let probs = null;
  if (r.digit) {
    const z = await exclusive(async () => {
      const tensor = new app.ort.Tensor('float32', r.input, [1, 1, 28, 28]);
      return (await app.session.run({ [app.inName]: tensor }))[app.outName].data;
    });
    probs = softmax(z);
  }
  const t2 = performance.now();
  const s = app.stats;
  keep(s.capture, captureMs);
  keep(s.preprocess, t1 - t0);
  keep(s.inference, t2 - t1);
  keep(s.total, captureMs + t2 - t0);
  s.frames += 1;
  const times = { capture: captureMs, preprocess: t1 - t0, inference: t2 - t1 };
  show({ source, input: r.input, probs, reason: r.reason, times });
}

// ------------------------------------------------------------------------------------------------ results

function buildBars() {
  const ol = $('bars');
  for (let d = 0; d < 10; d++) {
    const li = document.createElement('li');
    li.innerHTML = `<span class="lbl">${d}</span><span class="track"><span class="fill"></span></span>` +
      '<span class="pct">–</span>';
    li.dataset.digit = String(d);
    ol.append(li);
  }
}

function drawPreview(input) {
  const ctx = $('preview').getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * input[i]);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// Screen readers hear the answer only when it changes (the camera updates the page 30 times a second).
let announced = '';
function announce(text) {
  if (text === announced) return;
  announced = text;
  $('announce').textContent = text;
}

function show(res) {
  app.last = res;
  drawPreview(res.input);
  const rows = $('bars').children;
  const pred = $('prediction');
  if (res.probs) {
    let best = 0;
    for (let d = 1; d < 10; d++) if (res.probs[d] > res.probs[best]) best = d;
    $('digit').textContent = String(best);
    $('inline-digit').textContent = `${best} (${(100 * res.probs[best]).toFixed(0)} %)`;
    $('confidence').textContent = `${(100 * res.probs[best]).toFixed(1)} % sure`;
    pred.dataset.digit = String(best);
    app.lastDigit = best;
    announce(`Prediction: ${best}`);
    document.body.dataset.result = 'digit';
    for (let d = 0; d < 10; d++) {
      const p = res.probs[d];
      rows[d].querySelector('.fill').style.width = `${(100 * p).toFixed(1)}%`;
      rows[d].querySelector('.pct').textContent = `${(100 * p).toFixed(1)} %`;
      rows[d].classList.toggle('top', d === best);
      rows[d].setAttribute('aria-label', `${d}: ${(100 * p).toFixed(1)} percent`);
    }
  } else {
    $('digit').textContent = 'no digit';
    $('inline-digit').textContent = 'no digit';
    $('confidence').textContent = res.reason ? `(${res.reason})` : '';
    pred.dataset.digit = 'none';
    app.lastDigit = null;
    announce(`No digit${res.reason ? `: ${res.reason}` : ''}`);
    document.body.dataset.result = 'none';
    for (const row of rows) {
      row.querySelector('.fill').style.width = '0%';
      row.querySelector('.pct').textContent = '–';
      row.classList.remove('top');
      row.removeAttribute('aria-label');
    }
  }
  const t = res.times;
  const s = app.stats;
  let text = `This ${res.source === 'camera' ? 'frame' : 'image'}: preprocess ${t.preprocess.toFixed(2)} ms` +
    (res.probs ? ` + inference ${t.inference.toFixed(2)} ms` : ' (no digit, so no inference)');
  if (res.source === 'camera') {
    text += ` (+ capture ${t.capture.toFixed(2)} ms). Median of the last ${s.total.length}: ` +
      `${median(s.total).toFixed(2)} ms per frame; ${s.skipped} frames skipped while busy.`;
  }
  $('timing').textContent = text;
  if (app.firstPredictionMs === null) {
    app.firstPredictionMs = performance.now();
    document.body.dataset.firstPredictionMs = app.firstPredictionMs.toFixed(1);
    performance.mark('first-prediction');
  }
}

// ------------------------------------------------------------------------------------------------ settings

const SLIDERS = ['radius', 'offset', 'gain', 'box', 'stroke'];
const CHECKS = ['framing', 'drop_border_ink'];

function showSlider(name, v) {
  $(`${name}-out`).textContent = name === 'box' && v === null ? 'whole view' : String(v);
}

function setConfig(cfg) {
  app.cfg = P.normalizeConfig(cfg);
  for (const name of SLIDERS) {
    const input = $(name);
    const v = app.cfg[name];
    const shown = v === null ? Number(input.max) : v;
    if (shown > Number(input.max)) input.max = String(shown);
    if (shown < Number(input.min)) input.min = String(shown);
    input.value = String(shown);
    showSlider(name, v);
  }
  for (const name of CHECKS) $(name).checked = Boolean(app.cfg[name]);
}

function onSettingsChanged(e) {
  const cfg = { ...app.cfg };
  const name = e.target.id;
  if (SLIDERS.includes(name)) cfg[name] = Number(e.target.value);
  else cfg[name] = e.target.checked;
  try {
    app.cfg = P.normalizeConfig(cfg);
  } catch (err) {
    showAlert(err.message);
    return;
  }
  if (SLIDERS.includes(name)) showSlider(name, app.cfg[name]);
  rerun();
}

function rerun() {
  if (app.source === 'draw') recognizePad();
  else if (app.source === 'upload' && upload.image) recognizeUpload();
  // the camera picks the new settings up on its next frame
}

// ------------------------------------------------------------------------------------------------ drawing pad

const pad = $('pad');
const pctx = pad.getContext('2d', { willReadFrequently: true });
const pen = { down: false, last: null, example: true, kx: 140, ky: 140, keyDown: false };

function padClear() {
  pctx.fillStyle = '#ffffff';
  pctx.fillRect(0, 0, pad.width, pad.height);
  pen.example = false;
}

function padStyle() {
  pctx.strokeStyle = '#111111';
  pctx.fillStyle = '#111111';
  pctx.lineWidth = PAD_PEN;
  pctx.lineCap = 'round';
  pctx.lineJoin = 'round';
}

function padLine(a, b) {
  padStyle();
  pctx.beginPath();
  pctx.moveTo(a[0], a[1]);
  pctx.lineTo(b[0], b[1]);
  pctx.stroke();
}

function padDot(p) {
  padStyle();
  pctx.beginPath();
  pctx.arc(p[0], p[1], PAD_PEN / 2, 0, 2 * Math.PI);
  pctx.fill();
}

// The keyboard pen's position, drawn over the pad (not on it) while the pad has keyboard focus.
function moveCursor() {
  const c = $('pen-cursor');
  c.style.left = `${(100 * pen.kx) / pad.width}%`;
  c.style.top = `${(100 * pen.ky) / pad.height}%`;
  c.classList.toggle('down', pen.keyDown);
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  const x = (e.clientX - r.left - pad.clientLeft) * (pad.width / pad.clientWidth);
  const y = (e.clientY - r.top - pad.clientTop) * (pad.height / pad.clientHeight);
  return [x, y];
}

function drawExample() {
  padClear();
  for (const stroke of EXAMPLE) {
    padDot(stroke[0]);
    for (let i = 1; i < stroke.length; i++) padLine(stroke[i - 1], stroke[i]);
  }
  pen.example = true;
}

function recognizePad() {
  schedule(() => recognize(pctx.getImageData(0, 0, pad.width, pad.height), 'draw'));
}

pad.addEventListener('pointerdown', (e) => {
  if (e.pointerType === 'mouse' && e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  if (pen.example) padClear();
  pen.down = true;
  pen.last = padPoint(e);
  padDot(pen.last);
  recognizePad();
});
pad.addEventListener('pointermove', (e) => {
  if (!pen.down) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const p = padPoint(ev);
    padLine(pen.last, p);
    pen.last = p;
  }
  recognizePad();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (!pen.down) return;
    pen.down = false;
    recognizePad();
  });
}
pad.addEventListener('keydown', (e) => {
  const step = e.shiftKey ? 2 : KEY_STEP;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (e.key in moves) {
    const [dx, dy] = moves[e.key];
    const from = [pen.kx, pen.ky];
    pen.kx = Math.min(pad.width, Math.max(0, pen.kx + dx));
    pen.ky = Math.min(pad.height, Math.max(0, pen.ky + dy));
    if (pen.keyDown) {
      padLine(from, [pen.kx, pen.ky]);
      recognizePad();
    }
    moveCursor();
    setStatus(`Pen at ${Math.round(pen.kx)}, ${Math.round(pen.ky)} (${pen.keyDown ? 'down' : 'up'}).`);
  } else if (e.key === ' ' || e.key === 'Enter') {
    pen.keyDown = !pen.keyDown;
    moveCursor();
    if (pen.keyDown) {
      if (pen.example) padClear();
      padDot([pen.kx, pen.ky]);
      recognizePad();
    }
    setStatus(`Pen ${pen.keyDown ? 'down: arrow keys draw' : 'up: arrow keys move'}.`);
  } else if (e.key === 'Delete' || e.key === 'Backspace' || e.key === 'Escape') {
    padClear();
    pen.keyDown = false;
    recognizePad();
    setStatus('Pad cleared.');
  } else {
    return;
  }
  e.preventDefault();
});
$('clear').addEventListener('click', () => {
  padClear();
  recognizePad();
  pad.focus();
});

// ------------------------------------------------------------------------------------------------ camera

const video = $('video');
const overlay = $('overlay');
const camera = { stream: null, on: false, work: null, wctx: null };

function cameraMessage(e) {
  const name = e?.name || '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return 'Camera access was denied. Allow the camera for this page in the browser\'s site settings and press ' +
      '"Start camera" again, or draw or upload a digit instead.';
  }
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
    return 'No camera was found on this device. Draw or upload a digit instead.';
  }
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') {
    return 'The camera is in use by another application or could not be started. Close the other application ' +
      'and press "Start camera" again.';
  }
  return `The camera could not be started: ${e?.message || e}`;
}

function cameraError(text) {
  document.body.dataset.camera = 'error';
  showAlert(text);
  setStatus('');
}

async function startCamera() {
  if (camera.on) return;
  showAlert('');
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraError('This browser offers no camera to this page. Cameras need a secure context: open the page over ' +
      'https or from localhost / 127.0.0.1.');
    return;
  }
  setStatus('Starting the camera…');
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: 'environment', width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (e) {
    cameraError(cameraMessage(e));
    return;
  }
  if (app.source !== 'camera') {           // switched away while the permission prompt was open
    for (const t of camera.stream.getTracks()) t.stop();
    camera.stream = null;
    return;
  }
  video.srcObject = camera.stream;
  try {
    await video.play();
  } catch (e) {
    stopCamera();
    cameraError(cameraMessage(e));
    return;
  }
  camera.on = true;
  app.stats = { capture: [], preprocess: [], inference: [], total: [], skipped: 0, frames: 0 };  // camera only
  document.body.dataset.camera = 'on';
  $('camera-toggle').textContent = 'Stop camera';
  $('camera-toggle').setAttribute('aria-pressed', 'true');
  setStatus('Camera on: hold a digit inside the box.');
  nextFrame();
}

function stopCamera() {
  camera.on = false;
  if (camera.stream) for (const t of camera.stream.getTracks()) t.stop();
  camera.stream = null;
  video.srcObject = null;
  document.body.dataset.camera = 'off';
  $('camera-toggle').textContent = 'Start camera';
  $('camera-toggle').setAttribute('aria-pressed', 'false');
}

function nextFrame() {
  if (!camera.on) return;
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
  else requestAnimationFrame(onFrame);
}

function drawBox(box, w, h) {
  if (overlay.width !== w || overlay.height !== h) {
    overlay.width = w;
    overlay.height = h;
  }
  const ctx = overlay.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';     // dim everything outside the box
  ctx.fillRect(0, 0, w, box.y);
  ctx.fillRect(0, box.y + box.size, w, h - box.y - box.size);
  ctx.fillRect(0, box.y, box.x, box.size);
  ctx.fillRect(box.x + box.size, box.y, w - box.x - box.size, box.size);
  ctx.lineWidth = Math.max(2, Math.round(w / 240));
  ctx.strokeStyle = app.last?.probs ? '#3ddc84' : '#ffcc00';
  ctx.strokeRect(box.x - ctx.lineWidth / 2, box.y - ctx.lineWidth / 2, box.size + ctx.lineWidth, box.size + ctx.lineWidth);
}

function onFrame() {
  if (!camera.on) return;
  nextFrame();
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return;
  const box = P.boxOf(h, w, app.cfg);
  drawBox(box, w, h);
  if (busy || pending || !app.session) {      // never queue camera frames: drop them
    app.stats.skipped += 1;
    return;
  }
  const t0 = performance.now();
  if (!camera.work || camera.work.width !== box.size) {
    camera.work = document.createElement('canvas');
    camera.work.width = camera.work.height = box.size;
    camera.wctx = camera.work.getContext('2d', { willReadFrequently: true });
    camera.wctx.imageSmoothingEnabled = false;
  }
  camera.wctx.drawImage(video, box.x, box.y, box.size, box.size, 0, 0, box.size, box.size);
  const image = camera.wctx.getImageData(0, 0, box.size, box.size);
  const captureMs = performance.now() - t0;
  schedule(() => recognize(image, 'camera', captureMs));
}

$('camera-toggle').addEventListener('click', () => (camera.on ? stopCamera() : startCamera()));

// ------------------------------------------------------------------------------------------------ upload

const upload = { image: null };

function recognizeUpload() {
  const image = upload.image;
  schedule(() => recognize(image, 'upload'));
}

$('file').addEventListener('change', async () => {
  const file = $('file').files[0];
  if (!file) return;
  showAlert('');
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    showAlert(`${file.name} is not an image this browser can read.`);
    return;
  }
  if (bitmap.width * bitmap.height > 50e6) {
    showAlert(`${file.name} is ${bitmap.width}×${bitmap.height} pixels: too large (at most 50 megapixels).`);
    return;
  }
  // the middle square is the target box's content, as for `python -m core predict`
  const box = P.boxOf(bitmap.height, bitmap.width, { box: null, center_x: 0.5, center_y: 0.5 });
  const side = box.size;
  const c = document.createElement('canvas');
  c.width = c.height = side;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, box.x, box.y, side, side, 0, 0, side, side);
  bitmap.close?.();
  upload.image = ctx.getImageData(0, 0, side, side);
  const view = $('upload-view').getContext('2d');
  view.drawImage(c, 0, 0, 280, 280);
  recognizeUpload();
});

// ------------------------------------------------------------------------------------------------ wiring

function selectSource(source) {
  app.source = source;
  for (const name of ['draw', 'camera', 'upload']) $(`panel-${name}`).hidden = name !== source;
  if (source === 'camera') startCamera();
  else stopCamera();
  rerun();
}

for (const radio of document.querySelectorAll('input[name="source"]')) {
  radio.addEventListener('change', () => radio.checked && selectSource(radio.value));
}
for (const name of SLIDERS) $(name).addEventListener('input', onSettingsChanged);
for (const name of CHECKS) $(name).addEventListener('change', onSettingsChanged);
$('reset').addEventListener('click', () => {
  setConfig(app.defaults);
  rerun();
});

buildBars();
moveCursor();
setConfig(app.defaults);
drawExample();
recognizePad();                                  // runs as soon as the model is ready
app.ready = loadModel();
app.ready.then(pump, () => {});
