// Digit Inference Engine: an uploaded image, decoded and preprocessed (the digit found in it) off the main thread.
// Messages in: {id, cmd: 'open', file, cfg} (a new file) or {id, cmd: 'run', cfg} (the last image, new settings).
// Out: {id, input, digit, reason, preprocessMs, view (280x280 ImageBitmap of the middle square, on 'open')} or
// {id, error: 'unreadable' | 'too-large' | 'no-image' | 'failed', ...}.
import * as P from './preprocess.js';

const MAX_PIXELS = 50e6;   // a 50 MP photo is 200 MB of RGBA
const VIEW = 280;
const MAX_SIDE = 2048;     // larger photos are decoded at this size (createImageBitmap scales while decoding)
let image = null;          // the last image (ImageData), searched whole for the digit

async function open(file) {
  image = null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return { error: 'unreadable' };
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    return { error: 'too-large', width, height };
  }
  // the whole photo is searched for the digit, as `python -m core predict` does; a big one is decoded smaller
  // (its digit stays hundreds of pixels tall: plenty for the 56 px working image)
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  image = ctx.getImageData(0, 0, w, h);
  const side = Math.min(w, h);  // the view shows the middle square
  const view = new OffscreenCanvas(VIEW, VIEW);
  view.getContext('2d').drawImage(canvas, (w - side) / 2, (h - side) / 2, side, side, 0, 0, VIEW, VIEW);
  return { view: view.transferToImageBitmap(), width, height };
}

self.onmessage = async (e) => {
  const { id, cmd, file, cfg } = e.data;
  try {
    const opened = cmd === 'open' ? await open(file) : {};
    if (opened.error) {
      self.postMessage({ id, ...opened });
      return;
    }
    if (!image) {
      self.postMessage({ id, error: 'no-image' });
      return;
    }
    const t0 = performance.now();
    const r = P.preprocess(image, cfg);
    const out = { id, ...opened, input: r.input, digit: r.digit, reason: r.reason,
      preprocessMs: performance.now() - t0 };
    self.postMessage(out, [r.input.buffer, ...(opened.view ? [opened.view] : [])]);
  } catch (err) {
    self.postMessage({ id, error: 'failed', message: String(err?.message || err) });
  }
};
