"""`python -m core serve-web DIR`: serve a web bundle on 127.0.0.1, and the same server in a thread for tests."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

from core.bundle import ISOLATION_HEADERS, MIME_TYPES
from core.errors import UserError


class BundleHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the MIME types a bundle needs, no caching, optional cross-origin isolation."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    isolate = False
    quiet = False

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.isolate:
            for k, v in ISOLATION_HEADERS.items():
                self.send_header(k, v)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)


class BundleServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(directory: Path, port: int = 0, isolate: bool = False, quiet: bool = True) -> BundleServer:
    """A threaded HTTP server for `directory` on 127.0.0.1 (port 0: any free port); call serve_forever()."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise UserError(f"{directory} is not a web bundle (no index.html); make one with `python -m core export-web`")
    handler = type("Handler", (BundleHandler,), {"isolate": isolate, "quiet": quiet})
    handler = functools.partial(handler, directory=str(directory))
    try:
        server = BundleServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
    server.directory = directory
    return server


@contextlib.contextmanager
def serving(directory: Path, isolate: bool = False) -> Iterator[BundleServer]:
    """Serve `directory` on an ephemeral 127.0.0.1 port in a thread; yields the server."""
    server = make_server(directory, 0, isolate)
    threading.Thread(target=server.serve_forever, name="serve-web", daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def serve_web_args(p) -> None:
    p.add_argument("dir", type=Path, metavar="DIR", help="a bundle folder written by export-web")
    p.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--isolate", action="store_true",
                   help="send COOP/COEP headers (cross-origin isolation, lets ort-web use several threads)")


def serve_web_main(a) -> int:
    server = make_server(a.dir, a.port, a.isolate, quiet=False)
    print(f"serving {a.dir} at {server.url} (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
