"""Camera: live recognition over WebRTC; the frame callback (core.live) runs core on its own thread."""

import os
import time

import streamlit as st

from core.errors import UserError
from core.images import decode_image
from core.live import LiveProcessor, ice_servers
from dashboard import charts, state
from dashboard.readout import CHART_HEIGHT, save_panel, show_reading
from dashboard.widgets import chart, friendly

CONNECT_TIMEOUT = 12.0  # seconds of "connecting" before we say WebRTC cannot get through
READOUT_EVERY = 0.4  # seconds between readout redraws: lively, yet light next to the video path


st.title("Camera — live digit recognition")
st.markdown("Hold a digit written on paper inside the **square**. The box turns green once the same digit "
            "has held for a few frames; the 28×28 the model sees and its probabilities are shown beside the video.")
models = state.model_choices()  # the shipped model, and any fine-tuned on the Teach page
labels = list(models)
pick = st.selectbox("Model", labels, labels.index(state.chosen_model(models)), key="cam_model",
                    on_change=lambda: state.use_model(models[st.session_state["cam_model"]]))
try:
    model = state.onnx_model(models[pick])
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
        show_reading(r, st.session_state.setdefault("cam_figs", {}))

    readout()

failed = ctx is None or time.time() - st.session_state.get("cam_connecting_since", time.time()) > 5
with st.expander("No live video? Classify a snapshot instead", expanded=failed):
    snap = st.camera_input("Hold the digit in the middle of the view", key="cam_snapshot")
    if snap is not None:
        with friendly("the snapshot"):
            from core.preprocess import preprocess

            res = preprocess(decode_image(snap.getvalue(), "the snapshot"), proc.cfg)  # the whole snapshot searched
            if res.image is None:
                st.warning(f"No digit found: {res.reason}. Hold it larger and inside the middle of the view.")
            else:
                a = model.answers(res.image[None])[0]
                st.metric("The snapshot reads", str(a.digit) if a.digit is not None else a.reason,
                          f"{a.confidence:.0%} sure" if a.digit is not None else None, delta_color="off")
                c = st.columns(2)
                chart(charts.digit_heatmap(res.image, meta="snap-input", height=CHART_HEIGHT), "snap_in", c[0])
                chart(charts.probability_bars(a.probabilities, meta="snap-probs", height=CHART_HEIGHT,
                                              title=f"→ {a.digit} ({a.confidence:.0%})" if a.digit is not None
                                              else f"→ {a.reason}"), "snap_p", c[1])
                save_panel(res.image, "snap")

with st.expander("Teach it: save what the camera sees to your collection"):
    @st.fragment
    def save_live() -> None:
        r = proc.latest()
        save_panel(r.image if r is not None else None, "cam")

    save_live()
