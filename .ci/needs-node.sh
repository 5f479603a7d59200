#!/usr/bin/env bash
# ppm test and ppm dev: the TypeScript tests run with `node --test` (Node >= 18.15 for
# --test-reporter); bash drives the completion test. Python packages (watchfiles, xmlschema)
# come with `pip install -e '.[test]'`.
set -euo pipefail
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v bash >/dev/null || missing+=(bash)
if ((${#missing[@]})); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
