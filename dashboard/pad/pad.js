// The drawing pad: a 280x280 sheet of white paper; every stroke (mouse, touch or pen) is sent to Python as a PNG
// data URL (state "image"), at the end of the stroke and every LIVE_MS while drawing, so the page's probabilities
// follow the pen. Python runs it through the camera pipeline (core.preprocess) like any other frame. A drawing made
// on another page arrives as data.restore and is painted when the pad mounts, so it follows you between pages.
const SIDE = 280, LIVE_MS = 450;

export default function (component) {
  const { parentElement, setStateValue, data } = component;
  const canvas = parentElement.querySelector(".digit-pad-canvas");
  const clear = parentElement.querySelector(".digit-pad-clear");
  if (!canvas || canvas.dataset.ready) return;  // mounted once; later renders keep the drawing
  canvas.dataset.ready = "1";
  const ctx = canvas.getContext("2d");
  const blank = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, SIDE, SIDE); };
  blank();
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
  let drawing = false, last = null, strokes = 0, lastSent = 0, timer = null, seq = (data && data.seq) || 0;
  if (data && data.restore) {  // the drawing from another page: paint it; Python already holds it
    const img = new Image();
    img.onload = () => { if (!strokes) { ctx.drawImage(img, 0, 0, SIDE, SIDE); strokes = data.strokes || 1; } };
    img.src = data.restore;
  }

  const send = () => {
    lastSent = performance.now();
    seq += 1;  // every update, live ones included, so Python can tell a new picture from a rerun
    setStateValue("image", { png: canvas.toDataURL("image/png"), strokes, seq });
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * SIDE / r.width, (e.clientY - r.top) * SIDE / r.height];
  };
  const width = (e) => 16 + (e.pointerType === "pen" && e.pressure > 0 ? 8 * (e.pressure - 0.5) : 0);
  const dot = (p, e) => { ctx.beginPath(); ctx.fillStyle = "#111"; ctx.arc(p[0], p[1], width(e) / 2, 0, 2 * Math.PI); ctx.fill(); };

  canvas.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = true; last = at(e); dot(last, e);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    e.preventDefault();
    const p = at(e);
    ctx.lineWidth = width(e);
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
    last = p;
    if (performance.now() - lastSent > LIVE_MS && !timer) {  // live: at most one update per LIVE_MS mid-stroke
      timer = setTimeout(() => { timer = null; if (drawing) send(); }, 0);
    }
  });
  const end = (e) => {
    if (!drawing) return;
    drawing = false; strokes += 1;
    if (timer) { clearTimeout(timer); timer = null; }
    send();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  clear.addEventListener("click", () => { blank(); strokes = 0; seq += 1; setStateValue("image", { png: null, strokes: 0, seq }); });
}
