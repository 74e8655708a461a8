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
const NOT_A_DIGIT = 'not a digit';   // core.inference's reasons, word for word
const NOT_SURE = 'not sure';
const WASM = 'ort-wasm-simd-threaded.wasm';
const WHAT = {                 // each file of the bundle, in words a visitor understands
  'bundle.json': 'the list of this site\'s files',
  'config.json': 'the page\'s settings',
  'model.json': 'the model\'s description',
  'model.onnx': 'the model',
  'features.onnx': 'the model\'s first layers',
  'ort.wasm.min.mjs': 'the runtime that runs the model',
  [WASM]: 'the runtime that runs the model',
};
const DEV_FIX = 'Developer: re-export the bundle with `python -m core export-web OUT --force`, serve it with ' +
  '`python -m core serve-web OUT`, and check that every file listed in bundle.json was uploaded.';
const TELL = 'Reload the page; if this keeps happening, the site is broken: please tell whoever runs it.';

const app = {
  ready: null,                 // Promise: resolves when the model is loaded, rejects with the shown message
  ort: null,
  session: null,
  contract: null,
  config: null,
  labels: 10,                  // outputs of the model: 10 digits, or 10 digits and "not a digit"
  defaults: { ...P.DEFAULTS },
  cfg: { ...P.DEFAULTS },
  source: 'draw',
  generation: 0,               // bumped whenever the input changes: older results are dropped, never shown
  stats: newStats(),
  firstPredictionMs: null,     // ms since navigation start when the first prediction was shown
  last: null,                  // the last result shown
  lastDigit: null,             // its digit, or null for no digit, "not a digit" or "not sure"
  lastFeatures: null,          // the feature maps shown: [{output, channels, height, width, data}] or null
  preprocess: P,
  decide,                      // (logits, rejection) -> answer, as core.inference.decide
  logits,                      // (Float32Array of n*784, n) -> Float32Array of n*K, for tests and benchmarks
  features: featureMaps,       // (Float32Array of 784) -> the first two layers' outputs, for tests
  whenIdle,                    // () -> Promise resolved once no recognition runs or waits
};
window.digitApp = app;

function newStats() {
  return { capture: [], preprocess: [], inference: [], features: [], total: [], skipped: 0, frames: 0,
    featureRuns: 0 };
}

// ------------------------------------------------------------------------------------------------ messages

function setStatus(text) { $('status').textContent = text; }

function showAlert(text) {
  const el = $('alert');
  el.textContent = text;
  el.hidden = !text;
}

// An error a visitor can act on: `visitor` is shown, `developer` (what to fix in the bundle) goes to the console.
class PageError extends Error {
  constructor(visitor, developer = '', kind = 'model') {
    super(visitor);
    this.developer = developer;
    this.kind = kind;
  }
}

function disableControls() {
  for (const el of document.querySelectorAll('main input, main button, main textarea')) el.disabled = true;
  pad.tabIndex = -1;
  pad.setAttribute('aria-disabled', 'true');
}

function fatal(e) {
  const err = e instanceof PageError ? e : new PageError(`The page could not start: ${e?.message || e}. ${TELL}`,
    String(e?.stack || e));
  console.error(`digit page: ${err.message}${err.developer ? `\n${err.developer}` : ''}`);
  document.body.dataset.state = 'error';
  document.body.dataset.error = err.kind;
  $('loading').hidden = true;
  setStatus('');
  stopCamera();
  clearResult();
  disableControls();
  showAlert(err.message);
  throw err;
}

// ------------------------------------------------------------------------------------------------ loading

// Bytes of the model and the runtime as they arrive (what the progress bar shows). Totals come from bundle.json
// (sizes as stored: a compressed response's Content-Length is not the size the stream yields).
const loading = { files: {}, shownMs: null };

function showProgress() {
  let loaded = 0;
  let total = 0;
  let known = true;
  for (const f of Object.values(loading.files)) {
    loaded += f.loaded;
    total += f.total;
    known &&= f.total > 0;
  }
  const bar = $('progress');
  const mb = (n) => (n / 1e6).toFixed(1);
  if (known && total) {
    bar.max = total;
    bar.value = Math.min(loaded, total);
    $('progress-text').textContent = `${mb(loaded)} of ${mb(total)} MB`;
  } else {
    $('progress-text').textContent = `${mb(loaded)} MB`;
  }
  if (loaded > 0 && loading.shownMs === null) {
    loading.shownMs = performance.now();
    document.body.dataset.progressMs = loading.shownMs.toFixed(1);
  }
}

async function download(name, track = false) {
  let res;
  try {
    res = await fetch(name);
  } catch (e) {
    throw new PageError(`The page could not download ${name} (${WHAT[name]}): the connection failed. Check your ` +
      'connection and reload the page.', `${name}: ${e.message}`, 'network');
  }
  if (!res.ok) {
    throw new PageError(`The page could not load ${name} (${WHAT[name]}): the server answered "${res.status}` +
      `${res.statusText ? ` ${res.statusText}` : ''}". ${TELL}`, `${name}: HTTP ${res.status}. ${DEV_FIX}`, 'missing');
  }
  const entry = track ? (loading.files[name] ??= { loaded: 0, total: 0 }) : { loaded: 0, total: 0 };
  if (!entry.total && !res.headers.get('Content-Encoding')) entry.total = Number(res.headers.get('Content-Length')) || 0;
  try {
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    const chunks = [];
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
      entry.loaded = n;
      if (track) showProgress();
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } catch (e) {
    throw new PageError(`The download of ${name} (${WHAT[name]}) was interrupted. Check your connection and reload ` +
      'the page.', `${name}: ${e.message}`, 'network');
  }
}

async function downloadJson(name, optional = false) {
  let bytes;
  try {
    bytes = await download(name);
  } catch (e) {
    if (optional) return null;
    throw e;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PageError(`${name} (${WHAT[name]}) is damaged, so the page cannot start. ${TELL}`,
      `${name} is not valid JSON: ${e.message}. ${DEV_FIX}`, 'damaged');
  }
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) return null;   // only in secure contexts (https, localhost)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function checkContract(contract) {
  const bad = (why) => new PageError(`model.json (${WHAT['model.json']}) is damaged: ${why}. ${TELL}`,
    `model.json: ${why}. ${DEV_FIX}`, 'damaged');
  if (contract?.format !== 'digit-inference-engine/model-contract') throw bad('it is not a model contract');
  const labels = contract.labels ?? Array.from({ length: 10 }, (_, i) => i);
  if (!Array.isArray(labels) || ![10, 11].includes(labels.length)) throw bad('it names neither 10 nor 11 labels');
  const rule = contract.rejection;
  if (rule && rule.none_class != null && rule.none_class !== labels.length - 1) {
    throw bad('its "not a digit" class is not its last label');
  }
  return labels.length;
}

async function createSession(ort, bytes) {
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  } catch (e) {
    const raw = String(e?.message || e);
    if (/backend|wasm|webassembly|instantiate|abort/i.test(raw)) {
      throw new PageError('The runtime that runs the model (onnxruntime-web: ort-wasm-simd-threaded.mjs and ' +
        `${WASM}) could not start in this browser. ${TELL}`, `onnxruntime-web: ${raw}. ${DEV_FIX}`, 'runtime');
    }
    throw new PageError(`model.onnx (${WHAT['model.onnx']}) is damaged: the runtime could not read it. ${TELL}`,
      `model.onnx: ${raw}. ${DEV_FIX}`, 'damaged');
  }
}

async function loadModel() {
  if (location.protocol === 'file:') {
    throw new PageError($('file-hint').textContent.replace(/\s+/g, ' ').trim(), '', 'file');
  }
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.instantiate !== 'function') {
    throw new PageError('This browser cannot run WebAssembly, which the model needs. Use an up-to-date Chrome, Edge, ' +
      'Firefox or Safari, and check that WebAssembly is not turned off by a policy or an extension.', '', 'wasm');
  }
  // Everything downloads in parallel; the model and the runtime (98 % of the bytes) with byte progress.
  loading.files['model.onnx'] = { loaded: 0, total: 0 };
  loading.files[WASM] = { loaded: 0, total: 0 };
  showProgress();
  const manifestP = downloadJson('bundle.json', true).then((m) => {
    for (const name of Object.keys(loading.files)) {
      const size = m?.files?.[name]?.bytes;
      if (size) loading.files[name].total = size;
    }
    showProgress();
    return m;
  });
  const ortP = import('./ort.wasm.min.mjs').catch((e) => {
    throw new PageError(`The page could not load ort.wasm.min.mjs (${WHAT['ort.wasm.min.mjs']}). ${TELL}`,
      `ort.wasm.min.mjs: ${e.message}. ${DEV_FIX}`, 'missing');
  });
  const all = [downloadJson('config.json'), downloadJson('model.json'), download('model.onnx', true),
    download(WASM, true), ortP, manifestP];
  for (const p of all) p.catch(() => {});         // the first failure is reported below; the rest are not unhandled
  const [config, contract, bytes, wasm, ort] = await Promise.all(all);
  performance.mark('model-fetched');
  app.labels = checkContract(contract);
  if (contract.size_bytes && bytes.length !== contract.size_bytes) {
    throw new PageError(`model.onnx (${WHAT['model.onnx']}) does not match its description in model.json: the site ` +
      `holds files of two different versions. ${TELL}`,
      `model.onnx has ${bytes.length} bytes, its contract says ${contract.size_bytes}. ${DEV_FIX}`, 'damaged');
  }
  const digest = await sha256Hex(bytes);
  if (digest && contract.sha256 && digest !== contract.sha256) {
    throw new PageError(`model.onnx (${WHAT['model.onnx']}) does not match its description in model.json: the site ` +
      `holds files of two different versions, or a damaged model. ${TELL}`,
      `model.onnx: SHA-256 ${digest}, its contract says ${contract.sha256}. ${DEV_FIX}`, 'damaged');
  }
  app.ort = ort;
  ort.env.wasm.wasmPaths = new URL('./', document.baseURI).href;   // this folder, never a CDN
  ort.env.wasm.wasmBinary = wasm;                                    // already downloaded, with progress
  // The model is tiny: one thread is fastest. More need cross-origin isolation (serve-web --isolate) and
  // can be tried with ?threads=N.
  const threads = Number(new URLSearchParams(location.search).get('threads')) || 1;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(threads, 8)) : 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  app.session = await createSession(ort, bytes);
  performance.mark('session-created');
  const inName = contract.input?.name || 'image';
  const outName = contract.output?.name || 'logits';
  if (!app.session.inputNames.includes(inName) || !app.session.outputNames.includes(outName)) {
    throw new PageError(`model.onnx (${WHAT['model.onnx']}) does not match its description in model.json. ${TELL}`,
      `the model's input/output (${app.session.inputNames} -> ${app.session.outputNames}) do not match its ` +
      `contract (${inName} -> ${outName}). ${DEV_FIX}`, 'damaged');
  }
  app.config = config;
  app.contract = contract;
  app.inName = inName;
  app.outName = outName;
  app.defaults = P.normalizeConfig({ ...P.DEFAULTS, ...(contract.preprocess || {}), ...(config.preprocess || {}) });
  setConfig(app.defaults);
  buildBars();
  setupMaps(config.features);
  const acc = contract.metrics?.test_accuracy;
  $('about').textContent = `Model: model.onnx, ${(bytes.length / 1024).toFixed(0)} KB` +
    (acc ? `, ${(100 * acc).toFixed(2)} % on the MNIST test set` : '') +
    ` · onnxruntime-web ${config.ort_version || ''} (WebAssembly, ${ort.env.wasm.numThreads} ` +
    `thread${ort.env.wasm.numThreads > 1 ? 's' : ''})`;
  $('loading').hidden = true;
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

// core.inference.decide, line for line: softmax of logits / temperature; "not a digit" when the none class is the
// most likely, "not sure" when the best digit's probability is under min_confidence. Without a rule, the best
// digit is always the answer. Probabilities are float64; what is shown (the ten digits') is rounded to float32.
function decide(z, rejection) {
  const rule = rejection || {};
  const t = Number(rule.temperature ?? 1);
  const s = Array.from(z, (v) => v / t);
  const m = Math.max(...s);
  const e = s.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / sum);
  const digits = Float32Array.from(p.slice(0, 10));
  let best = 0;
  for (let d = 1; d < 10; d++) if (digits[d] > digits[best]) best = d;
  const none = Number.isInteger(rule.none_class) ? rule.none_class : null;
  let top = 0;
  for (let k = 1; k < p.length; k++) if (p[k] > p[top]) top = k;
  let reason = null;
  if (none !== null && top === none) reason = NOT_A_DIGIT;
  else if (digits[best] < Number(rule.min_confidence ?? 0)) reason = NOT_SURE;
  return { digit: reason ? null : best, best, confidence: digits[best], probabilities: digits,
    none: none !== null ? p[none] : 0, reason };
}

// ------------------------------------------------------------------------------------------------ feature maps

// The first two conv layers of the same model (features.onnx, cut from model.onnx by export-web), drawn small
// under the prediction. They run only while the maps are on screen.
const maps = { layers: [], session: null, loading: null, inView: false, canvases: [] };

function setupMaps(spec) {
  if (!spec?.layers?.length) return;
  maps.layers = spec.layers;
  maps.file = spec.model;
  const holder = $('maps');
  holder.textContent = '';
  maps.canvases = spec.layers.map((l, i) => {
    const cols = l.channels <= 16 ? 8 : 16;
    const rows = Math.ceil(l.channels / cols);
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = cols * (l.width + 1) - 1;
    c.height = rows * (l.height + 1) - 1;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', `Layer ${i + 1}: ${l.channels} feature maps of ${l.width} by ${l.height} pixels`);
    const cap = document.createElement('figcaption');
    cap.textContent = `Layer ${i + 1}: ${l.channels} filters, ${l.width}×${l.height}`;
    fig.append(c, cap);
    holder.append(fig);
    return { canvas: c, cols };
  });
  const details = $('inside');
  details.hidden = false;
  details.open = matchMedia('(min-width: 760px)').matches;   // on a phone the answer comes first
  details.addEventListener('toggle', () => mapsChanged());
  new IntersectionObserver((entries) => {
    maps.inView = entries[entries.length - 1].isIntersecting;
    mapsChanged();
  }).observe(holder);
}

function mapsVisible() {
  return maps.layers.length > 0 && $('inside').open && maps.inView && document.visibilityState === 'visible';
}

function mapsChanged() {
  if (!mapsVisible()) return;
  featureSession().then(() => { if (!app.last?.maps && app.source !== 'camera') rerun(); }, () => {});
}

function featureSession() {
  maps.loading ??= (async () => {
    const bytes = await download(maps.file);
    maps.session = await app.ort.InferenceSession.create(bytes, { executionProviders: ['wasm'],
      graphOptimizationLevel: 'all' });
    return maps.session;
  })().catch((e) => {
    console.error(`digit page: the feature maps could not be loaded: ${e.developer || e.message}`);
    $('inside').hidden = true;
    maps.layers = [];
    throw e;
  });
  return maps.loading;
}

async function runFeatures(input) {  // inside `exclusive`
  const out = await maps.session.run({ [app.inName]: new app.ort.Tensor('float32', input, [1, 1, 28, 28]) });
  app.stats.featureRuns += 1;
  return maps.layers.map((l) => ({ ...l, data: out[l.output].data }));
}

async function featureMaps(input) {
  await app.ready;
  await featureSession();
  return exclusive(() => runFeatures(input));
}

function drawMaps(layers) {
  maps.canvases.forEach(({ canvas, cols }, i) => {
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const l = layers?.[i];
    if (!l) return;
    let max = 0;
    for (const v of l.data) if (v > max) max = v;
    const img = ctx.createImageData(canvas.width, canvas.height);
    const hw = l.height * l.width;
    for (let c = 0; c < l.channels; c++) {
      const x0 = (c % cols) * (l.width + 1);
      const y0 = Math.floor(c / cols) * (l.height + 1);
      for (let y = 0; y < l.height; y++) {
        for (let x = 0; x < l.width; x++) {
          const v = max > 0 ? Math.round((255 * Math.max(0, l.data[c * hw + y * l.width + x])) / max) : 0;
          const o = 4 * ((y0 + y) * canvas.width + x0 + x);
          img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
          img.data[o + 3] = 255;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
  });
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

// One pipeline, as core.preprocess runs it: the camera hands over whole frames and the pipeline searches the box
// it draws (P.live: live_box); an upload and the pad are searched whole, as `python -m core predict` does.
function sourceConfig(source) {
  return source === 'camera' ? P.live(app.cfg) : { ...app.cfg, box: null };
}

// pre: what preprocessing gave ({input, digit, reason}); classify it and show it unless the input changed since.
async function classify(pre, source, gen, times) {
  const t1 = performance.now();
  let answer = null;
  let layers = null;
  let featuresMs = 0;
  if (pre.digit) {
    const withMaps = mapsVisible() && maps.session !== null;
    const r = await exclusive(async () => {
      const tensor = new app.ort.Tensor('float32', pre.input, [1, 1, 28, 28]);
      const z = (await app.session.run({ [app.inName]: tensor }))[app.outName].data;
      const t = performance.now();
      const f = withMaps ? await runFeatures(pre.input) : null;
      return { z, f, featuresMs: performance.now() - t };
    });
    answer = decide(r.z, app.contract.rejection);
    layers = r.f;
    featuresMs = r.featuresMs;
  }
  const inference = performance.now() - t1 - featuresMs;
  if (gen !== app.generation) return;           // the source changed, the camera stopped, a new file came
  const t = { capture: 0, ...times, inference, features: featuresMs };
  show({ source, input: pre.input, answer, reason: pre.reason, times: t, maps: layers });
  const s = app.stats;                          // recorded after show(): the maps' drawing counts as their time
  keep(s.capture, t.capture);
  keep(s.preprocess, t.preprocess);
  keep(s.inference, t.inference);
  if (layers) keep(s.features, t.features);
  keep(s.total, t.capture + t.preprocess + t.inference + t.features);
  s.frames += 1;
}

// image: {data: RGBA bytes, width, height} (an ImageData).
async function recognize(image, source, captureMs = 0) {
  const gen = app.generation;
  const t0 = performance.now();
  const r = P.preprocess(image, sourceConfig(source));
  await classify(r, source, gen, { capture: captureMs, preprocess: performance.now() - t0 });
}

// ------------------------------------------------------------------------------------------------ results

function buildBars() {
  const ol = $('bars');
  ol.textContent = '';
  for (let d = 0; d < app.labels; d++) {
    const li = document.createElement('li');
    const name = d < 10 ? String(d) : 'none';
    li.innerHTML = `<span class="lbl">${name}</span><span class="track"><span class="fill"></span></span>` +
      '<span class="pct">–</span>';
    li.dataset.digit = d < 10 ? String(d) : 'none';
    if (d === 10) li.title = NOT_A_DIGIT;
    ol.append(li);
  }
}

function drawPreview(input) {
  const ctx = $('preview').getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = input ? Math.round(255 * input[i]) : 0;
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

const pct = (p) => `${(100 * p).toFixed(1)}\u00a0%`;   // never wrapped between number and sign

function setBars(probs, none, top) {
  const rows = $('bars').children;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k];
    const p = probs ? (k < 10 ? probs[k] : none) : null;
    row.querySelector('.fill').style.width = p === null ? '0%' : `${(100 * p).toFixed(1)}%`;
    row.querySelector('.pct').textContent = p === null ? '–' : pct(p);
    row.classList.toggle('top', p !== null && k === top);
    if (p === null) row.removeAttribute('aria-label');
    else row.setAttribute('aria-label', `${k < 10 ? k : NOT_A_DIGIT}: ${(100 * p).toFixed(1)} percent`);
  }
}

function showAnswer(digit, confidence, inline, reason) {
  $('digit').textContent = digit;
  $('confidence').textContent = confidence;
  $('inline-digit').textContent = digit;
  $('inline-confidence').textContent = inline;
  const pred = $('prediction');
  if (reason) pred.dataset.reason = reason;
  else delete pred.dataset.reason;
}

// Back to "nothing recognized yet": every change of source, stop or failure calls it, so no answer outlives its input.
function clearResult() {
  app.generation += 1;
  pending = null;
  app.last = null;
  app.lastDigit = null;
  app.lastFeatures = null;
  showAnswer('–', '', '', null);
  delete $('prediction').dataset.digit;
  document.body.dataset.result = 'empty';
  setBars(null);
  drawPreview(null);
  drawMaps(null);
  $('timing').textContent = '–';
  announce('');
}

// The camera's stability filter, as core.live.Stabilizer: the answer shown changes only when another one (a digit
// read with at least STEADY_MIN confidence, or none) held for STEADY_HOLD frames in a row.
const STEADY_HOLD = 3, STEADY_MIN = 0.6;
const steady = { candidate: undefined, count: 0, shown: null };

function steadyReset() {
  Object.assign(steady, { candidate: undefined, count: 0, shown: null });
}

// What the page shows for a camera frame: the steady answer, with this frame's figures where they agree.
function steadyView(res) {
  const a = res.answer;
  const c = a && a.digit !== null && a.confidence >= STEADY_MIN ? a.digit : null;
  steady.count = c === steady.candidate ? steady.count + 1 : 1;
  steady.candidate = c;
  if (steady.count >= STEADY_HOLD) steady.shown = c;
  if (steady.shown === null) return { ...res, answer: null, reason: a ? (a.reason || 'not steady yet') : res.reason };
  if (a && a.digit === steady.shown) return res;
  const p = a ? a.probabilities[steady.shown] : 0;
  return { ...res, answer: { ...(a || { probabilities: null, none: 0 }), digit: steady.shown, reason: null, confidence: p } };
}

function show(res) {
  if (res.source === 'camera') res = steadyView(res);
  app.last = res;
  drawPreview(res.input);
  const pred = $('prediction');
  const a = res.answer;
  const rule = app.contract?.rejection;
  if (a) {
    if (a.reason === NOT_A_DIGIT) {
      showAnswer(NOT_A_DIGIT, `model's probability that this is not a digit: ${pct(a.none)}`, '', a.reason);
      setBars(a.probabilities, a.none, 10);
    } else if (a.reason === NOT_SURE) {
      showAnswer(NOT_SURE, `best guess ${a.best}, model's probability ${pct(a.confidence)} (under ` +
        `${pct(rule.min_confidence)})`, `best guess ${a.best}`, a.reason);
      setBars(a.probabilities, a.none, -1);
    } else {
      showAnswer(String(a.digit), `model's probability ${pct(a.confidence)}`,
        `model's probability ${pct(a.confidence)}`, null);
      setBars(a.probabilities, a.none, a.digit);
    }
    pred.dataset.digit = a.digit === null ? 'none' : String(a.digit);
    app.lastDigit = a.digit;
    announce(a.digit === null ? `${a.reason[0].toUpperCase()}${a.reason.slice(1)}` : `Prediction: ${a.digit}`);
    document.body.dataset.result = a.digit === null ? 'rejected' : 'digit';
  } else {
    showAnswer('no digit', res.reason ? `(${res.reason})` : '', '', null);
    pred.dataset.digit = 'none';
    app.lastDigit = null;
    announce(`No digit${res.reason ? `: ${res.reason}` : ''}`);
    document.body.dataset.result = 'none';
    setBars(null);
  }
  const t = res.times;
  const t0 = performance.now();
  app.lastFeatures = res.maps;
  drawMaps(res.maps);
  if (res.maps) t.features += performance.now() - t0;
  const s = app.stats;
  let text = `This ${res.source === 'camera' ? 'frame' : 'image'}: preprocess ${t.preprocess.toFixed(2)} ms` +
    (a ? ` + inference ${t.inference.toFixed(2)} ms` : ' (no digit, so no inference)') +
    (res.maps ? ` + feature maps ${t.features.toFixed(2)} ms` : '');
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

const SLIDERS = ['radius', 'offset', 'gain', 'live_box', 'stroke'];
const CHECKS = ['framing', 'lines'];

function showSlider(name, v) {
  $(`${name}-out`).textContent = name === 'live_box' ? `${Math.round(v * 100)} %` : String(v);
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
  else if (app.source === 'upload' && upload.has) recognizeUpload();
  // the camera picks the new settings up on its next frame
}

// ------------------------------------------------------------------------------------------------ drawing pad

const pad = $('pad');
const pctx = pad.getContext('2d', { willReadFrequently: true });
const pen = { down: false, last: null, example: true, kx: 140, ky: 140, keyDown: false };
const padOff = () => document.body.dataset.state === 'error';

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
  if ((e.pointerType === 'mouse' && e.button !== 0) || padOff()) return;
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
  if (padOff()) return;
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
  clearResult();
  showAlert(text);
  setStatus('');
}

async function startCamera() {
  if (camera.on || app.source !== 'camera') return;
  showAlert('');
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraError('This browser offers no camera to this page. Cameras need a secure context: open the page over ' +
      'https or from localhost / 127.0.0.1.');
    return;
  }
  setStatus('Starting the camera…');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: 'environment', width: { ideal: 640 }, height: { ideal: 480 } },
    });
  } catch (e) {
    if (app.source === 'camera') cameraError(cameraMessage(e));
    return;
  }
  if (app.source !== 'camera') {           // switched away while the permission prompt was open
    for (const t of stream.getTracks()) t.stop();
    return;
  }
  camera.stream = stream;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (e) {
    stopCamera();
    cameraError(cameraMessage(e));
    return;
  }
  camera.on = true;
  app.stats = newStats();  // camera only
  steadyReset();
  document.body.dataset.camera = 'on';
  $('camera-toggle').textContent = 'Stop camera';
  $('camera-toggle').setAttribute('aria-pressed', 'true');
  setStatus('Camera on: hold a digit inside the box.');
  nextFrame();
}

function stopCamera() {
  const was = camera.on || camera.stream;
  camera.on = false;
  if (camera.stream) for (const t of camera.stream.getTracks()) t.stop();
  camera.stream = null;
  video.srcObject = null;
  overlay.getContext('2d').clearRect(0, 0, overlay.width, overlay.height);
  if (document.body.dataset.camera !== 'error') document.body.dataset.camera = 'off';
  $('camera-toggle').textContent = 'Start camera';
  $('camera-toggle').setAttribute('aria-pressed', 'false');
  if (was) {
    clearResult();
    setStatus('Camera stopped.');
  }
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
  ctx.strokeStyle = app.lastDigit !== null ? '#3ddc84' : '#ffcc00';
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
  if (!camera.work || camera.work.width !== w || camera.work.height !== h) {
    camera.work = document.createElement('canvas');
    camera.work.width = w;
    camera.work.height = h;
    camera.wctx = camera.work.getContext('2d', { willReadFrequently: true });
    camera.wctx.imageSmoothingEnabled = false;
  }
  camera.wctx.drawImage(video, 0, 0, w, h);   // the whole frame: a digit reaching past the box edge stays whole
  const image = camera.wctx.getImageData(0, 0, w, h);
  const captureMs = performance.now() - t0;
  schedule(() => recognize(image, 'camera', captureMs));
}

$('camera-toggle').addEventListener('click', () => (camera.on ? stopCamera() : startCamera()));

// ------------------------------------------------------------------------------------------------ upload

// Decoding, cropping and preprocessing an upload run in a worker (a 36 MP photo takes over a second): the page
// stays responsive and shows that it is busy. The worker keeps the last image, so a settings change reruns it.
const upload = { has: false, worker: null, seq: 0, waiting: new Map() };

function uploadWorker() {
  if (!upload.worker) {
    upload.worker = new Worker(new URL('./upload-worker.js', import.meta.url), { type: 'module' });
    upload.worker.onmessage = (e) => {
      const resolve = upload.waiting.get(e.data.id);
      upload.waiting.delete(e.data.id);
      resolve?.(e.data);
    };
    upload.worker.onerror = (e) => {
      e.preventDefault();
      for (const resolve of upload.waiting.values()) resolve({ error: 'failed', message: e.message || 'worker error' });
      upload.waiting.clear();
      upload.worker = null;
    };
  }
  return upload.worker;
}

function askWorker(msg) {
  const id = ++upload.seq;
  return new Promise((resolve) => {
    upload.waiting.set(id, resolve);
    uploadWorker().postMessage({ ...msg, id });
  });
}

function setUploadBusy(on) {
  $('upload-busy').hidden = !on;
  $('panel-upload').setAttribute('aria-busy', String(on));
  if (on) document.body.dataset.busy = 'upload';
  else delete document.body.dataset.busy;
  if (on) setStatus('Reading the image…');
}

function clearUploadView() {
  const c = $('upload-view');
  c.getContext('2d').clearRect(0, 0, c.width, c.height);
}

function uploadError(r, name) {
  if (r.error === 'too-large') {
    return `${name} is ${r.width}×${r.height} pixels: too large (at most 50 megapixels). Choose a smaller image.`;
  }
  if (r.error === 'unreadable') return `${name} is not an image this browser can read. Choose a PNG or JPEG image.`;
  console.error(`digit page: upload failed: ${r.message}`);
  return `${name} could not be read. Choose another image.`;
}

async function runUpload(msg, name) {
  const gen = app.generation;
  setUploadBusy(true);
  let r;
  try {
    r = await askWorker({ ...msg, cfg: sourceConfig('upload') });
  } finally {
    if (gen === app.generation) setUploadBusy(false);
  }
  if (gen !== app.generation) return;
  if (r.error) {
    upload.has = false;
    clearUploadView();
    clearResult();
    showAlert(uploadError(r, name));
    setStatus('');
    return;
  }
  if (r.view) {
    const ctx = $('upload-view').getContext('2d');
    ctx.clearRect(0, 0, 280, 280);
    ctx.drawImage(r.view, 0, 0, 280, 280);
    r.view.close();
  }
  upload.has = true;
  setStatus('');
  await classify(r, 'upload', gen, { preprocess: r.preprocessMs });
}

function recognizeUpload() {
  schedule(() => runUpload({ cmd: 'run' }, upload.name));
}

$('file').addEventListener('change', () => {
  const file = $('file').files[0];
  if (!file) return;
  upload.has = false;
  upload.name = file.name;
  clearResult();
  clearUploadView();
  showAlert('');
  schedule(() => runUpload({ cmd: 'open', file }, file.name));
});

// ------------------------------------------------------------------------------------------------ wiring

function selectSource(source) {
  if (source === app.source) return;
  app.source = source;
  for (const name of ['draw', 'camera', 'upload']) $(`panel-${name}`).hidden = name !== source;
  stopCamera();                   // the camera starts only with its button
  if (document.body.dataset.camera === 'error') document.body.dataset.camera = 'off';
  setUploadBusy(false);
  clearResult();
  showAlert('');
  setStatus('');
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
app.ready = loadModel().catch(fatal);
app.ready.then(pump, () => {});
