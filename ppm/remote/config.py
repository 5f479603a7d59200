"""Where the remote cache and executor are, from the command line, ppm.toml or the environment.

Precedence: command line, then the environment (PPM_REMOTE_CACHE, PPM_REMOTE_EXECUTOR,
PPM_REMOTE_UPLOAD), then ppm.toml's [remote] table. Credentials never come from ppm.toml (it is
committed): PPM_REMOTE_HEADERS ("name=value,name=value") and PPM_REMOTE_TOKEN (sent as
`authorization: Bearer …`) are read from the environment only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ppm.core.errors import PpmError

SCHEMES = ("grpc", "grpcs", "http", "https")
FALLBACKS = ("local", "none")


class RemoteConfigError(PpmError):
    exit_code = 2


@dataclass(frozen=True)
class RemoteConfig:
    cache: str | None = None
    executor: str | None = None
    upload: bool = True
    fallback: str = "none"  # what to do when the executor is unreachable: "local" builds here
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def enabled(self) -> bool:
        return bool(self.cache or self.executor)

    @property
    def cache_url(self) -> str | None:
        # --remote-executor implies the remote cache: the executor's own, where its workers
        # read inputs and write outputs.
        return self.executor or self.cache


def check_url(url: str, what: str, *, grpc_only: bool = False) -> str:
    parts = urlsplit(url)
    allowed = ("grpc", "grpcs") if grpc_only else SCHEMES
    if parts.scheme not in allowed or not parts.hostname:
        raise RemoteConfigError(f"{what} {url!r} is not a remote URL",
                                hint=f"use {' or '.join(s + '://HOST:PORT' for s in allowed)}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise RemoteConfigError(f"{what} {url!r} has an invalid port") from None
    return url


def headers_from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in filter(None, (s.strip() for s in env.get("PPM_REMOTE_HEADERS", "").split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RemoteConfigError(f"PPM_REMOTE_HEADERS: {item!r} is not name=value")
        out.append((name.strip().lower(), value.strip()))
    if token := env.get("PPM_REMOTE_TOKEN"):
        out.append(("authorization", f"Bearer {token}"))
    return tuple(out)


def resolve(table: dict[str, Any] | None, *, cache: str | None = None, executor: str | None = None,
            upload: bool | None = None, fallback: str | None = None,
            env: dict[str, str] | os._Environ[str] = os.environ) -> RemoteConfig:
    """The effective configuration; `table` is ppm.toml's [remote], already validated."""
    table = table or {}
    cache = cache or env.get("PPM_REMOTE_CACHE") or table.get("cache")
    executor = executor or env.get("PPM_REMOTE_EXECUTOR") or table.get("executor")
    if upload is None:
        raw = env.get("PPM_REMOTE_UPLOAD")
        upload = raw.lower() not in ("0", "false", "no") if raw else bool(table.get("upload", True))
    fallback = fallback or table.get("fallback", "none")
    if fallback not in FALLBACKS:
        raise RemoteConfigError(f"--remote-fallback {fallback!r}: expected one of {', '.join(FALLBACKS)}")
    if cache:
        check_url(cache, "remote cache")
    if executor:
        check_url(executor, "remote executor", grpc_only=True)
        if cache and cache != executor:
            raise RemoteConfigError(f"remote executor {executor} and remote cache {cache} differ",
                                    hint="the executor's own cache is the remote cache: drop --remote-cache")
    return RemoteConfig(cache or None, executor or None, upload, fallback, headers_from_env(env) if (cache or executor) else ())
