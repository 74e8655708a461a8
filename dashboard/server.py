"""What `make run` runs (`streamlit run dashboard/server.py`): the dashboard, dashboard/app.py, as an st.App whose
start-up does the slow loading (startup.preload: torch, the model, MNIST, first views; ~4 s on 2 cores) before the
server answers, so that no page open waits for it or competes with it for the CPU.

Two additions to Streamlit's own routes:
- /bundle/<id>/: web bundles the Deploy page built ("open it now"), served with the MIME types they need;
- every page's HTML tells Streamlit's front end where the server is (window.__streamlit.BACKEND_BASE_URL). Without
  it, a page opened by a link (http://host/phase1) first looks for the server under the page's own path and logs
  404s for /phase1/_stcore/health and /phase1/_stcore/host-config before trying /.
"""

import os
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/server.py` puts only dashboard/ on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.routing import Mount  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

BUNDLE_ROUTE = "/bundle"
os.environ["DIGITS_BUNDLE_ROUTE"] = BUNDLE_ROUTE  # the Deploy page links bundles here (else serves them itself)
STREAMLIT_PREFIXES = (b"/_stcore/", b"/static/", b"/media/", b"/component/", BUNDLE_ROUTE.encode() + b"/")
BASE_URL_SCRIPT = (b'<script>window.__streamlit = Object.assign(window.__streamlit || {}, '
                   b'{BACKEND_BASE_URL: window.location.origin + "/"});</script>')


class BundleFiles(StaticFiles):
    """The Deploy page's bundles (runs/web/<id>/), with the bundle's MIME types and no caching."""

    def file_response(self, full_path, stat_result, scope, status_code=200):
        from core.bundle import MIME_TYPES

        response = super().file_response(full_path, stat_result, scope, status_code)
        mime = MIME_TYPES.get(Path(str(full_path)).suffix)
        if mime:
            response.headers["content-type"] = mime
        response.headers["cache-control"] = "no-cache"
        response.headers["x-content-type-options"] = "nosniff"
        return response


class ServerBaseUrl:
    """ASGI middleware: put BASE_URL_SCRIPT at the top of <head> of every page's HTML (index.html for / and for
    each page path), asked for uncompressed so it can be edited."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("raw_path") or scope.get("path", "").encode()
        if scope["type"] != "http" or scope.get("method") != "GET" or path.startswith(STREAMLIT_PREFIXES):
            return await self.app(scope, receive, send)
        scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"])
        start: dict = {}

        async def patch(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            headers = dict(start.get("headers") or [])
            if not headers.get(b"content-type", b"").startswith(b"text/html") or "body" not in message:
                if start:
                    await send(start)
                    start.clear()
                return await send(message)
            body = message["body"].replace(b"<head>", b"<head>" + BASE_URL_SCRIPT, 1)
            hs = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": hs + [(b"content-length", str(len(body)).encode())]})
            start.clear()
            await send({**message, "body": body, "more_body": False})

        await self.app(scope, receive, patch)


@asynccontextmanager
async def lifespan(_app):
    from dashboard.startup import preload

    t = time.perf_counter()
    preload()
    print(f"  Preloaded torch, the model, MNIST and the pages' first views in {time.perf_counter() - t:.1f} s",
          flush=True)
    yield


def bundles_dir() -> Path:
    from core.storage import runs_dir

    return runs_dir() / "web"


app = st.App("app.py", lifespan=lifespan, middleware=[Middleware(ServerBaseUrl)],
             routes=[Mount(BUNDLE_ROUTE, app=BundleFiles(directory=bundles_dir(), html=True, check_dir=False))])
