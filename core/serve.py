"""`python -m core serve-web DIR`: serve a web bundle on 127.0.0.1, and the same server in a thread for tests.

It serves only regular files inside the bundle folder: no symlinks (in or out of it), no hidden files, no folder
listings; `/` is `index.html`. It sends a precompressed copy (`NAME.br`, `NAME.gz`, written by export-web) when the
request's Accept-Encoding allows it, with `Vary: Accept-Encoding`, and the page's Content-Security-Policy as a
header too (with `frame-ancestors 'none'`, which a <meta> cannot carry) plus the usual hardening headers.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socketserver
import stat
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from core.bundle import ENCODINGS, ISOLATION_HEADERS, MIME_TYPES, PAGE_CSP
from core.errors import UserError

SECURITY_HEADERS = {
    "Content-Security-Policy": PAGE_CSP + "; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cache-Control": "no-cache",  # revalidate: a re-exported bundle is seen at once
}


def accepted_encodings(header: str | None) -> set[str]:
    """The content codings an Accept-Encoding header allows (q > 0; "*" allows every one not named)."""
    allowed, refused, star = set(), set(), False
    for part in (header or "").split(","):
        token, *params = [s.strip() for s in part.split(";")]
        token = token.lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if token == "*":
            star = q > 0
        elif token:
            (allowed if q > 0 else refused).add(token)
    if star:
        allowed |= set(ENCODINGS) - refused
    return allowed


class BundleHandler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD of the bundle's regular files, precompressed when the client accepts it."""

    directory: Path = Path(".")
    isolate = False
    quiet = False
    encodings: tuple[str, ...] = tuple(ENCODINGS)  # what this server offers (the benchmark turns some off)

    def version_string(self) -> str:
        return "serve-web"  # no Python version for the curious

    def _file(self) -> Path | None:
        """The regular file inside the bundle that the request names, or None (never a symlink or a folder)."""
        raw = urllib.parse.urlsplit(self.path).path
        try:
            path = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if "\0" in path or "\\" in path or not path.startswith("/"):
            return None
        parts = [p for p in path.split("/") if p]
        if path.endswith("/"):
            parts.append("index.html")  # "/" (and only a folder's index page, never a listing)
        if not parts or any(p.startswith(".") for p in parts):  # no "..", no hidden files (".x.tmp" folders)
            return None
        current = self.directory
        for part in parts:
            current = current / part
            try:
                st = os.lstat(current)
            except (OSError, ValueError):
                return None
            if stat.S_ISLNK(st.st_mode):
                return None
        return current if stat.S_ISREG(st.st_mode) else None

    def _send(self, head_only: bool) -> None:
        path = self._file()
        if path is None:
            self._error(404, "Not found")
            return
        mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
        encoding, body_path = None, path
        variants = {e: path.with_name(path.name + s) for e, s in ENCODINGS.items()}
        variants = {e: p for e, p in variants.items() if not p.is_symlink() and p.is_file()}
        accepted = accepted_encodings(self.headers.get("Accept-Encoding")) & set(self.encodings)
        for e, p in variants.items():  # preferred first: br, then gzip
            if e in accepted:
                encoding, body_path = e, p
                break
        try:
            with open(body_path, "rb") as f:
                body = f.read()
        except OSError:
            self._error(404, "Not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if variants:
            self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _error(self, code: int, text: str) -> None:
        body = f"{code} {text}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        self._send(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(head_only=True)

    def end_headers(self) -> None:
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        if self.isolate:
            for k, v in ISOLATION_HEADERS.items():
                if k not in SECURITY_HEADERS:
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


def make_server(directory: Path, port: int = 0, isolate: bool = False, quiet: bool = True,
                encodings: tuple[str, ...] = tuple(ENCODINGS)) -> BundleServer:
    """A threaded HTTP server for `directory` on 127.0.0.1 (port 0: any free port); call serve_forever().
    `encodings`: the precompressed copies it may send (none: always the files as they are)."""
    directory = Path(directory).absolute()
    if not (directory / "index.html").is_file():
        raise UserError(f"{directory} is not a web bundle (no index.html); make one with `python -m core export-web`")
    handler = type("Handler", (BundleHandler,), {"isolate": isolate, "quiet": quiet, "directory": directory,
                                                 "encodings": tuple(encodings)})
    try:
        server = BundleServer(("127.0.0.1", port), handler)
    except (OSError, OverflowError) as e:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {getattr(e, 'strerror', None) or e}") from None
    server.directory = directory
    return server


@contextlib.contextmanager
def serving(directory: Path, isolate: bool = False, encodings: tuple[str, ...] = tuple(ENCODINGS)
            ) -> Iterator[BundleServer]:
    """Serve `directory` on an ephemeral 127.0.0.1 port in a thread; yields the server."""
    server = make_server(directory, 0, isolate, encodings=encodings)
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
