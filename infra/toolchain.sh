#!/usr/bin/env bash
# infra/toolchain.sh — make sure a Rust toolchain able to build xinfang (cargo, rustc ≥ 1.85,
# edition 2024) is on PATH. Uses one that is there (rustup's ~/.cargo/bin included);
# otherwise installs Debian's cargo and rustc packages and checks their version.
set -euo pipefail

need="1.85"
[[ -d "$HOME/.cargo/bin" ]] && export PATH="$HOME/.cargo/bin:$PATH"

version_ok() {
  local v
  v=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  [[ -n "$v" ]] && [[ "$(printf '%s\n%s\n' "$need" "$v" | sort -V | head -n1)" == "$need" ]]
}

if ! command -v cargo >/dev/null 2>&1 || ! version_ok; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "toolchain.sh: installing Debian's cargo and rustc" >&2
    sudo_cmd=()
    ((EUID == 0)) || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq >&2
    "${sudo_cmd[@]}" apt-get install -y --no-install-recommends cargo rustc gcc libc6-dev pkg-config >&2
  fi
fi
if ! version_ok; then
  echo "toolchain.sh: error: xinfang needs rustc >= $need (found: $(rustc --version 2>/dev/null || echo none))." >&2
  echo "toolchain.sh: install a current toolchain (e.g. with rustup) and run again." >&2
  exit 1
fi
echo "rust $(rustc --version | awk '{print $2}')"
