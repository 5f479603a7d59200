#!/usr/bin/env bash
# Cross builds: what the cross-target tests need on a fresh Debian 12 machine.
#   qemu-user-static + libc6-arm64-cross   run linux-aarch64 bundles (qemu-aarch64-static -L /usr/aarch64-linux-gnu)
#   wine64                                 run windows-x86_64 bundles (Wine 8)
#   gcc-mingw-w64-x86-64                   Rust's linker for x86_64-pc-windows-gnu; the tests' ProcessPrng stand-in
#   rustc-web cargo-web rust-web-src       a Rust that builds std from source (-Zbuild-std) for targets rustup lacks
#   lld wasi-libc                          wasm-ld and the C library Rust's wasm32-wasip1 std links against
# Go is already on the machine (/usr/local/go); zig and esbuild are provisioned by ppm itself.
# Idempotent and quiet: only what is missing is installed.
set -euo pipefail

pkgs=(qemu-user-static libc6-arm64-cross wine64 gcc-mingw-w64-x86-64 rustc-web cargo-web rust-web-src lld wasi-libc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || echo "needs-cross: Go is not installed; the Go builder's tests will skip" >&2
