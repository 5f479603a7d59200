#!/usr/bin/env bash
# The fault tests: mount(8)/umount(8) for the full-disk (tmpfs) and read-only (bind mount)
# tests; they skip with the reason when mounting is not permitted. Python packages (hypothesis,
# setuptools, wheel) come from the `test` extra.
set -euo pipefail
if ! command -v mount >/dev/null || ! command -v umount >/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mount
fi
