# shellcheck shell=bash source-path=SCRIPTDIR
# Shared by infra/local/up.sh and infra/local/down.sh: configuration and small
# helpers. Sourced, never run. The caller sets XF_PROG and `set -euo pipefail`.

XF_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
XF_LOCAL_DIR="$XF_REPO_ROOT/infra/local"
# nats-server lives in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

xf_log() { printf '%s: %s\n' "${XF_PROG:?}" "$*" >&2; }
xf_die() {
  printf '%s: error: %s\n' "$XF_PROG" "$*" >&2
  exit 1
}

# Print the last lines of a log file to stderr, indented.
xf_tail() {
  local file=$1
  if [[ -s "$file" ]]; then
    printf '%s: --- last lines of %s ---\n' "$XF_PROG" "$file" >&2
    tail -n "${2:-20}" "$file" | sed 's/^/    /' >&2
  fi
}

# Configuration: a non-empty environment variable wins over ports.env, which
# wins over the built-in default.
xf_load_config() {
  local v
  local -A from_env=()
  for v in XF_PG_PORT XF_REDIS_PORT XF_NATS_PORT XF_DB_NAME XF_INFRA_DIR; do
    if [[ -n "${!v:-}" ]]; then
      from_env[$v]=${!v}
    fi
  done
  if [[ -f "$XF_LOCAL_DIR/ports.env" ]]; then
    # shellcheck source=ports.env
    source "$XF_LOCAL_DIR/ports.env"
  fi
  for v in "${!from_env[@]}"; do
    printf -v "$v" '%s' "${from_env[$v]}"
  done

  XF_PG_PORT=${XF_PG_PORT:-5432}
  XF_REDIS_PORT=${XF_REDIS_PORT:-6379}
  XF_NATS_PORT=${XF_NATS_PORT:-4222}
  XF_DB_NAME=${XF_DB_NAME:-xinfang}
  XF_INFRA_DIR=${XF_INFRA_DIR:-$XF_REPO_ROOT/.xf/infra}

  for v in XF_PG_PORT XF_REDIS_PORT XF_NATS_PORT; do
    if ! [[ ${!v} =~ ^[0-9]{1,5}$ ]] || ((10#${!v} < 1 || 10#${!v} > 65535)); then
      xf_die "$v=${!v} is not a TCP port (1-65535)"
    fi
    printf -v "$v" '%d' "$((10#${!v}))"
  done
  if ((XF_PG_PORT == XF_REDIS_PORT || XF_PG_PORT == XF_NATS_PORT || XF_REDIS_PORT == XF_NATS_PORT)); then
    xf_die "XF_PG_PORT, XF_REDIS_PORT and XF_NATS_PORT must differ ($XF_PG_PORT, $XF_REDIS_PORT, $XF_NATS_PORT)"
  fi

  if [[ $XF_INFRA_DIR != /* ]]; then
    XF_INFRA_DIR="$XF_REPO_ROOT/$XF_INFRA_DIR"
  fi
  # The path ends up in server command lines (pg_ctl runs its -o string through
  # /bin/sh, redis-server turns arguments into config lines): keep it plain.
  local bad=$'[[:space:]"\'\\\\$`]'
  if [[ $XF_INFRA_DIR =~ $bad ]]; then
    xf_die "XF_INFRA_DIR must not contain whitespace, quotes, backslashes, \$ or backticks: '$XF_INFRA_DIR'"
  fi
  while [[ $XF_INFRA_DIR == */ && $XF_INFRA_DIR != / ]]; do
    XF_INFRA_DIR=${XF_INFRA_DIR%/}
  done
  XF_STARTED_FILE="$XF_INFRA_DIR/started"
}

# Serialise up.sh/down.sh runs on one XF_INFRA_DIR. The lock is fd 9: every
# command that may leave a daemon behind is run with `9>&-` so that the daemon
# does not inherit (and hold) the lock.
xf_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>>"$XF_INFRA_DIR/.lock"
  if ! flock -w 600 9; then
    xf_die "another up.sh/down.sh has held $XF_INFRA_DIR/.lock for 10 minutes; giving up"
  fi
}

# The kernel's name (comm) of each server's main process.
xf_comm_of() {
  case $1 in
    postgres) echo postgres ;;
    redis) echo redis-server ;;
    nats) echo nats-server ;;
    *) return 1 ;;
  esac
}

# True if pid is alive (not a zombie) and its comm is the expected one, so a
# recycled pid is never mistaken for a server of ours.
xf_pid_is() {
  local pid=$1 comm=$2 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Path of an executable program on PATH. Unlike `command -v`, never answers a
# file that exists but cannot be executed.
xf_find_bin() {
  local d
  local -a dirs
  IFS=: read -ra dirs <<<"$PATH"
  for d in "${dirs[@]}"; do
    if [[ -n $d && -f "$d/$1" && -x "$d/$1" ]]; then
      printf '%s\n' "$d/$1"
      return 0
    fi
  done
  return 1
}

# True if something accepts TCP connections on 127.0.0.1:port.
xf_port_open() {
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" >/dev/null 2>&1
}

# --- the started file -------------------------------------------------------
# $XF_INFRA_DIR/started has one line per server that up.sh started and that
# has not been stopped by down.sh since, tab-separated:
#   <server> <pid> <port> <data dir>
# where <server> is postgres, redis or nats. down.sh stops only these.

# Print "pid<TAB>port<TAB>dir" for a server, or nothing.
xf_started_get() {
  [[ -f "$XF_STARTED_FILE" ]] || return 0
  awk -F '\t' -v n="$1" '$1 == n { print $2 "\t" $3 "\t" $4; exit }' "$XF_STARTED_FILE"
}

xf_started_del() {
  [[ -f "$XF_STARTED_FILE" ]] || return 0
  local tmp="$XF_STARTED_FILE.tmp.$$"
  awk -F '\t' -v n="$1" '$1 != n' "$XF_STARTED_FILE" >"$tmp"
  if [[ -s "$tmp" ]]; then
    mv -f "$tmp" "$XF_STARTED_FILE"
  else
    rm -f "$tmp" "$XF_STARTED_FILE"
  fi
}

xf_started_put() {
  local name=$1 pid=$2 port=$3 dir=$4
  xf_started_del "$name"
  printf '%s\t%s\t%s\t%s\n' "$name" "$pid" "$port" "$dir" >>"$XF_STARTED_FILE"
}
