"""Each ecosystem's own grammar for package names, and the version grammar they share: each
function returns why a name is refused, or None. lockfile/ecosystems.py names the grammar of each
ecosystem; ppm.core.safepath checks again where a name becomes a path."""

from __future__ import annotations

import re

# validate-npm-package-name: at most 214 characters, URL-safe, no leading '.' or '_'; a scope is
# `@scope/`. Upper case is accepted: old packages (JSONStream) keep theirs.
_NPM = re.compile(r"(?:@[A-Za-z0-9\-*~][A-Za-z0-9\-*._~]*/)?[A-Za-z0-9\-~][A-Za-z0-9\-._~]*")
_NPM_RESERVED = {"node_modules", "favicon.ico"}
# crates.io: ASCII alphanumerics, '-' and '_', starting with a letter, at most 64 characters
_CARGO = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# PEP 508 names
_PYPI = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
# golang.org/x/mod/module.CheckPath: slash-separated elements of [A-Za-z0-9-._~], none empty, none
# starting or ending with '.', the first one a lower-case domain with a dot and no leading '-'
_GO_ELEM = re.compile(r"[A-Za-z0-9\-_~]|[A-Za-z0-9\-_~][A-Za-z0-9\-._~]*[A-Za-z0-9\-_~]")
_GO_FIRST = re.compile(r"[a-z0-9][a-z0-9\-.]*\.[a-z0-9\-.]*[a-z0-9]")
# Maven coordinates: groupId and artifactId of [A-Za-z0-9_-.]
_MAVEN_PART = re.compile(r"[A-Za-z0-9_\-.]+")
# Versions become path parts (<name>-<version>/, @v/<version>.zip, <artifact>/<version>/): every
# ecosystem's version grammar fits in this, and nothing in it can leave a directory
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!~-]{0,127}")

def npm(name: str) -> str | None:
    if len(name) > 214 or not _NPM.fullmatch(name) or name.lower() in _NPM_RESERVED:
        return "npm names are at most 214 URL-safe characters, optionally @scope/, not starting with '.' or '_'"
    return None


def cargo(name: str) -> str | None:
    return None if _CARGO.fullmatch(name) else "crate names are a letter then up to 63 of [A-Za-z0-9_-]"


def pypi(name: str) -> str | None:
    if _PYPI.fullmatch(name):
        return None
    return "PEP 508 names are letters, digits, '.', '_' and '-', starting and ending alphanumeric"


def go(name: str) -> str | None:
    elems = name.split("/")
    if len(name) > 500 or not _GO_FIRST.fullmatch(elems[0]) or not all(_GO_ELEM.fullmatch(e) for e in elems):
        return ("Go module paths are '/'-separated elements of [A-Za-z0-9-._~], the first a lower-case domain "
                "with a dot, no element empty or starting or ending with '.'")
    return None


def maven(name: str) -> str | None:
    g, sep, a = name.partition(":")
    ok = (sep and _MAVEN_PART.fullmatch(g) and _MAVEN_PART.fullmatch(a) and a not in (".", "..")
          and all(x for x in g.split(".")))
    return None if ok else "Maven coordinates are groupId:artifactId of [A-Za-z0-9_-.], no empty group part"


def version_problem(version: str) -> str | None:
    if isinstance(version, str) and _VERSION.fullmatch(version) and ".." not in version:
        return None
    return "a version is up to 128 of [A-Za-z0-9._+!~-], starting alphanumeric"
