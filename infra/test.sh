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
if (($# == 0)); then
  set -- --workspace
fi
exec cargo test --no-fail-fast "$@"
