"""{{name}}: a Python host serving an embedded web UI on 127.0.0.1.

ppm builds the UI (TypeScript + CSS + index.html, bundled by esbuild) and the bundler embeds it
in this one executable under ppm_deps/ui/; web/ holds the host's own files (the `datas`
setting). Nothing is read from the disk around the executable.

  {{name}}                   serve on http://127.0.0.1:8765/
  {{name}} --port 0          any free port (the first line printed says which)
  {{name}} --self-check      exit 0 if every embedded file is there
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import platform
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

APP = "{{name}}"
UI_FILES = ("index.html", "ui.js", "ui.css")


def bundle_dir() -> Path:
    """Where the embedded files are: PyInstaller unpacks them into sys._MEIPASS, Nuitka's
    onefile mode next to the module; run from source, PPM_BUNDLE_DIR points at such a tree."""
    if hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS)
    return Path(os.environ.get("PPM_BUNDLE_DIR", Path(__file__).resolve().parent))


def routes(root: Path) -> dict[str, Path]:
    """URL path -> embedded file: the UI at /, the host's web/ files beside it."""
    table: dict[str, Path] = {}
    for base in (root / "ppm_deps" / "ui", root / "web"):
        if base.is_dir():
            for f in sorted(base.rglob("*")):
                if f.is_file():
                    table["/" + f.relative_to(base).as_posix()] = f
    if "/index.html" in table:
        table["/"] = table["/index.html"]
    return table


def make_handler(table: dict[str, Path]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.path.split("?", 1)[0]
            if path == "/api/status":
                body = json.dumps({"app": APP, "python": platform.python_version(), "files": sorted(table)}).encode()
                return self._send(200, "application/json", body)
            f = table.get(path)  # only embedded files: a request names a key, never a path
            if f is None:
                return self._send(404, "text/plain; charset=utf-8", b"not found\n")
            ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript", "text/javascript"):
                ctype += "; charset=utf-8"
            return self._send(200, ctype, f.read_bytes())

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: one line per start is enough
            pass

    return Handler


def self_check(root: Path) -> int:
    table = routes(root)
    failed = 0
    for name in (*UI_FILES, "robots.txt"):
        ok = f"/{name}" in table and table[f"/{name}"].stat().st_size > 0
        print(f"{'ok  ' if ok else 'FAIL'}  {name}")
        failed += not ok
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=APP, description="Serve the embedded web UI on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--self-check", action="store_true", help="exit 0 if every embedded file is there")
    args = parser.parse_args(argv)
    root = bundle_dir()
    if args.self_check:
        return self_check(root)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(routes(root)))
    print(f"{APP}: serving on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
