#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# infra/local/down.sh — stop the servers that infra/local/up.sh started.
#
# Only servers recorded in $XF_INFRA_DIR/started are stopped, and only if the
# recorded pid still is that server's process; anything else listening on the
# configured ports (the machine's own PostgreSQL, Redis, NATS, ...) is never
# touched. Data stays in $XF_INFRA_DIR, so a later up.sh starts the same data.
# Idempotent: with nothing (left) to stop it says so and exits 0.
#
# Configuration: XF_INFRA_DIR as for up.sh (environment, infra/local/ports.env,
# default <repo>/.xf/infra). Exit status is non-zero only if a server that
# up.sh started could not be stopped.
set -euo pipefail

XF_PROG=down.sh
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
(($# == 0)) || xf_die "unexpected arguments: $* (configuration is by environment; see --help)"

xf_load_config
if [[ ! -s "$XF_STARTED_FILE" ]]; then
  echo "nothing started by xinfang is recorded in $XF_INFRA_DIR"
  exit 0
fi
XF_INFRA_DIR=$(cd "$XF_INFRA_DIR" && pwd -P)
XF_STARTED_FILE="$XF_INFRA_DIR/started"
xf_lock

# Wait up to $2 seconds for pid $1 (with comm $3) to be gone.
wait_gone() {
  local pid=$1 secs=$2 comm=$3
  local deadline=$((SECONDS + secs))
  while xf_pid_is "$pid" "$comm"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Stop one server: a clean shutdown signal first, a harder one if it hangs.
#   postgres: SIGINT = "fast" shutdown, then SIGQUIT = "immediate"
#   redis, nats: SIGTERM, then SIGKILL
stop_server() {
  local name=$1 pid=$2 comm soft hard
  comm=$(xf_comm_of "$name")
  case $name in
    postgres) soft=INT hard=QUIT ;;
    *) soft=TERM hard=KILL ;;
  esac
  kill -s "$soft" "$pid" 2>/dev/null || true
  wait_gone "$pid" 30 "$comm" && return 0
  xf_log "$name (pid $pid) still running 30 s after SIG$soft; sending SIG$hard"
  kill -s "$hard" "$pid" 2>/dev/null || true
  wait_gone "$pid" 15 "$comm"
}

failed=0
# Reverse start order: the message bus and cache before the database.
for name in nats redis postgres; do
  IFS=$'\t' read -r pid port dir <<<"$(xf_started_get "$name")" || true
  [[ -n ${pid:-} ]] || continue
  if ! xf_pid_is "$pid" "$(xf_comm_of "$name")"; then
    echo "$name 127.0.0.1:$port (was not running any more; forgotten)"
    xf_started_del "$name"
    continue
  fi
  xf_log "stopping $name on 127.0.0.1:$port (pid $pid)"
  if stop_server "$name" "$pid"; then
    xf_started_del "$name"
    echo "$name 127.0.0.1:$port (stopped; data kept in $dir)"
  else
    echo "$name 127.0.0.1:$port (pid $pid) could not be stopped" >&2
    failed=1
  fi
done

# Entries for servers this script does not know: report, keep.
if [[ -s "$XF_STARTED_FILE" ]]; then
  while IFS=$'\t' read -r name pid port dir; do
    case $name in
      postgres | redis | nats) ;;
      *) xf_log "warning: unknown entry '$name' in $XF_STARTED_FILE left as it is" ;;
    esac
  done <"$XF_STARTED_FILE"
fi
exit "$failed"
