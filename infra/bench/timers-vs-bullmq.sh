#!/usr/bin/env bash
# Side by side: xinfang's timer loop (`xinfang bench timers`) and BullMQ delayed jobs, same N,
# same due window and lead, same Redis, one after the other. Prints both reports, both JSON
# lines and the ratios.
#
#   infra/bench/timers-vs-bullmq.sh [--n N] [--window-ms W] [--lead-ms L]
#
# Uses target/release/xinfang when it has `bench timers`, else the supervision crate's
# `bench_timers` example (same library function), built in release mode.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
n=100000
window=""
lead=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) n="$2"; shift 2 ;;
    --window-ms) window="$2"; shift 2 ;;
    --lead-ms) lead="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "--n must be a positive integer" >&2; exit 2; }
# The defaults both programs use, made explicit so they surely match.
window="${window:-$(( n / 50 > 1000 ? n / 50 : 1000 ))}"
lead="${lead:-$(( 1000 + n / 20 ))}"
common=(--n "$n" --window-ms "$window" --lead-ms "$lead")

cd "$root"
ours=()
if [[ -x target/release/xinfang ]] && target/release/xinfang bench timers --help 2>&1 | grep -q -- "--n"; then
  ours=(target/release/xinfang bench timers)
else
  cargo build --release -q -p xinfang-supervision --example bench_timers
  ours=(target/release/examples/bench_timers)
fi

bull="$root/infra/bench/bullmq"
if [[ ! -d "$bull/node_modules/bullmq" ]]; then
  (cd "$bull" && npm ci --no-audit --no-fund --silent)
fi

echo "== xinfang timers"
ours_out="$("${ours[@]}" "${common[@]}" --json)"
echo "$ours_out"
echo "== bullmq $(node -p "require('$bull/node_modules/bullmq/package.json').version")"
bull_out="$(node "$bull/bench.js" "${common[@]}" --json)"
echo "$bull_out"

ours_json="$(tail -n 1 <<<"$ours_out")"
bull_json="$(tail -n 1 <<<"$bull_out")"
echo "== ratio (xinfang / bullmq)"
# shellcheck disable=SC2016 # the JavaScript is meant literally
node -e '
const a = JSON.parse(process.argv[1]), b = JSON.parse(process.argv[2]);
const r = (k) => (a[k] / b[k]).toFixed(2);
console.log(`schedule ${r("schedule_per_second")}x, fire ${r("fire_per_second")}x, lag p99 ${a.lag_p99_ms} ms vs ${b.lag_p99_ms} ms, fired_once ${a.fired_once}/${b.fired_once}`);
console.log(JSON.stringify({xinfang: a, bullmq: b}));
' "$ours_json" "$bull_json"
