#!/usr/bin/env bash
# infra/demo.sh — bring up the whole system with the bundled Sanmenxia (三门峡) demo
# configuration (config/default.toml): NATS, Redis and PostgreSQL (installed and started if
# missing), then all five services in one process, serving the API on 127.0.0.1:8080.
# Stop with Ctrl-C. Ports and URLs: config/default.toml, infra/local/ports.env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> infrastructure (infra/local/up.sh)"
infra/local/up.sh
echo "==> toolchain"
infra/toolchain.sh
[[ -d "$HOME/.cargo/bin" ]] && export PATH="$HOME/.cargo/bin:$PATH"
echo "==> building xinfang (a first build takes a few minutes)"
cargo build --bin xinfang
echo "==> starting the services"
# The demo (and only the demo) prints a city clerk token with the first-petition command.
export XF__SECURITY__DEMO_TOKEN=true
exec target/debug/xinfang up
