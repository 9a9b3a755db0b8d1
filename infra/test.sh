#!/usr/bin/env bash
# infra/test.sh — run the whole test suite: makes NATS, Redis and PostgreSQL available on
# their standard local ports (infra/local/up.sh), installs the test-only tools
# (infra/test-tools.sh), then runs every crate's tests against the real servers.
# Extra arguments go to `cargo test` (e.g. `infra/test.sh -p xinfang-intake`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> infrastructure (infra/local/up.sh)"
infra/local/up.sh
echo "==> test tools (infra/test-tools.sh)"
infra/test-tools.sh
echo "==> toolchain"
infra/toolchain.sh
[[ -d "$HOME/.cargo/bin" ]] && export PATH="$HOME/.cargo/bin:$PATH"
echo "==> cargo test"
# A CI run builds once from a fresh clone: incremental data would only cost time and about
# 3 GB of disk. The whole debug build with its test binaries takes about 11 GB.
if [[ -n "${CI:-}" ]]; then
  export CARGO_INCREMENTAL=0
fi
free_kib=$(df -Pk . | awk 'NR == 2 {print $4}')
if [[ "$free_kib" =~ ^[0-9]+$ ]] && ((free_kib < 12 * 1024 * 1024)); then
  echo "test.sh: warning: $((free_kib / 1024)) MiB free here; the debug build and its test binaries need about 11 GiB" >&2
fi
if (($# == 0)); then
  set -- --workspace
fi
exec cargo test --no-fail-fast "$@"
