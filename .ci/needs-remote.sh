#!/bin/sh
# Remote cache and execution tests: BuildGrid in its own venv, nginx with WebDAV for the
# Bazel HTTP cache tests, PostgreSQL for BuildGrid's scheduler. Idempotent and quiet.
set -eu
BGD_VENV="${PPM_BUILDGRID_VENV:-/opt/ppm-buildgrid}"
if ! command -v nginx >/dev/null 2>&1 || ! [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq nginx-light postgresql >/dev/null
fi
if ! [ -x "$BGD_VENV/bin/bgd" ]; then
    python3 -m venv "$BGD_VENV"
    "$BGD_VENV/bin/pip" install -q buildgrid==0.4.4 psycopg2-binary
fi
