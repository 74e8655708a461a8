"""The Digit Inference Engine's library: everything real happens here (README: How the pieces fit)."""

import os

# onnxruntime 1.31 on Linux sends usage telemetry (1DS, to mobile.events.data.microsoft.com) seconds after a session
# opens; this project makes no network request at run time. onnxruntime reads the switch when it is imported, and
# every consumer imports it through core, so set it here (an explicit value in the environment wins).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
