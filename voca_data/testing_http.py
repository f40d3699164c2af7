"""A Range-capable static HTTP server on 127.0.0.1, for tests and benchmarks of remote stores.

With aiohttp installed (it is, wherever fsspec reads http://) the server is aiohttp's static file
response (Range, HEAD, sendfile); otherwise Python's ``http.server`` with the handler below.
``serve(root, server="nginx")`` runs Debian's nginx instead (``apt-get install nginx-light``; one
worker process, access log counted): a server written in C, as real object stores and CDNs are,
that takes a small fraction of the CPU per request a Python server takes, which is what a
benchmark sharing two cores between server and client must leave to the client.
Python's ``http.server`` ignores ``Range``; this handler answers ``bytes=a-b``, ``bytes=a-`` and
``bytes=-n`` with ``206 Partial Content`` (what zarr shard-index reads and tensorstore need),
counts requests (``GET /__requests`` returns the count as text) and runs in its own process, so
a test can kill it mid-read.

Example
-------
>>> from voca_data.testing_http import serve
>>> with serve(tmp_path) as server:                                       # doctest: +SKIP
...     ds = voca_data.open(server.url + "/s.zarr")
...     server.requests()
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["NginxServer", "RangeRequestHandler", "Server", "nginx_available", "serve"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges and a request counter."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real servers
    # headers and body go out as two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms per request); real servers set TCP_NODELAY too
    disable_nagle_algorithm = True
    count = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/__requests":
            body = str(type(self).count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with type(self).lock:
            type(self).count += 1
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "not found")
            return
        size = path.stat().st_size
        start, stop = 0, size
        header = self.headers.get("Range")
        partial = False
        if header:
            m = _RANGE.match(header.strip())
            if not m or (not m.group(1) and not m.group(2)):
                self.send_error(416, "bad range")
                return
            if m.group(1):
                start = int(m.group(1))
                stop = min(int(m.group(2)) + 1, size) if m.group(2) else size
            else:
                start = max(size - int(m.group(2)), 0)
            if start >= size or stop <= start:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            partial = True
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(stop - start))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        if head:
            return
        with path.open("rb") as f:
            f.seek(start)
            self.wfile.write(f.read(stop - start))


class Server:
    """A server process serving ``root``; ``url`` is its base URL."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voca_data.testing_http", str(self.root)],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("port "):
            self.kill()
            raise RuntimeError(f"the test HTTP server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self) -> int:
        """Requests served so far (the counter's own requests excluded)."""
        with urllib.request.urlopen(f"{self.url}/__requests", timeout=10) as r:
            return int(r.read())

    def kill(self) -> None:
        """Stop the server at once (connections drop, as when a server dies)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    sendfile on; tcp_nodelay on; keepalive_requests 1000000;
    types {{ }}
    default_type application/octet-stream;
    server {{ listen 127.0.0.1:{port}; root {root}; location / {{ }} }}
}}
"""


def _nginx_binary() -> str | None:
    """The ``nginx`` binary on PATH or in /usr/sbin (root's PATH has it, a user's may not)."""
    return shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")


def nginx_available() -> bool:
    """Whether nginx is installed (:func:`serve` can run it)."""
    return _nginx_binary() is not None


class NginxServer:
    """nginx serving ``root`` on 127.0.0.1 with one worker; same interface as :class:`Server`
    (``requests()`` counts the access log's GET lines)."""

    def __init__(self, root: str | os.PathLike):
        import socket
        import tempfile
        import time

        binary = _nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
        self.root = Path(root).resolve()
        self.tmp = Path(tempfile.mkdtemp(prefix="voca-nginx-"))
        with socket.socket() as sock:  # a free port (nginx cannot report the one it bound)
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        conf = self.tmp / "nginx.conf"
        conf.write_text(_NGINX_CONF.format(
            tmp=self.tmp, port=self.port, root=self.root,
            user="user root;" if os.geteuid() == 0 else "",
        ))
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.tmp)], start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read() if self.process.stderr else ""
                    self.kill()
                    raise RuntimeError(f"nginx did not start: {err.strip()[-500:]}") from None
                time.sleep(0.05)

    def requests(self) -> int:
        log = self.tmp / "access.log"
        if not log.exists():
            return 0
        with log.open() as f:
            return sum(1 for line in f if '"GET ' in line)

    def kill(self) -> None:
        """Stop nginx: its fast shutdown (the master reaps its worker), else SIGKILL to both."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def serve(root: str | os.PathLike, server: str = "python") -> Iterator[Server | NginxServer]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port) for the duration of the block:
    ``server="python"`` (aiohttp, else ``http.server``) or ``"nginx"``."""
    if server not in ("python", "nginx"):
        raise ValueError(f"server must be 'python' or 'nginx', got {server!r}")
    running = NginxServer(root) if server == "nginx" else Server(root)
    try:
        yield running
    finally:
        running.kill()


def _serve_aiohttp(root: str, port: int) -> None:
    """The same server with aiohttp (sendfile, C-accelerated HTTP parsing): a few times less CPU
    per request than ``http.server``, which matters on a small machine where the server shares
    the cores with the client it is measured against."""
    import asyncio
    import socket

    from aiohttp import web

    count = 0
    base = Path(root).resolve()

    async def requests(request: web.Request) -> web.Response:
        return web.Response(text=str(count))

    async def static(request: web.Request) -> web.StreamResponse:
        nonlocal count
        if request.method == "GET":
            count += 1
        path = (base / request.match_info["tail"]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    app = web.Application()
    app.router.add_get("/__requests", requests)
    app.router.add_route("GET", "/{tail:.*}", static)  # GET routes answer HEAD too

    async def run() -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        print(f"port {sock.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Range-capable static server on 127.0.0.1")
    parser.add_argument("root")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--stdlib", action="store_true", help="use http.server even where aiohttp is installed"
    )
    args = parser.parse_args(argv)
    if not args.stdlib and importlib.util.find_spec("aiohttp") is not None:
        _serve_aiohttp(args.root, args.port)
        return
    handler = lambda *a, **k: RangeRequestHandler(*a, directory=args.root, **k)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        httpd.daemon_threads = True
        print(f"port {httpd.server_address[1]}", flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main()
