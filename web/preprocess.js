// The camera preprocessing of core/preprocess.py, ported line for line (read its module docstring: steps 1-8).
// Frame (any size, gray/RGB/RGBA, uint8/uint16/float/bool) -> the model's 28x28 input, or "no digit".
// All arithmetic is float64 (JS Number) in the same order as the Python; only the final 28x28 is float32.
// An ES module with no DOM use: the page imports it, tests import it alone (in a browser or in Node).

export const NO_INK = 'too little ink';
export const EDGE_ONLY = 'ink only at the box edges';
export const TOO_SMALL = 'ink too small to be a digit';
export const NOT_FOUND = 'nothing like a digit found';
export const MAX_SIDE = 20000;
export const MAX_PIXELS = 100000000;
const GRAY_WEIGHTS = [0.299, 0.587, 0.114];   // ITU-R BT.601 luma
const GRAY_QUANTUM = 64;                       // gray rounded to 1/64: window sums exact in any order
export const MAX_DILATIONS = 3;                // framing thickens a stroke by at most 6 working pixels
export const LINE_SLOPES = Object.freeze(Array.from({ length: 19 }, (_, k) => (k - 9) / 36));   // step 5c
export const LINE_THICK = 3;                   // ink at most this tall across a line is the line itself
export const PAPER_FLOOR = 16.0;               // darkness is relative to at least this much paper (step 5b)

// PreprocessConfig's defaults; the page overrides them from the model contract and config.json.
export const DEFAULTS = Object.freeze({
  box: null,              // region searched: a fraction of the frame's short side; null = the whole frame
  live_box: 0.6,          // the box a live camera draws and searches
  box_px: null,           // a fixed box in frame pixels (the seed's and legacy settings only)
  center_x: 0.5,          // box centre as a fraction of the frame width
  center_y: 0.5,          // box centre as a fraction of the frame height
  find: true,             // find the digit in the region (step 3)
  find_size: 160,         // the find map's longer side (at most)
  find_radius: 8,         // paper background radius on the find map
  find_offset: 0.07,      // ink on the find map: darker than the paper by this fraction
  group_gap: 0.15,        // strokes closer than this many digit heights are one digit
  min_height: 0.06,       // a digit is at least this fraction of the region's short side tall
  speck: 0.03,            // components shorter than this fraction of the find map's short side are noise
  margin: 0.2,            // the crop adds this fraction of the digit's size on every side
  steps: [112, 56],       // side after each area-averaging step; the last is the working size S
  single_step: false,     // one plain bilinear resize to steps[-1] instead (for comparison)
  background: 'paper',    // 'paper': relative darkness against the local paper; 'mean': the seed's local mean
  radius: 5,              // background window radius in working pixels
  offset: 0.07,           // ink threshold: a fraction of the paper ('paper') or gray levels ('mean')
  gain: 0.12,             // darkness for full ink strength, same units as offset
  paper_floor: 0.6,       // 'paper': darkness relative to at least this fraction of the image's paper level
  lines: true,            // remove printed lines (long, thin, straight)
  line_frac: 0.95,        // a line crosses at least this fraction of the map
  drop_border_ink: false, // legacy: remove ink components touching the crop's edge
  min_part: 0.05,         // remove components lighter than this fraction of the heaviest one kept
  framing: true,          // MNIST framing: 20x20 fit + centre of mass at the centre
  stroke: 2.0,            // framing thickens thin strokes toward this width in the 20 px box (MNIST's ~2; 0: off)
  min_ink: 0.005,         // "no digit" below this ink mass, as a fraction of the working area (0: off)
  min_extent: 0.15,       // "no digit" if the ink's bounding box is shorter than this fraction of S
});

/** A checked copy of `cfg` over the defaults (unknown keys ignored); throws Error like PreprocessConfig. */
export function normalizeConfig(cfg = {}) {
  const c = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (cfg[k] !== undefined) c[k] = cfg[k];
  for (const k of ['box', 'box_px']) c[k] = c[k] === null ? null : Number(c[k]);
  c.steps = Array.from(c.steps, (s) => Math.trunc(Number(s)));
  for (const k of ['live_box', 'center_x', 'center_y', 'find_size', 'find_radius', 'find_offset', 'group_gap',
    'min_height', 'speck', 'margin', 'radius', 'offset', 'gain', 'line_frac', 'min_part', 'stroke', 'min_ink',
    'min_extent']) {
    c[k] = Number(c[k]);
  }
  for (const k of ['find', 'single_step', 'lines', 'drop_border_ink', 'framing']) c[k] = Boolean(c[k]);
  c.background = String(c.background);
  const problems = [];
  for (const k of ['box', 'live_box']) {
    if (c[k] !== null && !(c[k] > 0 && c[k] <= 1)) {
      problems.push(`${k} must be a fraction of the frame's short side in (0, 1], got ${c[k]}`);
    }
  }
  if (c.box_px !== null && !(Number.isInteger(c.box_px) && c.box_px >= 1 && c.box_px <= MAX_SIDE)) {
    problems.push(`box_px must be 1..${MAX_SIDE} pixels or None, got ${c.box_px}`);
  }
  if (!(c.center_x >= 0 && c.center_x <= 1 && c.center_y >= 0 && c.center_y <= 1)) {
    problems.push('center_x and center_y must lie in [0, 1]');
  }
  if (!c.steps.length || c.steps.some((s) => !(s >= 1 && s <= 4096))) problems.push(`steps must be 1..4096 each`);
  if (!(c.find_size >= 16 && c.find_size <= 1024 && c.find_radius >= 1 && c.find_radius <= 64 &&
        Number.isInteger(c.radius) && c.radius >= 0 && c.radius <= 64)) {
    problems.push('find_size must be 16..1024, find_radius 1..64, radius 0..64');
  }
  if (!['paper', 'mean'].includes(c.background)) problems.push(`background must be one of paper, mean`);
  const top = c.background === 'paper' ? 1.0 : 255.0;
  if (!(c.offset >= 0 && c.offset < top && c.gain > 0 && c.gain <= top && c.find_offset >= 0 && c.find_offset < 1)) {
    problems.push(`offset must be in [0, ${top}), gain in (0, ${top}], find_offset in [0, 1)`);
  }
  if (!(c.group_gap >= 0 && c.group_gap <= 2 && c.min_height >= 0 && c.min_height <= 1 && c.speck >= 0 &&
        c.speck <= 1 && c.margin >= 0 && c.margin <= 2 && c.line_frac > 0 && c.line_frac <= 1)) {
    problems.push('group_gap 0..2, min_height 0..1, speck 0..1, margin 0..2, line_frac in (0, 1]');
  }
  if (!(c.stroke >= 0 && c.stroke <= 20)) problems.push(`stroke must be 0..20, got ${c.stroke}`);
  if (!(c.min_ink >= 0 && c.min_ink < 1 && c.min_extent >= 0 && c.min_extent <= 1 && c.min_part >= 0 &&
        c.min_part <= 1)) {
    problems.push('min_ink must be in [0, 1), min_extent and min_part in [0, 1]');
  }
  if (problems.length) throw new Error(`preprocess config: ${problems.join('; ')}`);
  return c;
}

// ------------------------------------------------------------------------------------------------ 1. input

function dtypeOf(image) {
  if (image.dtype) return image.dtype;
  const d = image.data;
  if (d instanceof Uint8Array || d instanceof Uint8ClampedArray) return 'uint8';
  if (d instanceof Uint16Array) return 'uint16';
  if (d instanceof Float32Array || d instanceof Float64Array) return 'float';
  throw new Error(`image: unsupported pixel array ${d?.constructor?.name}`);
}

/**
 * Check an image {data, width, height, channels?, dtype?} (an ImageData works as is: RGBA uint8) and return
 * {width, height, channels, row(y, x0, n, out)}: row writes pixels x0..x0+n-1 of row y as RGB 0..255 float64.
 */
export function checkFrame(image) {
  const { width: w, height: h, data } = image;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w >= 1 && h >= 1)) throw new Error(`image: ${w}x${h} is empty`);
  if (Math.max(h, w) > MAX_SIDE || h * w > MAX_PIXELS) throw new Error(`image: ${w}x${h} is too large`);
  const c = image.channels ?? data.length / (w * h);
  if (![1, 3, 4].includes(c) || data.length !== w * h * c) {
    throw new Error(`image: ${data.length} values do not make ${w}x${h} pixels of 1, 3 or 4 channels`);
  }
  const dtype = dtypeOf(image);
  let conv;
  if (dtype === 'uint8') conv = null;   // v
  else if (dtype === 'uint16') conv = (v) => v / 257.0;
  else if (dtype === 'bool') conv = (v) => (v ? 255.0 : 0.0);
  else if (dtype === 'float') {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) throw new Error('image: contains NaN or infinity');
      if (v < 0 || v > 1) throw new Error('image: float values must lie in [0, 1]');
    }
    conv = (v) => v * 255.0;
  } else throw new Error(`image: dtype ${dtype} is not supported`);
  let row;
  if (c === 4 && conv === null) {
    row = (y, x0, n, out) => {              // RGBA composited over white paper: c * a + 255 * (1 - a)
      let i = 4 * (y * w + x0);
      for (let x = 0; x < n; x++, i += 4) {
        const a = data[i + 3] / 255.0;
        const bg = 255.0 * (1.0 - a);
        out[3 * x] = data[i] * a + bg;
        out[3 * x + 1] = data[i + 1] * a + bg;
        out[3 * x + 2] = data[i + 2] * a + bg;
      }
    };
  } else {
    const cv = conv ?? ((v) => v);
    row = (y, x0, n, out) => {
      let i = c * (y * w + x0);
      for (let x = 0; x < n; x++, i += c) {
        if (c === 1) {
          out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = cv(data[i]);
        } else if (c === 3) {
          out[3 * x] = cv(data[i]); out[3 * x + 1] = cv(data[i + 1]); out[3 * x + 2] = cv(data[i + 2]);
        } else {
          const a = cv(data[i + 3]) / 255.0;
          for (let k = 0; k < 3; k++) out[3 * x + k] = cv(data[i + k]) * a + 255.0 * (1.0 - a);
        }
      }
    };
  }
  return { width: w, height: h, channels: c, dtype, row };
}

// ------------------------------------------------------------------------------------------------ 2, 4, 5a. region, crop, resampling

/** {x, y, w, h} of the region searched inside an h x w frame (step 2). */
export function regionOf(h, w, cfg) {
  if (cfg.box === null && cfg.box_px === null) return { x: 0, y: 0, w, h };
  const b = cfg.box_px !== null ? Math.min(cfg.box_px, h, w)
    : Math.max(1, Math.min(Math.floor(cfg.box * Math.min(h, w) + 0.5), h, w));
  const x = Math.min(Math.max(Math.floor(cfg.center_x * w - b / 2), 0), w - b);
  const y = Math.min(Math.max(Math.floor(cfg.center_y * h - b / 2), 0), h - b);
  return { x, y, w: b, h: b };
}

/** These settings for a live camera frame: search the box it draws (live_box), not the whole frame. */
export function live(cfg) {
  const c = normalizeConfig(cfg);
  return c.box_px !== null ? c : { ...c, box: c.live_box };
}

/** {x, y, size} of the square box a live camera draws for an h x w frame. */
export function boxOf(h, w, cfg) {
  const c = normalizeConfig(cfg);
  const r = regionOf(h, w, c.box === null ? live(c) : c);
  return { x: r.x, y: r.y, size: Math.min(r.w, r.h) };
}

/** Rows of the square crop (x0, y0, size b) as RGB 0..255, pixels outside the frame repeating the nearest edge. */
function cropRows(f, x0, y0, b) {
  if (x0 >= 0 && y0 >= 0 && x0 + b <= f.width && y0 + b <= f.height) return (y, buf) => f.row(y0 + y, x0, b, buf);
  const tmp = new Float64Array(3 * f.width);
  return (y, buf) => {
    f.row(Math.min(Math.max(y0 + y, 0), f.height - 1), 0, f.width, tmp);
    for (let x = 0; x < b; x++) {
      const sx = Math.min(Math.max(x0 + x, 0), f.width - 1);
      buf[3 * x] = tmp[3 * sx]; buf[3 * x + 1] = tmp[3 * sx + 1]; buf[3 * x + 2] = tmp[3 * sx + 2];
    }
  };
}

const weightCache = new Map();

// Sparse weights of a resample n -> m: output j takes w[t] * src[idx[t]] for t = off[j] .. off[j + 1] - 1.
function packWeights(rows) {
  const off = new Int32Array(rows.length + 1);
  for (let j = 0; j < rows.length; j++) off[j + 1] = off[j] + rows[j].length;
  const idx = new Int32Array(off[rows.length]);
  const w = new Float64Array(off[rows.length]);
  rows.forEach((row, j) => row.forEach(([i, wt], t) => { idx[off[j] + t] = i; w[off[j] + t] = wt; }));
  return { m: rows.length, off, idx, w };
}

function cached(key, make) {
  let v = weightCache.get(key);
  if (!v) {
    if (weightCache.size > 256) weightCache.clear();
    v = make();
    weightCache.set(key, v);
  }
  return v;
}

/** Area weights of resample(n -> m) (step 3), source indices in increasing order. */
export function areaWeights(n, m) {
  return cached(`area ${n} ${m}`, () => {
    const rows = [];
    for (let j = 0; j < m; j++) {
      const a = (j * n) / m;
      const b = ((j + 1) * n) / m;
      const row = [];
      for (let i = Math.floor(a); i < Math.ceil(b); i++) row.push([i, ((Math.min(b, i + 1) - Math.max(a, i)) * m) / n]);
      rows.push(row);
    }
    return packWeights(rows);
  });
}

/** Weights of a plain bilinear resize n -> m (single-step mode), indices clamped to 0..n-1. */
export function bilinearWeights(n, m) {
  return cached(`bilinear ${n} ${m}`, () => {
    const rows = [];
    for (let j = 0; j < m; j++) {
      const u = ((j + 0.5) * n) / m - 0.5;
      const i0 = Math.floor(u);
      const f = u - i0;
      rows.push([[Math.min(Math.max(i0, 0), n - 1), 1.0 - f], [Math.min(Math.max(i0 + 1, 0), n - 1), f]]);
    }
    return packWeights(rows);
  });
}

const weightsOf = (kind, n, m) => (kind === 'bilinear' ? bilinearWeights(n, m) : areaWeights(n, m));

// Along x: (h, w, c) -> (h, ow, c); `row(y, buf)` fills buf with source row y as w*c float64 values.
// Channels are accumulated side by side; each one still sums its terms in increasing t, from 0.0.
function resampleX(h, w, c, ow, kind, row) {
  const { off, idx, w: wt } = weightsOf(kind, w, ow);
  const out = new Float64Array(h * ow * c);
  const buf = new Float64Array(w * c);
  for (let y = 0; y < h; y++) {
    row(y, buf);
    let o = y * ow * c;
    if (c === 3) {
      for (let j = 0; j < ow; j++, o += 3) {
        let a0 = 0.0, a1 = 0.0, a2 = 0.0;
        for (let t = off[j]; t < off[j + 1]; t++) {
          const f = wt[t];
          const i = idx[t] * 3;
          a0 = a0 + f * buf[i];
          a1 = a1 + f * buf[i + 1];
          a2 = a2 + f * buf[i + 2];
        }
        out[o] = a0; out[o + 1] = a1; out[o + 2] = a2;
      }
    } else {
      for (let j = 0; j < ow; j++) {
        for (let k = 0; k < c; k++, o++) {
          let acc = 0.0;
          for (let t = off[j]; t < off[j + 1]; t++) acc = acc + wt[t] * buf[idx[t] * c + k];
          out[o] = acc;
        }
      }
    }
  }
  return out;
}

// Along y: (h, w, c) -> (oh, w, c).
function resampleY(src, h, w, c, oh, kind) {
  const { off, idx, w: wt } = weightsOf(kind, h, oh);
  const rowLen = w * c;
  const out = new Float64Array(oh * rowLen);
  for (let j = 0; j < oh; j++) {
    const o = j * rowLen;
    for (let t = off[j]; t < off[j + 1]; t++) {      // acc = acc + w * src[i], in increasing t, per element
      const s0 = idx[t] * rowLen;
      const f = wt[t];
      for (let e = 0; e < rowLen; e++) out[o + e] = out[o + e] + f * src[s0 + e];
    }
  }
  return out;
}

/** (h, w, c) float64, channels interleaved -> (oh, ow, c): along x first, then along y. */
export function resample(src, h, w, c, oh, ow, kind = 'area') {
  const tmp = resampleX(h, w, c, ow, kind, (y, buf) => buf.set(src.subarray(y * w * c, (y + 1) * w * c)));
  return resampleY(tmp, h, ow, c, oh, kind);
}

// The first resample reads the frame itself (the crop at x0, y0, side b), converting pixels to RGB 0..255.
function resampleFrame(f, x0, y0, b, s, kind) {
  const tmp = resampleX(b, b, 3, s, kind, cropRows(f, x0, y0, b));
  return resampleY(tmp, b, s, 3, s, kind);
}

/** The crop's RGB 0..255 as (b, b, 3) float64 (step 1 on the crop; for stage-by-stage checks). */
export function cropRgb(f, x0, y0, b) {
  const out = new Float64Array(b * b * 3);
  const rows = cropRows(f, x0, y0, b);
  for (let y = 0; y < b; y++) rows(y, out.subarray(y * b * 3, (y + 1) * b * 3));
  return out;
}

/** Step 5a: each step's {size, data: (s, s, 3) float64 RGB}, in order; the last is the working image. */
export function downscale(f, box, cfg) {
  if (cfg.single_step) {
    const s = cfg.steps[cfg.steps.length - 1];
    return [{ size: s, data: resampleFrame(f, box.x, box.y, box.size, s, 'bilinear') }];
  }
  const sizes = cfg.steps;
  const out = [];
  let cur = null;
  let n = box.size;
  const q = Math.floor(n / sizes[0]);
  if (q >= 2) { // a big crop: q x q block means first
    cur = cropBlockMean(f, box.x, box.y, box.size, q);
    n = Math.floor(n / q);
  }
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i];
    if (s < n || i === sizes.length - 1 || (i === 0 && q >= 2)) {
      cur = cur ? resample(cur, n, n, 3, s, s) : resampleFrame(f, box.x, box.y, box.size, s, 'area');
      out.push({ size: s, data: cur });
      n = s;
    }
  }
  return out;
}

// The crop's top-left floor(b/q)^2 blocks of q x q pixels, each its RGB mean summed row by row (step 5a).
function cropBlockMean(f, x0, y0, b, q) {
  const m = Math.floor(b / q);
  const rows = cropRows(f, x0, y0, b);
  const acc = new Float64Array(m * m * 3);
  const buf = new Float64Array(3 * b);
  for (let y = 0; y < m; y++) {
    for (let dy = 0; dy < q; dy++) {
      rows(y * q + dy, buf);
      for (let x = 0; x < m; x++) {
        const o = 3 * (y * m + x);
        for (let dx = 0; dx < q; dx++) {
          const i = 3 * (x * q + dx);
          acc[o] += buf[i]; acc[o + 1] += buf[i + 1]; acc[o + 2] += buf[i + 2];
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i] / (q * q);
  return acc;
}

// ------------------------------------------------------------------------------------------------ 4-5. gray, threshold

/** (S, S, 3) RGB -> (S, S) BT.601 gray rounded to multiples of 1/64 (step 4). */
export function grayBt601(rgb, n) {
  const [r, g, b] = GRAY_WEIGHTS;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const y = r * rgb[3 * i] + g * rgb[3 * i + 1] + b * rgb[3 * i + 2];
    out[i] = Math.floor(y * GRAY_QUANTUM + 0.5) / GRAY_QUANTUM;
  }
  return out;
}

/** (h, w) -> mean over the in-bounds (2r+1)^2 window, via a summed-area table (sums are exact). */
export function localMean(gray, h, w, radius) {
  const W = w + 1;
  const sat = new Float64Array((h + 1) * W);     // sat[y][x] = sum of gray[:y, :x]
  for (let y = 0; y < h; y++) {
    let rowSum = 0.0;
    for (let x = 0; x < w; x++) {
      rowSum += gray[y * w + x];
      sat[(y + 1) * W + x + 1] = sat[y * W + x + 1] + rowSum;
    }
  }
  const mean = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(y - radius, 0);
    const y1 = Math.min(y + radius + 1, h);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(x - radius, 0);
      const x1 = Math.min(x + radius + 1, w);
      const total = sat[y1 * W + x1] - sat[y0 * W + x1] - sat[y1 * W + x0] + sat[y0 * W + x0];
      mean[y * w + x] = total / ((y1 - y0) * (x1 - x0));
    }
  }
  return mean;
}

/** Step 5: {mean, ink, strength}; ink where gray < mean - offset, strength min(1, (mean - gray) / gain). */
export function threshold(gray, h, w, radius, offset, gain) {
  const mean = localMean(gray, h, w, radius);
  const ink = new Uint8Array(h * w);
  const strength = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) {
    if (gray[i] < mean[i] - offset) {
      ink[i] = 1;
      strength[i] = Math.min(1.0, (mean[i] - gray[i]) / gain);
    }
  }
  return { mean, ink, strength };
}

/** The max (isMax) or min of each in-bounds (2r+1)^2 window of an (h, w) array: vertical pass, then horizontal. */
export function windowExtreme(a, h, w, r, isMax) {
  const pick = isMax ? Math.max : Math.min;
  const v = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(y - r, 0), y1 = Math.min(y + r, h - 1);
    for (let x = 0; x < w; x++) {
      let m = a[y0 * w + x];
      for (let yy = y0 + 1; yy <= y1; yy++) m = pick(m, a[yy * w + x]);
      v[y * w + x] = m;
    }
  }
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(x - r, 0), x1 = Math.min(x + r, w - 1);
      let m = v[y * w + x0];
      for (let xx = x0 + 1; xx <= x1; xx++) m = pick(m, v[y * w + xx]);
      out[y * w + x] = m;
    }
  }
  return out;
}

/** The paper under an (h, w) 3x3-mean gray m3: max then min over (2r+1)^2 windows of m3 extended by 2r
 * replicated pixels on every side, cropped back (step 5b). */
export function paperClosing(m3, h, w, r) {
  const e = 2 * r, H = h + 2 * e, W = w + 2 * e;
  const ext = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(Math.max(y - e, 0), h - 1);
    for (let x = 0; x < W; x++) ext[y * W + x] = m3[sy * w + Math.min(Math.max(x - e, 0), w - 1)];
  }
  const closed = windowExtreme(windowExtreme(ext, H, W, r, true), H, W, r, false);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = closed[(y + e) * W + x + e];
  return out;
}

/** The paper level: the value at rank floor(0.75 * (n - 1)) of the paper values, ascending (step 5b). */
export function paperLevel(paper) {
  const sorted = Float64Array.from(paper).sort();
  return sorted[Math.floor(0.75 * (sorted.length - 1))];
}

/** Step 5b, or the seed's mean threshold: {background, ink, strength, faint (5c)} of an (h, w) gray. */
export function inkMap(gray, h, w, background, radius, offset, gain, floor = 0) {
  const n = h * w;
  const ink = new Uint8Array(n), faint = new Uint8Array(n), strength = new Float64Array(n);
  if (background === 'mean') {
    const t = threshold(gray, h, w, radius, offset, gain);
    for (let i = 0; i < n; i++) faint[i] = gray[i] < t.mean[i] - offset / 2 ? 1 : 0;
    return { background: t.mean, ink: t.ink, strength: t.strength, faint };
  }
  const m3 = localMean(gray, h, w, 1);
  const paper = paperClosing(m3, h, w, radius);
  const least = Math.max(PAPER_FLOOR, floor * paperLevel(paper));
  for (let i = 0; i < n; i++) {
    const d = (paper[i] - m3[i]) / Math.max(paper[i], least);
    if (d > offset) { ink[i] = 1; strength[i] = Math.min(1.0, d / gain); }
    faint[i] = d > offset / 2 ? 1 : 0;
  }
  return { background: paper, ink, strength, faint };
}

// ------------------------------------------------------------------------------------------------ 5c. printed lines

/** (h, w) 0/1: faint pixels on (or beside) a sheared row holding >= frac * w faint pixels, at any slope. */
export function linePixels(faint, h, w, frac) {
  const out = new Uint8Array(h * w);
  const span = h + 2 * w + 2;
  const counts = new Int32Array(span);
  const near = new Uint8Array(h * w); // faint here or in the row above or below
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      near[y * w + x] = faint[y * w + x] || (y > 0 && faint[(y - 1) * w + x]) || (y + 1 < h && faint[(y + 1) * w + x]) ? 1 : 0;
    }
  }
  for (const q of LINE_SLOPES) {
    const shift = new Int32Array(w);
    for (let x = 0; x < w; x++) shift[x] = Math.floor(q * (x - (w - 1) / 2) + 0.5);
    counts.fill(0);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (near[y * w + x]) counts[y - shift[x] + w] += 1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!faint[y * w + x]) continue;
        const r = y - shift[x] + w;
        if (counts[r] >= frac * w || (r > 0 && counts[r - 1] >= frac * w) || (r + 1 < span && counts[r + 1] >= frac * w)) {
          out[y * w + x] = 1;
        }
      }
    }
  }
  return out;
}

function transpose(a, h, w) {
  const t = new a.constructor(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) t[x * h + y] = a[y * w + x];
  return t;
}

/** (h, w) int: the vertical run of ink through each pixel (0 off ink). */
export function runLength(ink, h, w) {
  const out = new Int32Array(h * w);
  for (let x = 0; x < w; x++) {
    let y = 0;
    while (y < h) {
      if (!ink[y * w + x]) { y++; continue; }
      let e = y;
      while (e < h && ink[e * w + x]) e++;
      for (let k = y; k < e; k++) out[k * w + x] = e - y;
      y = e;
    }
  }
  return out;
}

/** Step 5c: drop printed lines' pixels -> {ink, strength, drop}. */
export function removeLines(ink, strength, faint, h, w, frac) {
  const hor = linePixels(faint, h, w, frac);
  const ver = transpose(linePixels(transpose(faint, h, w), w, h, frac), w, h);
  const runV = runLength(ink, h, w);
  const runH = transpose(runLength(transpose(ink, h, w), w, h), w, h);
  const n = h * w;
  const out = new Uint8Array(n), st = new Float64Array(n), drop = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    drop[i] = ink[i] && ((hor[i] && runV[i] <= LINE_THICK) || (ver[i] && runH[i] <= LINE_THICK)) ? 1 : 0;
    out[i] = ink[i] && !drop[i] ? 1 : 0;
    st[i] = drop[i] ? 0.0 : strength[i];
  }
  return { ink: out, strength: st, drop };
}

// ------------------------------------------------------------------------------------------------ 3. find the digit

/** Step 3a: the (floor(h/k), floor(w/k), 3) RGB mean of each k x k block of the region, summed row by row. */
export function blockMean(f, region, k) {
  const fh = Math.floor(region.h / k), fw = Math.floor(region.w / k);
  const acc = new Float64Array(fh * fw * 3);
  const buf = new Float64Array(3 * fw * k);
  for (let y = 0; y < fh; y++) {
    for (let dy = 0; dy < k; dy++) {
      f.row(region.y + y * k + dy, region.x, fw * k, buf);
      for (let x = 0; x < fw; x++) {
        const o = 3 * (y * fw + x);
        for (let dx = 0; dx < k; dx++) {
          const i = 3 * (x * k + dx);
          acc[o] += buf[i]; acc[o + 1] += buf[i + 1]; acc[o + 2] += buf[i + 2];
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i] / (k * k);
  return { h: fh, w: fw, data: acc };
}

function componentBoxes(labels, n, strength, h, w) {
  const b = [];
  for (let l = 0; l <= n; l++) b.push([Infinity, -1, Infinity, -1, 0.0]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const l = labels[y * w + x];
      const g = b[l];
      if (y < g[0]) g[0] = y;
      if (y > g[1]) g[1] = y;
      if (x < g[2]) g[2] = x;
      if (x > g[3]) g[3] = x;
      g[4] += strength[y * w + x];
    }
  }
  return b;
}

function near(a, b, gap) {
  const hgt = Math.max(a[1] - a[0] + 1, b[1] - b[0] + 1);
  const gy = Math.max(b[0] - a[1], a[0] - b[1], 0);
  const gx = Math.max(b[2] - a[3], a[2] - b[3], 0);
  return (gx === 0 && gy <= 3 * gap * hgt) || (gx <= gap * hgt && gy <= gap * hgt);
}

/** Step 3d: [y0, y1, x0, x1, mass] of each group of nearby components (specks dropped), in merge order. */
export function groupComponents(ink, strength, h, w, cfg) {
  const { labels, n } = labelComponents(ink, h, w);
  const boxes = componentBoxes(labels, n, strength, h, w);
  const short = Math.min(h, w);
  let groups = [];
  for (let l = 1; l <= n; l++) {
    const g = boxes[l];
    if (Math.max(g[1] - g[0], g[3] - g[2]) + 1 >= cfg.speck * short) groups.push(g);
  }
  for (;;) {
    groups.sort((a, b) => b[4] - a[4]);   // stable: ties keep their order
    let pair = null;
    for (let i = 0; i < groups.length && !pair; i++) {
      for (let j = i + 1; j < groups.length; j++) if (near(groups[i], groups[j], cfg.group_gap)) { pair = [i, j]; break; }
    }
    if (!pair) return groups;
    const [i, j] = pair, a = groups[i], b = groups[j];
    groups[i] = [Math.min(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.max(a[3], b[3]), a[4] + b[4]];
    groups.splice(j, 1);
  }
}

/** Step 3e: tall enough, not far wider than tall, not the whole map. */
export function plausible(g, h, w, cfg) {
  const gh = g[1] - g[0] + 1, gw = g[3] - g[2] + 1;
  return gh >= cfg.min_height * Math.min(h, w) && gw <= 2.2 * gh + 2 && !(gh >= 0.98 * h && gw >= 0.98 * w);
}

/** Step 3e: the index of the most plausible single digit, or null. */
export function choose(groups, h, w, cfg) {
  let best = null, bestScore = -1.0;
  groups.forEach((c, i) => {
    if (!plausible(c, h, w, cfg)) return;
    const dy = ((c[0] + c[1] + 1) / 2 - h / 2) / h, dx = ((c[2] + c[3] + 1) / 2 - w / 2) / w;
    const d = Math.sqrt(dy * dy + dx * dx) / Math.sqrt(0.5);
    const score = c[4] * (1.0 - 0.6 * d);
    if (score > bestScore) { best = i; bestScore = score; }
  });
  return best;
}

/** Step 3: {region, k, h, w, gray, ink, lines, groups, chosen} of a checked frame. */
export function findDigits(f, cfg) {
  const region = regionOf(f.height, f.width, cfg);
  const k = Math.max(1, Math.min(Math.ceil(Math.max(region.w, region.h) / cfg.find_size), region.w, region.h));
  const m = blockMean(f, region, k);
  const gray = grayBt601(m.data, m.h * m.w);
  let { ink, strength, faint } = inkMap(gray, m.h, m.w, 'paper', cfg.find_radius, cfg.find_offset, cfg.gain, cfg.paper_floor);
  let lines = new Uint8Array(m.h * m.w);
  if (cfg.lines) ({ ink, strength, drop: lines } = removeLines(ink, strength, faint, m.h, m.w, cfg.line_frac));
  const groups = groupComponents(ink, strength, m.h, m.w, cfg);
  return { region, k, h: m.h, w: m.w, gray, ink, lines, groups, chosen: choose(groups, m.h, m.w, cfg) };
}

/** Group i's box in frame pixels: [X0, Y0, X1, Y1], the end exclusive (step 3f). */
export function frameBox(found, i) {
  const [y0, y1, x0, x1] = found.groups[i];
  const { x, y } = found.region;
  return [x + x0 * found.k, y + y0 * found.k, x + (x1 + 1) * found.k, y + (y1 + 1) * found.k];
}

/** Step 4: {x, y, size} of the square crop around a found box. */
export function digitCrop(box, margin) {
  const [X0, Y0, X1, Y1] = box;
  const side = Math.max(8, Math.ceil(Math.max(Y1 - Y0, X1 - X0) * (1 + 2 * margin)));
  return { x: Math.floor((X0 + X1) / 2 - side / 2), y: Math.floor((Y0 + Y1) / 2 - side / 2), size: side };
}

// ------------------------------------------------------------------------------------------------ 5d-7. clean-up, no digit, framing

/** (h, w) 0/1 mask -> {labels: Int32Array (0 = background, 1..n), n}: 8-connected components, raster order. */
export function labelComponents(mask, h, w) {
  const labels = new Int32Array(h * w);
  const stack = new Int32Array(h * w);
  let n = 0;
  for (let start = 0; start < h * w; start++) {
    if (!mask[start] || labels[start]) continue;
    n += 1;
    labels[start] = n;
    let top = 0;
    stack[top++] = start;
    while (top) {
      const i = stack[--top];
      const y = (i / w) | 0;
      const x = i - y * w;
      for (let yy = Math.max(y - 1, 0); yy <= Math.min(y + 1, h - 1); yy++) {
        for (let xx = Math.max(x - 1, 0); xx <= Math.min(x + 1, w - 1); xx++) {
          const k = yy * w + xx;
          if (mask[k] && !labels[k]) { labels[k] = n; stack[top++] = k; }
        }
      }
    }
  }
  return { labels, n };
}

/** Step 5d: the digit's components only -> `kept`. keep: [y0, y1, x0, x1] (ends exclusive), the found box in
 * working pixels: components without a pixel inside it are dropped. */
export function cleanInk(ink, strength, S, cfg, keep = null) {
  if (!cfg.drop_border_ink && cfg.min_part === 0 && keep === null) return strength;
  const { labels, n } = labelComponents(ink, S, S);
  if (n === 0) return strength;
  const mass = new Float64Array(n + 1);
  for (let i = 0; i < S * S; i++) mass[labels[i]] += strength[i];   // raster order, like np.bincount
  const drop = new Uint8Array(n + 1);
  if (keep !== null) {
    const inside = new Uint8Array(n + 1);
    for (let y = Math.max(keep[0], 0); y < Math.min(Math.max(keep[1], 0), S); y++) {
      for (let x = Math.max(keep[2], 0); x < Math.min(Math.max(keep[3], 0), S); x++) inside[labels[y * S + x]] = 1;
    }
    for (let l = 1; l <= n; l++) if (!inside[l]) drop[l] = 1;
  }
  if (cfg.drop_border_ink) {
    for (let t = 0; t < S; t++) {
      drop[labels[t]] = drop[labels[(S - 1) * S + t]] = drop[labels[t * S]] = drop[labels[t * S + S - 1]] = 1;
    }
  }
  drop[0] = 0;
  let anyLeft = false;
  for (let l = 1; l <= n; l++) if (!drop[l]) anyLeft = true;
  if (cfg.min_part > 0 && anyLeft) {
    let biggest = -Infinity;
    for (let l = 1; l <= n; l++) if (!drop[l] && mass[l] > biggest) biggest = mass[l];
    for (let l = 1; l <= n; l++) if (mass[l] < cfg.min_part * biggest) drop[l] = 1;
  }
  const kept = new Float64Array(S * S);
  for (let i = 0; i < S * S; i++) kept[i] = drop[labels[i]] ? 0.0 : strength[i];
  return kept;
}

/** {y0, y1, x0, x1} inclusive bounds of a > 0, or null when all zero. */
export function boundingBox(a, h, w) {
  let y0 = h, y1 = -1, x0 = w, x1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (a[y * w + x] > 0) {
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
    }
  }
  return y1 < 0 ? null : { y0, y1, x0, x1 };
}

function sum(a) {
  let s = 0.0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Step 6: NO_INK, EDGE_ONLY, NOT_FOUND, TOO_SMALL or null. */
export function noDigitReason(strength, kept, S, cfg) {
  const area = S * S;
  if (sum(strength) < cfg.min_ink * area) return NO_INK;
  if (sum(kept) < cfg.min_ink * area) return cfg.drop_border_ink ? EDGE_ONLY : NOT_FOUND;
  const bb = boundingBox(kept, S, S);
  if (bb === null) {                                   // only reachable with min_ink = 0
    if (cfg.min_extent === 0) return null;             // detection off: the seed guessed even on an empty map
    return strength.some((v) => v !== 0) ? EDGE_ONLY : NO_INK;
  }
  if (Math.max(bb.y1 - bb.y0 + 1, bb.x1 - bb.x0 + 1) < cfg.min_extent * S) return TOO_SMALL;
  return null;
}

/** Place (h, w) `patch` with its origin at the real offset (oy, ox) in a 28x28 canvas, bilinearly. */
export function shiftInto(patch, h, w, oy, ox, size = 28) {
  const ty = Math.floor(oy);
  const tx = Math.floor(ox);
  const fy = oy - ty;
  const fx = ox - tx;
  const P = (y, X) => (X >= 0 && X < w ? patch[y * w + X] : 0.0);
  const q = new Float64Array(h * size);     // (h, size)
  for (let y = 0; y < h; y++) {
    for (let X = 0; X < size; X++) q[y * size + X] = (1.0 - fx) * P(y, X - tx) + fx * P(y, X - tx - 1);
  }
  const Q = (Y, X) => (Y >= 0 && Y < h ? q[Y * size + X] : 0.0);
  const out = new Float64Array(size * size);
  for (let Y = 0; Y < size; Y++) {
    for (let X = 0; X < size; X++) out[Y * size + X] = (1.0 - fy) * Q(Y - ty, X) + fy * Q(Y - ty - 1, X);
  }
  return out;
}

/** Mean stroke width of an (h, w) shape (a > 0): 2 * area / boundary length (4-neighbour edges; outside is empty). */
export function strokeWidth(a, h, w) {
  let area = 0;
  let edges = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = a[y * w + x] > 0;
      if (v) area += 1;
      if (y + 1 < h && v !== a[(y + 1) * w + x] > 0) edges += 1;   // vertical neighbour pair differs
      if (x + 1 < w && v !== a[y * w + x + 1] > 0) edges += 1;     // horizontal neighbour pair differs
      if (v) edges += (y === 0) + (y === h - 1) + (x === 0) + (x === w - 1);   // once per side it lies on
    }
  }
  return (2 * area) / edges;
}

/** (h, w) -> (h + 2, w + 2): the 3x3 maximum of `a` zero-padded by one pixel on every side. */
export function dilate3(a, h, w) {
  const oh = h + 2;
  const ow = w + 2;
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let m = 0.0;
      for (let i = 0; i < 3; i++) {
        const sy = y - 2 + i;
        if (sy < 0 || sy >= h) continue;
        for (let j = 0; j < 3; j++) {
          const sx = x - 2 + j;
          if (sx >= 0 && sx < w && a[sy * w + sx] > m) m = a[sy * w + sx];
        }
      }
      out[y * ow + x] = m;
    }
  }
  return out;
}

/**
 * Step 8's intermediates of an (S, S) `kept`: {bbox: [y0, y1, x0, x1], dilations, patch (nh, nw) float64,
 * nh, nw, centre_of_mass: [cy, cx]}, or null when there is no ink.
 */
export function framingSteps(kept, S, stroke = 0.0) {
  const bb = boundingBox(kept, S, S);
  if (bb === null) return null;
  let h = bb.y1 - bb.y0 + 1;
  let w = bb.x1 - bb.x0 + 1;
  let c = new Float64Array(h * w);        // (h, w) the ink's bounding box
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) c[y * w + x] = kept[(bb.y0 + y) * S + bb.x0 + x];
  let k = 0;
  if (stroke > 0) {
    const width = strokeWidth(c, h, w);
    k = Math.min(Math.max(Math.floor(((stroke * Math.max(h, w)) / 20 - width) / 2 + 0.5), 0), MAX_DILATIONS);
    for (let t = 0; t < k; t++) {
      c = dilate3(c, h, w);               // (h + 2, w + 2)
      h += 2;
      w += 2;
    }
  }
  const big = Math.max(h, w);
  const nh = Math.max(1, Math.floor((20 * h) / big + 0.5));
  const nw = Math.max(1, Math.floor((20 * w) / big + 0.5));
  const p = resample(c, h, w, 1, nh, nw);
  let m = 0.0, sy = 0.0, sx = 0.0;
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const v = p[y * nw + x];
      m += v;
      sy += (y + 0.5) * v;
      sx += (x + 0.5) * v;
    }
  }
  return { bbox: [bb.y0, bb.y1, bb.x0, bb.x1], dilations: k, patch: p, nh, nw, centre_of_mass: [sy / m, sx / m] };
}

/** Step 8: (S, S) ink strength -> (28, 28) float64: thin strokes thickened, fit into 20x20, centre of mass at (14, 14). */
export function frameMnist(kept, S, stroke = 0.0, f = framingSteps(kept, S, stroke)) {
  if (f === null) return new Float64Array(784);
  const [cy, cx] = f.centre_of_mass;
  return shiftInto(f.patch, f.nh, f.nw, 14.0 - cy, 14.0 - cx);
}

// ------------------------------------------------------------------------------------------------ the pipeline

function finish(out) {
  const img = new Float32Array(784);
  for (let i = 0; i < 784; i++) img[i] = Math.min(1.0, Math.max(0.0, out[i]));   // clip, then float32
  return img;
}

/** Frame -> every intermediate: {found, box, size, downscales, gray, background, ink, strength, kept, framing,
 * image, reason, digitBox}. */
export function stages(image, cfg = DEFAULTS) {
  const c = normalizeConfig(cfg);
  const f = checkFrame(image);
  let found = null, box, digitBox = null;
  if (!c.find) {
    const r = regionOf(f.height, f.width, c);
    box = { x: r.x, y: r.y, size: Math.min(r.w, r.h) };
  } else {
    found = findDigits(f, c);
    if (found.chosen === null) {
      const reason = found.ink.some((v) => v) ? NOT_FOUND : NO_INK;
      return { frame: f, found, box: null, size: 0, downscales: [], image: null, reason, digitBox: null };
    }
    digitBox = frameBox(found, found.chosen);
    box = digitCrop(digitBox, c.margin);
  }
  const downs = downscale(f, box, c);
  const S = downs[downs.length - 1].size;
  const gray = grayBt601(downs[downs.length - 1].data, S * S);
  let { background, ink, strength, faint } = inkMap(gray, S, S, c.background, c.radius, c.offset, c.gain, c.paper_floor);
  if (c.lines) ({ ink, strength } = removeLines(ink, strength, faint, S, S, c.line_frac));
  let keep = null;
  if (digitBox !== null) {
    const s = S / box.size;
    const [X0, Y0, X1, Y1] = digitBox;
    keep = [Math.floor(s * (Y0 - box.y)), Math.ceil(s * (Y1 - box.y)), Math.floor(s * (X0 - box.x)),
      Math.ceil(s * (X1 - box.x))];
  }
  const kept = cleanInk(ink, strength, S, c, keep);
  const reason = noDigitReason(strength, kept, S, c);
  let image28 = null;
  let framing = null;                      // step 7's intermediates when the image was framed
  if (reason === null) {
    if (c.framing) framing = framingSteps(kept, S, c.stroke);
    image28 = finish(c.framing ? frameMnist(kept, S, c.stroke, framing)
      : (S === 28 ? kept : resample(kept, S, S, 1, 28, 28)));
  }
  return { frame: f, found, box, size: S, downscales: downs, gray, background, ink, strength, kept, framing,
    image: image28, reason, digitBox: reason === null ? digitBox : null };
}

/** Frame -> {input: Float32Array(784) (zeros when there is no digit), digit: bool, reason, box, digitBox}. */
export function preprocess(image, cfg = DEFAULTS) {
  const s = stages(image, cfg);
  return { input: s.image ?? new Float32Array(784), digit: s.reason === null, reason: s.reason, box: s.box,
    digitBox: s.digitBox };
}
