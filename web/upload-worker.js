// Digit Inference Engine: an uploaded image, decoded, cropped and preprocessed off the page's main thread.
// Messages in: {id, cmd: 'open', file, cfg} (a new file) or {id, cmd: 'run', cfg} (the last image, new settings).
// Out: {id, input, digit, reason, preprocessMs, view (280x280 ImageBitmap of the middle square, on 'open')} or
// {id, error: 'unreadable' | 'too-large' | 'no-image' | 'failed', ...}.
import * as P from './preprocess.js';

const MAX_PIXELS = 50e6;   // a 50 MP photo is 200 MB of RGBA
const VIEW = 280;
let image = null;          // the middle square of the last image (ImageData): the upload's target box

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
  // the middle square is the target box's content, as for `python -m core predict`
  const box = P.boxOf(height, width, { box: null, center_x: 0.5, center_y: 0.5 });
  const crop = new OffscreenCanvas(box.size, box.size);
  const ctx = crop.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, box.x, box.y, box.size, box.size, 0, 0, box.size, box.size);
  bitmap.close();
  image = ctx.getImageData(0, 0, box.size, box.size);
  const view = new OffscreenCanvas(VIEW, VIEW);
  view.getContext('2d').drawImage(crop, 0, 0, VIEW, VIEW);
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
