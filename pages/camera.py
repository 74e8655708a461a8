"""Camera: live recognition over WebRTC; the frame callback (dashboard.camera) runs core on its own thread."""

import os
import time

import streamlit as st

from core.errors import UserError
from core.images import decode_image
from core.live import LiveProcessor, ice_servers
from dashboard import charts, state
from dashboard.widgets import friendly

CONNECT_TIMEOUT = 12.0  # seconds of "connecting" before we say WebRTC cannot get through
READOUT_EVERY = 0.4  # seconds between readout redraws: lively, yet light next to the video path


st.title("Camera — live digit recognition")
st.markdown("Hold a digit written on paper inside the **square**. The box turns green once the same digit "
            "has held for a few frames; the 28×28 the model sees and its probabilities are shown beside the video.")
try:
    model = state.shipped_model()
except UserError as e:
    st.error(str(e), icon=":material/warning:")
    st.stop()

proc = st.session_state.get("camera_proc")
if proc is None:
    proc = st.session_state["camera_proc"] = LiveProcessor(model, state.preprocess_config())
with friendly("the settings"):
    proc.model, proc.cfg = model, state.preprocess_config()  # from the Playground, if you tuned them there

with st.expander("Settings: stability filter and network"):
    c = st.columns(2)
    proc.stabilizer.hold = c[0].slider("Hold (frames) before showing a digit", 1, 15, 4, key="cam_hold")
    proc.stabilizer.min_confidence = c[1].slider("Minimum confidence", 0.0, 1.0, 0.6, 0.05, key="cam_conf")
    c = st.columns([3, 1, 1])
    urls = c[0].text_input("STUN/TURN servers (comma-separated)", os.environ.get("DIGITS_ICE_SERVERS", ""),
                           key="cam_ice", help="Empty: no ICE servers, which works on a LAN. Behind NAT you need a "
                           "TURN server, e.g. turn:turn.example.org:3478. Default from $DIGITS_ICE_SERVERS.")
    user = c[1].text_input("TURN username", os.environ.get("DIGITS_TURN_USERNAME", ""), key="cam_user")
    cred = c[2].text_input("TURN credential", os.environ.get("DIGITS_TURN_CREDENTIAL", ""), type="password",
                           key="cam_cred")
    st.caption(f"Preprocessing (from the Playground): box {proc.cfg.live_box:.0%} of the frame, "
               f"radius {proc.cfg.radius}, offset {proc.cfg.offset}, gain {proc.cfg.gain}, "
               f"framing {'on' if proc.cfg.framing else 'off'}.")

try:
    servers = ice_servers(urls, user, cred)
except UserError as e:
    st.warning(str(e), icon=":material/warning:")
    servers = []

video, info = st.columns([3, 2])
with video:
    try:
        from streamlit_webrtc import WebRtcMode, webrtc_streamer

        ctx = webrtc_streamer(
            key="camera", mode=WebRtcMode.SENDRECV, rtc_configuration={"iceServers": servers},
            media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
            video_frame_callback=proc, async_processing=True,
        )
        playing, signalling = bool(ctx.state.playing), bool(ctx.state.signalling)
        st.caption("Nothing after START? Allow the camera in the browser's address bar, or use a snapshot below.")
    except Exception as e:  # no WebRTC runtime here (e.g. a headless test runner): say so, offer snapshots
        st.warning(f"Live video is not available in this session ({type(e).__name__}). Use a snapshot below.",
                   icon=":material/photo_camera:")
        ctx, playing, signalling = None, False, False
if not (playing or signalling):
    proc.reset()  # stopped: the next stream starts with a clean filter, frame counter and FPS
if signalling and not playing:
    st.session_state.setdefault("cam_connecting_since", time.time())
else:
    st.session_state.pop("cam_connecting_since", None)

with info:

    @st.fragment(run_every=READOUT_EVERY if playing or signalling else None)
    def readout() -> None:
        r = proc.latest()  # frames arriving are the ground truth: this run's view of the stream state can lag
        since = st.session_state.get("cam_connecting_since")
        if since and time.time() - since > CONNECT_TIMEOUT and not (ctx and ctx.state.playing):
            st.warning("The video connection is not getting through. On another network you need a TURN server "
                       "(Settings above), or allow camera access in the browser. Use snapshots below meanwhile.",
                       icon=":material/wifi_off:")
        if r is None:
            st.metric("Digit", "—", help="Press START and allow the camera")
            return
        c = st.columns(3)
        c[0].metric("Digit", str(r.stable) if r.stable is not None else ("…" if r.digit is not None else "no digit"))
        c[1].metric("Confidence", f"{r.confidence:.0%}" if r.digit is not None else "—")
        c[2].metric("FPS", f"{r.fps:.1f}", help=f"frames processed per second; {r.ms:.1f} ms of work per frame")
        st.caption(f"{r.size[0]}×{r.size[1]} frames · {r.ms:.1f} ms of work per frame · {r.frames} frames so far")
        if r.error:
            st.error(f"The camera thread hit a problem: {r.error}", icon=":material/warning:")
        if r.image is not None:
            figs = st.session_state.setdefault("cam_figs", {})  # built once, then only their data swapped
            figs["in"] = charts.digit_heatmap(r.image, height=220, fig=figs.get("in"))
            figs["p"] = charts.probability_bars(r.probs, height=220, fig=figs.get("p"))
            c = st.columns(2)
            c[0].plotly_chart(figs["in"], key="cam_input")
            c[1].plotly_chart(figs["p"], key="cam_probs")
        else:
            st.caption(f"No digit in the box ({r.reason}).")

    readout()

failed = ctx is None or time.time() - st.session_state.get("cam_connecting_since", time.time()) > 5
with st.expander("No live video? Classify a snapshot instead", expanded=failed):
    snap = st.camera_input("Hold the digit in the middle of the view", key="cam_snapshot")
    if snap is not None:
        with friendly("the snapshot"):
            from core.preprocess import preprocess

            res = preprocess(decode_image(snap.getvalue(), "the snapshot"), proc.cfg)
            if res.image is None:
                st.warning(f"No digit found: {res.reason}. Hold it larger and inside the middle of the view.")
            else:
                p = model.probabilities(res.image[None])[0]
                c = st.columns(2)
                c[0].plotly_chart(charts.digit_heatmap(res.image, meta="snap-input", height=220), key="snap_in")
                c[1].plotly_chart(charts.probability_bars(p, meta="snap-probs", height=220,
                                                          title=f"→ {int(p.argmax())} ({p.max():.0%})"), key="snap_p")
