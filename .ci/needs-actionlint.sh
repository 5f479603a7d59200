#!/usr/bin/env bash
# actionlint for tests/test_ci_action.py (pyyaml comes with the `test` extra).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
command -v actionlint >/dev/null && exit 0
if ! command -v go >/dev/null; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go >/dev/null
fi
# GOTOOLCHAIN=auto: Debian's go may be older than actionlint needs; the newer toolchain comes from the Go proxy.
log=$(mktemp)
GOTOOLCHAIN=auto go install github.com/rhysd/actionlint/cmd/actionlint@latest >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
rm -f "$log"
