"""A real HTTP server on 127.0.0.1 that serves registry fixtures through each registry's own
protocol paths, so the clients under test speak exactly what they speak to the real registries:

    /pypi/simple/<name>/                 PEP 691 JSON  (file: pypi/simple/<name>.json)
    /pypi/files/<file>.metadata          PEP 658 core metadata, and the files themselves
    /npm/<name>, /npm/@scope%2fname      abbreviated packument (file: npm/<name, '/' as %2f>.json)
    /cargo/index/config.json             sparse index config (generated: dl + api point here)
    /cargo/index/<ab>/<cd>/<name>        sparse index lines
    /cargo/dl/<name>/<version>/download  .crate files (file: cargo/crates/<name>-<version>.crate)
    /go/<module>/@v/list|.info|.mod|.zip Go module proxy (escaped paths, as on disk)
    /maven/<group path>/<artifact>/...   Maven repository layout (maven-metadata.xml, POMs)

Every response carries an ETag (and honours If-None-Match with 304). `slow` makes chosen paths
sleep (to test timeouts), `tamper` corrupts chosen paths (to test hash checks), `log` records
requests. The helper functions at the bottom write small synthetic universes in these layouts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

FIXTURES = Path(__file__).parent / "fixtures" / "registries"
BASE = "http://ppm-registry.invalid"  # in synthetic fixtures; the server answers with its own address


class RegistryServer:
    def __init__(self, root: Path = FIXTURES) -> None:
        self.root = Path(root)
        self.slow: dict[str, float] = {}  # path prefix -> seconds to sleep before answering
        self.tamper: set[str] = set()  # paths whose body is altered
        self.fail: dict[str, int] = {}  # path prefix -> HTTP status to answer
        self.log: list[tuple[str, int]] = []
        self.auth: list[tuple[str, str | None]] = []  # path, Authorization header (credential tests)
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> RegistryServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        assert self._httpd
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def urls(self) -> dict[str, str]:
        b = self.base
        return {"pypi": f"{b}/pypi/simple/", "npm": f"{b}/npm/", "cargo": f"sparse+{b}/cargo/index/",
                "go": f"{b}/go/", "maven": f"{b}/maven/"}

    def env(self) -> dict[str, str]:
        return {f"PPM_REGISTRY_{k.upper()}": v for k, v in self.urls.items()}

    # -- routing ----------------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[bytes | None, str]:
        if path.startswith("/pypi/simple/"):
            name = path[len("/pypi/simple/"):].strip("/")
            return self._read(f"pypi/simple/{name}.json"), "application/vnd.pypi.simple.v1+json"
        if path.startswith("/pypi/files/"):
            return self._read(path[1:]), "application/octet-stream"
        if path == "/cargo/index/config.json":
            cfg = {"dl": f"{self.base}/cargo/dl", "api": f"{self.base}/cargo"}
            return json.dumps(cfg).encode(), "application/json"
        if path.startswith("/cargo/index/"):
            return self._read("cargo/index/" + path[len("/cargo/index/"):]), "text/plain"
        if path.startswith("/cargo/dl/"):
            parts = path[len("/cargo/dl/"):].split("/")
            if len(parts) == 3 and parts[2] == "download":
                return self._read(f"cargo/crates/{parts[0]}-{parts[1]}.crate"), "application/octet-stream"
            return None, ""
        if path.startswith("/npm/"):
            rest = path[len("/npm/"):]
            if "/-/" in rest:
                return self._read("npm/tarballs/" + rest.split("/-/", 1)[1]), "application/octet-stream"
            name = unquote(rest).replace("/", "%2f")
            body = self._read(f"npm/{name}.json")
            if body is not None:  # synthetic packuments name their tarballs on this server
                body = body.replace(BASE.encode(), self.base.encode())
            return body, "application/vnd.npm.install-v1+json"
        if path.startswith("/go/"):
            return self._read(path[1:]), "text/plain; charset=utf-8"
        if path.startswith("/maven/"):
            ctype = "text/xml" if path.endswith((".pom", ".xml")) else "application/octet-stream"
            return self._read(path[1:]), ctype
        return None, ""

    def _read(self, rel: str) -> bytes | None:
        p = (self.root / rel).resolve()
        if self.root.resolve() not in p.parents or not p.is_file():
            return None
        return p.read_bytes()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        self.auth.append((path, h.headers.get("Authorization")))
        for prefix, secs in self.slow.items():
            if path.startswith(prefix):
                time.sleep(secs)
        for prefix, status in self.fail.items():
            if path.startswith(prefix):
                self._send(h, path, status, b"failing on purpose\n", "text/plain")
                return
        body, ctype = self._resolve(path)
        if body is None:
            self._send(h, path, 404, b"not found\n", "text/plain")
            return
        if path in self.tamper:
            body = body + b"tampered"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if h.headers.get("If-None-Match") == etag:
            self._send(h, path, 304, b"", ctype, etag)
            return
        self._send(h, path, 200, body, ctype, etag)

    def _send(self, h: BaseHTTPRequestHandler, path: str, status: int, body: bytes, ctype: str, etag: str | None = None) -> None:
        self.log.append((path, status))
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            if etag:
                h.send_header("ETag", etag)
            h.end_headers()
            if status != 304:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


# ---------------------------------------------------------------------------------------------
# Synthetic universes, written in the same layouts as the recorded fixtures.


def _write(root: Path, rel: str, data: bytes | str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _tgz(files: dict[str, bytes | str]) -> bytes:
    """A deterministic .tar.gz (fixed times and owners)."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in sorted(files.items()):
            b = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(b), 0, 0o644
            t.addfile(info, io.BytesIO(b))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        g.write(raw.getvalue())
    return out.getvalue()


def _wheel(name: str, version: str, tag: str, meta_text: str) -> bytes:
    """A real, installable wheel with one module `<name>` that knows its version."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {f"{dist}/__init__.py": f"__version__ = {version!r}\n", f"{info}/METADATA": meta_text,
             f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: ppm-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"}
    record = "".join(f"{fn},sha256={base64.urlsafe_b64encode(hashlib.sha256(d.encode()).digest()).rstrip(b'=').decode()},{len(d.encode())}\n"
                     for fn, d in files.items()) + f"{info}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for fn, d in list(files.items()) + [(f"{info}/RECORD", record)]:
            zi = zipfile.ZipInfo(fn, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(zi, d)
    return buf.getvalue()


def pypi_project(root: Path, name: str, versions: dict[str, dict]) -> None:
    """versions: {"1.0": {"requires": [...], "requires_python": ">=3.8", "yanked": False,
    "wheels": ["py3-none-any"], "sdist": True, "extras": [...]}}"""
    files = []
    for v, info in versions.items():
        meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {v}"]
        if info.get("requires_python"):
            meta.append(f"Requires-Python: {info['requires_python']}")
        meta += [f"Provides-Extra: {e}" for e in info.get("extras", [])]
        meta += [f"Requires-Dist: {r}" for r in info.get("requires", [])]
        meta_text = "\n".join(meta) + "\n"
        dist = name.replace("-", "_")
        for tag in info.get("wheels", ["py3-none-any"]):
            fn = f"{dist}-{v}-{tag}.whl"
            content = _wheel(name, v, tag, meta_text)
            _write(root, f"pypi/files/{name}/{fn}", content)
            _write(root, f"pypi/files/{name}/{fn}.metadata", meta_text)
            files.append({"filename": fn, "url": f"../../files/{name}/{fn}",
                          "hashes": {"sha256": hashlib.sha256(content).hexdigest()},
                          "requires-python": info.get("requires_python"), "yanked": info.get("yanked", False),
                          "core-metadata": {"sha256": hashlib.sha256(meta_text.encode()).hexdigest()}})
        if info.get("sdist"):
            fn = f"{dist}-{v}.tar.gz"
            files.append({"filename": fn, "url": f"../../files/{name}/{fn}",
                          "hashes": {"sha256": hashlib.sha256(fn.encode()).hexdigest()},
                          "requires-python": info.get("requires_python"), "yanked": info.get("yanked", False)})
    doc = {"meta": {"api-version": "1.1"}, "name": name, "versions": list(versions), "files": files}
    _write(root, f"pypi/simple/{name}.json", json.dumps(doc, indent=1))


def npm_package(root: Path, name: str, versions: dict[str, dict[str, str]], latest: str | None = None) -> None:
    """versions: {"1.0.0": {"dep": "^1.0.0"}}"""
    docs = {}
    for v, deps in versions.items():
        tar = f"{name.split('/')[-1]}-{v}.tgz"
        pj = json.dumps({"name": name, "version": v, "dependencies": deps, "main": "index.js"}, indent=1)
        content = _tgz({"package/package.json": pj, "package/index.js": f"module.exports = {json.dumps(name + '@' + v)};\n"})
        _write(root, f"npm/tarballs/{tar}", content)
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()
        docs[v] = {"name": name, "version": v, "dependencies": deps,
                   "dist": {"tarball": f"{BASE}/npm/{name}/-/{tar}", "integrity": integrity,
                            "shasum": hashlib.sha1(content).hexdigest()}}
    doc = {"name": name, "dist-tags": {"latest": latest or list(versions)[-1]}, "versions": docs}
    _write(root, f"npm/{name.replace('/', '%2f')}.json", json.dumps(doc, indent=1))


def cargo_index_path(name: str) -> str:
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


def cargo_crate(root: Path, name: str, versions: list[dict], lib_rs: str = "//! test crate\n") -> None:
    """versions: [{"vers": "1.0.0", "deps": [{"name", "req", "features", "optional", "default_features",
    "target", "kind"}], "features": {...}, "yanked": False}]; lib_rs: every version's src/lib.rs"""
    lines = []
    for v in versions:
        content = _tgz({f"{name}-{v['vers']}/Cargo.toml": _crate_toml(name, v), f"{name}-{v['vers']}/src/lib.rs": lib_rs})
        _write(root, f"cargo/crates/{name}-{v['vers']}.crate", content)
        deps = [{"name": d["name"], "req": d.get("req", "*"), "features": d.get("features", []),
                 "optional": d.get("optional", False), "default_features": d.get("default_features", True),
                 "target": d.get("target"), "kind": d.get("kind", "normal"), **({"package": d["package"]} if "package" in d else {})}
                for d in v.get("deps", [])]
        lines.append(json.dumps({"name": name, "vers": v["vers"], "deps": deps, "cksum": hashlib.sha256(content).hexdigest(),
                                 "features": v.get("features", {}), "yanked": v.get("yanked", False), "v": 2}))
    _write(root, "cargo/index/" + cargo_index_path(name), "\n".join(lines) + "\n")


def _toml_value(x: object) -> str:
    return "true" if x is True else "false" if x is False else json.dumps(x)


def _crate_toml(name: str, v: dict) -> str:
    """The Cargo.toml a published crate carries: its dependencies and features, as the index says."""
    out = f'[package]\nname = "{name}"\nversion = "{v["vers"]}"\nedition = "2021"\n\n[lib]\npath = "src/lib.rs"\n'
    tables: dict[str, list[str]] = {}
    for d in v.get("deps", []):
        kind = {"normal": "dependencies", "build": "build-dependencies", "dev": "dev-dependencies"}[d.get("kind", "normal")]
        table = f'target."{d["target"]}".{kind}' if d.get("target") else kind
        key = d["name"]
        spec = {"version": d.get("req", "*")}
        if d.get("package"):
            spec["package"] = d["package"]
        if d.get("optional"):
            spec["optional"] = True
        if d.get("features"):
            spec["features"] = d["features"]
        if d.get("default_features") is False:
            spec["default-features"] = False
        inner = ", ".join(f"{k} = {_toml_value(x)}" for k, x in spec.items())
        tables.setdefault(table, []).append(f"{key} = {{ {inner} }}")
    for table, lines in tables.items():
        out += f"\n[{table}]\n" + "\n".join(lines) + "\n"
    feats = v.get("features", {})
    if feats:
        out += "\n[features]\n" + "".join(f"{json.dumps(k)} = {json.dumps(x)}\n" for k, x in feats.items())
    return out


def go_escape(path: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def go_module(root: Path, path: str, versions: dict[str, list[str]], files: dict[str, str] | None = None,
              go: str = "1.21") -> None:
    """versions: {"v1.0.0": ["example.com/b v1.2.0", ...]} (the go.mod require lines); `go` is the
    go.mod's go line (below 1.17 the module's graph is not pruned)."""
    esc = go_escape(path)
    for v, reqs in versions.items():
        mod = f"module {path}\n\ngo {go}\n"
        if reqs:
            mod += "\nrequire (\n" + "".join(f"\t{r}\n" for r in reqs) + ")\n"
        _write(root, f"go/{esc}/@v/{v}.mod", mod)
        _write(root, f"go/{esc}/@v/{v}.info", json.dumps({"Version": v, "Time": "2024-01-01T00:00:00Z"}))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"{path}@{v}/go.mod", mod)
            for fn, text in (files or {"x.go": f"package x // {v}\n"}).items():
                z.writestr(f"{path}@{v}/{fn}", text)
        _write(root, f"go/{esc}/@v/{v}.zip", buf.getvalue())
    _write(root, f"go/{esc}/@v/list", "".join(f"{v}\n" for v in versions))


def maven_artifact(root: Path, group: str, artifact: str, poms: dict[str, str]) -> None:
    """poms: {version: full POM XML text}."""
    base = f"maven/{group.replace('.', '/')}/{artifact}"
    for v, pom in poms.items():
        _write(root, f"{base}/{v}/{artifact}-{v}.pom", pom)
        jar = f"jar {group}:{artifact}:{v}".encode()
        _write(root, f"{base}/{v}/{artifact}-{v}.jar", jar)
        _write(root, f"{base}/{v}/{artifact}-{v}.jar.sha256", hashlib.sha256(jar).hexdigest())
    vs = "".join(f"<version>{v}</version>" for v in poms)
    _write(root, f"{base}/maven-metadata.xml",
           f"<metadata><groupId>{group}</groupId><artifactId>{artifact}</artifactId><versioning>"
           f"<latest>{list(poms)[-1]}</latest><release>{list(poms)[-1]}</release><versions>{vs}</versions>"
           f"</versioning></metadata>")


def pom(group: str, artifact: str, version: str, deps: str = "", *, parent: str = "", extra: str = "", packaging: str = "jar") -> str:
    """A small POM; `deps` and `extra` are raw XML fragments."""
    return (f'<?xml version="1.0"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n<modelVersion>4.0.0</modelVersion>\n'
            f"{parent}<groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>"
            f"<packaging>{packaging}</packaging>\n{extra}\n<dependencies>{deps}</dependencies>\n</project>\n")
