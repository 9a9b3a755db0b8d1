#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# infra/local/up.sh — make NATS (with JetStream), Redis and PostgreSQL
# available on 127.0.0.1 for xinfang, and make sure the database exists.
#
# For each server, in this order of preference:
#   1. something already answers on 127.0.0.1:<port> with the right protocol
#      -> it is used as it is: never stopped, restarted or reconfigured;
#   2. otherwise the Debian package is installed if its binary is missing
#      (one `apt-get update` + one `apt-get install` per run, sudo if not root)
#      and the server is started with its data under $XF_INFRA_DIR/<server>/,
#      listening on 127.0.0.1 only, and recorded in $XF_INFRA_DIR/started so
#      that infra/local/down.sh stops it (and only it) later.
# Then database $XF_DB_NAME is created in PostgreSQL if missing.
#
# Idempotent: a second run finds everything answering and changes nothing.
#
# Configuration (environment; defaults may be set in infra/local/ports.env):
#   XF_PG_PORT (5432)  XF_REDIS_PORT (6379)  XF_NATS_PORT (4222)
#   XF_DB_NAME (xinfang)  XF_INFRA_DIR (<repo>/.xf/infra; relative = repo-relative)
#
# stdout: one summary line per server; progress and errors go to stderr.
# See infra/local/README.md.
set -euo pipefail

XF_PROG=up.sh
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
(($# == 0)) || xf_die "unexpected arguments: $* (configuration is by environment; see --help)"

xf_load_config
mkdir -p "$XF_INFRA_DIR" || xf_die "cannot create XF_INFRA_DIR=$XF_INFRA_DIR"
XF_INFRA_DIR=$(cd "$XF_INFRA_DIR" && pwd -P)
XF_STARTED_FILE="$XF_INFRA_DIR/started"
xf_lock

declare -A PORT=([postgres]=$XF_PG_PORT [redis]=$XF_REDIS_PORT [nats]=$XF_NATS_PORT)
declare -A SUMMARY=()

# Forget started-file entries whose process is gone (machine restarted,
# killed by hand, ...): a server we did not start is never ours to stop.
prune_started() {
  local name pid port dir comm
  for name in postgres redis nats; do
    IFS=$'\t' read -r pid port dir <<<"$(xf_started_get "$name")" || true
    [[ -n ${pid:-} ]] || continue
    comm=$(xf_comm_of "$name")
    if ! xf_pid_is "$pid" "$comm"; then
      xf_log "$name (pid $pid, port $port) recorded in $XF_STARTED_FILE is gone; forgetting it"
      xf_started_del "$name"
    fi
  done
}

# "already running" summary, noting when the server is one we started earlier.
already_running() {
  local name=$1 extra=${2:-} pid port dir
  IFS=$'\t' read -r pid port dir <<<"$(xf_started_get "$name")" || true
  if [[ -n ${pid:-} && $port == "${PORT[$name]}" ]]; then
    extra+="; started earlier by xinfang, pid $pid, data in $dir"
  fi
  SUMMARY[$name]="$name 127.0.0.1:${PORT[$name]} (already running$extra)"
}

# Refuse to start a second copy on another port over the same data directory.
check_no_other_instance() {
  local name=$1 pid port dir
  IFS=$'\t' read -r pid port dir <<<"$(xf_started_get "$name")" || true
  if [[ -n ${pid:-} && $port != "${PORT[$name]}" ]]; then
    xf_die "$name from $XF_INFRA_DIR is already running on port $port (pid $pid, started by xinfang), but the configured port is ${PORT[$name]}: run infra/local/down.sh first, or use port $port"
  fi
}

# Wait up to $1 seconds for the command "$2..." to succeed.
wait_for() {
  local secs=$1
  shift
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# --- protocol probes (work without any client installed) -------------------

# Connect to 127.0.0.1:$1, send $2 (if any), print the first line received
# without its CR. No client program needed.
tcp_first_line() {
  local line
  # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash
  line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 2
    if [[ -n $2 ]]; then printf "%s" "$2" >&3; fi
    IFS= read -r -t 2 line <&3 || exit 3
    printf "%s\n" "$line"' _ "$1" "${2:-}" 2>/dev/null) || return 1
  printf '%s\n' "${line%$'\r'}"
}

# NATS greets every client with "INFO {json}".
nats_info() { tcp_first_line "$1"; }
nats_has_jetstream() { [[ "$(nats_info "$1")" == INFO*'"jetstream":true'* ]]; }

# Redis reply to an inline PING ("+PONG", or "-NOAUTH ..." if it wants AUTH).
redis_ping() { tcp_first_line "$1" $'PING\r\n'; }
redis_pongs() { [[ "$(redis_ping "$1")" == +PONG ]]; }

# --- PostgreSQL binaries ------------------------------------------------------

# Server bin dir: the version of an existing data dir if it has one, else the
# highest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl.
pg_server_bin() {
  local data=$1 d best="" v bestv=0
  if [[ -f "$data/PG_VERSION" ]]; then
    v=$(<"$data/PG_VERSION")
    d="/usr/lib/postgresql/$v/bin"
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
      echo "$d"
      return 0
    fi
    xf_die "$data was made by PostgreSQL $v, whose server binaries ($d) are not installed"
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] || continue
    v=$(basename "$(dirname "$d")")
    [[ $v =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best=$d
    fi
  done
  [[ -n $best ]] || return 1
  echo "$best"
}

# A client program (psql, pg_isready): highest versioned one, else PATH.
pg_client() {
  local prog=$1 d best="" v bestv=0
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/$prog" ]] || continue
    v=$(basename "$(dirname "$d")")
    [[ $v =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best="$d/$prog"
    fi
  done
  if [[ -z $best ]]; then
    best=$(xf_find_bin "$prog") || return 1
  fi
  echo "$best"
}

have_pg_clients() { pg_client psql >/dev/null && pg_client pg_isready >/dev/null; }

# --- packages -------------------------------------------------------------------

APT_RAN=0
apt_install() {
  (($# > 0)) || return 0
  ((APT_RAN == 0)) || xf_die "internal error: apt would run twice"
  APT_RAN=1
  command -v apt-get >/dev/null 2>&1 || xf_die "missing packages ($*) and no apt-get here: install them yourself"
  local -a sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || xf_die "need root or sudo to install Debian packages: $*"
    sudo=(sudo)
  fi
  local log="$XF_INFRA_DIR/apt.log"
  xf_log "installing Debian packages: $* (full output in $log)"
  xf_log "  apt-get update ..."
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update </dev/null >"$log" 2>&1 9>&-; then
    xf_tail "$log"
    xf_die "apt-get update failed"
  fi
  xf_log "  apt-get install -y --no-install-recommends $* ..."
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$@" </dev/null >>"$log" 2>&1 9>&-; then
    xf_tail "$log"
    xf_die "apt-get install $* failed"
  fi
  xf_log "  installed: $*"
}

# --- PostgreSQL --------------------------------------------------------------

PG_AS=() # command prefix that runs a program as the PostgreSQL OS user
as_pg() { (cd / && "${PG_AS[@]}" "$@"); }

# When running as root, PostgreSQL runs as the `postgres` OS user, which must
# be able to reach $XF_INFRA_DIR/postgres. We own nothing above XF_INFRA_DIR,
# so the least intrusive fix is applied to exactly the ancestors that need it:
# `chmod o+x` (search only: names inside can still not be listed). Nothing is
# changed when the path is already traversable (e.g. under /tmp, /work).
make_traversable() {
  local user=$1 target=$2 d
  local -a chain=()
  d=$target
  while [[ $d != / ]]; do
    d=$(dirname "$d")
    chain=("$d" "${chain[@]}")
  done
  for d in "${chain[@]}"; do
    if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
      chmod o+x "$d" || xf_die "cannot make $d traversable for the $user user; set XF_INFRA_DIR elsewhere"
      xf_log "note: chmod o+x $d (search only, no listing) so that the $user user can reach $target"
    fi
  done
  runuser -u "$user" -- test -w "$target" 2>/dev/null ||
    xf_die "the $user user cannot write to $target; set XF_INFRA_DIR elsewhere"
}

# Something answers on the port: use it if it is PostgreSQL, else stop here.
use_existing_postgres() {
  local port=${PORT[postgres]} isready rc
  isready=$(pg_client pg_isready) || xf_die "pg_isready not found (package postgresql-client)"
  rc=0
  "$isready" -q -h 127.0.0.1 -p "$port" -t 5 || rc=$?
  if ((rc == 1)); then
    xf_log "postgres on 127.0.0.1:$port is starting or stopping; waiting up to 30 s"
    wait_for 30 "$isready" -q -h 127.0.0.1 -p "$port" -t 5 ||
      xf_die "PostgreSQL on 127.0.0.1:$port keeps rejecting connections; it was not started by xinfang, so it is left alone"
  elif ((rc != 0)); then
    xf_die "127.0.0.1:$port is in use by something that is not PostgreSQL (pg_isready exit $rc); it is left alone: choose another XF_PG_PORT"
  fi
  already_running postgres
}

start_postgres() {
  local port=${PORT[postgres]}
  local pgdir="$XF_INFRA_DIR/postgres"
  local data="$pgdir/data" sock="$pgdir/run" log="$pgdir/postgres.log" bin ver
  bin=$(pg_server_bin "$data") || xf_die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
  ver=$(basename "$(dirname "$bin")")

  mkdir -p "$pgdir"
  if ((EUID == 0)); then
    getent passwd postgres >/dev/null || xf_die "running as root, but there is no 'postgres' OS user to run PostgreSQL as"
    PG_AS=(runuser -u postgres --)
    chown postgres:postgres "$pgdir"
    chmod 700 "$pgdir"
    make_traversable postgres "$pgdir"
  else
    chmod 700 "$pgdir"
  fi
  as_pg mkdir -p "$sock"

  if [[ ! -f "$data/PG_VERSION" ]]; then
    if [[ -d "$data" && -n "$(ls -A "$data" 2>/dev/null)" ]]; then
      xf_die "$data is not empty but holds no PostgreSQL cluster; move it away and run again"
    fi
    xf_log "initialising a PostgreSQL $ver cluster in $data"
    if ! as_pg "$bin/initdb" -D "$data" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 \
      </dev/null >"$pgdir/initdb.log" 2>&1; then
      xf_tail "$pgdir/initdb.log"
      xf_die "initdb failed"
    fi
  fi

  # Unix socket in the private run/ dir, unless the path is too long for a
  # socket address (107 bytes with "/.s.PGSQL.<port>"): then TCP only.
  local sockopt
  if ((${#sock} + 16 <= 107)); then
    sockopt="'$sock'"
  else
    sockopt="''"
    xf_log "note: $sock is too long for a Unix socket; PostgreSQL listens on TCP only"
  fi
  xf_log "starting PostgreSQL $ver on 127.0.0.1:$port (data in $data)"
  if ! as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $sockopt" start \
    </dev/null >"$pgdir/pg_ctl.out" 2>&1 9>&-; then
    xf_tail "$pgdir/pg_ctl.out"
    xf_tail "$log"
    xf_die "PostgreSQL did not start on 127.0.0.1:$port"
  fi
  local pid
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || true
  xf_pid_is "$pid" postgres || xf_die "PostgreSQL started but $data/postmaster.pid names no running postgres (pid '$pid')"
  xf_started_put postgres "$pid" "$port" "$data"
  STARTED_NOW+=(postgres)
  SUMMARY[postgres]="postgres 127.0.0.1:$port (started by xinfang, data in $data)"
}

ensure_database() {
  local port=${PORT[postgres]} psql out exists
  psql=$(pg_client psql) || xf_die "psql not found (package postgresql-client)"
  local -a cmd=("$psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -v "db=$XF_DB_NAME")
  export PGCONNECT_TIMEOUT=10
  if ! out=$(printf '%s\n' "SELECT count(*) FROM pg_database WHERE datname = :'db';" | "${cmd[@]}" 2>&1); then
    xf_die "cannot query PostgreSQL on 127.0.0.1:$port as user postgres (set PGPASSWORD if it needs one): $out"
  fi
  exists=$out
  if [[ $exists == 0 ]]; then
    if ! out=$(printf '%s\n' 'CREATE DATABASE :"db";' | "${cmd[@]}" 2>&1); then
      # Lost a race with a concurrent creator? Then all is well.
      exists=$(printf '%s\n' "SELECT count(*) FROM pg_database WHERE datname = :'db';" | "${cmd[@]}" 2>/dev/null) || true
      [[ $exists == 1 ]] || xf_die "cannot create database \"$XF_DB_NAME\" on 127.0.0.1:$port: $out"
    fi
    xf_log "created database \"$XF_DB_NAME\" on 127.0.0.1:$port"
  elif [[ $exists == 1 ]]; then
    xf_log "database \"$XF_DB_NAME\" exists on 127.0.0.1:$port"
  else
    xf_die "unexpected answer from PostgreSQL on 127.0.0.1:$port: $exists"
  fi
}

# --- Redis -----------------------------------------------------------------------

use_existing_redis() {
  local port=${PORT[redis]} reply
  reply=$(redis_ping "$port") || true
  case $reply in
    +PONG) already_running redis ;;
    -NOAUTH* | -NOPERM*) already_running redis "; it requires AUTH" ;;
    *) xf_die "127.0.0.1:$port is in use by something that does not answer a Redis PING (got '${reply:0:60}'); it is left alone: choose another XF_REDIS_PORT" ;;
  esac
}

start_redis() {
  local port=${PORT[redis]}
  local dir="$XF_INFRA_DIR/redis" bin
  bin=$(xf_find_bin redis-server) || xf_die "redis-server not found (package redis-server)"
  mkdir -p "$dir"
  rm -f "$dir/redis.pid"
  xf_log "starting Redis on 127.0.0.1:$port (data in $dir)"
  # --daemonize: redis forks, detaches (setsid) and points stdio at /dev/null.
  if ! "$bin" --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no \
    </dev/null >"$dir/redis.start.out" 2>&1 9>&-; then
    xf_tail "$dir/redis.start.out"
    xf_tail "$dir/redis.log"
    xf_die "redis-server failed to start on 127.0.0.1:$port"
  fi
  if ! wait_for 30 redis_pongs "$port"; then
    xf_tail "$dir/redis.start.out"
    xf_tail "$dir/redis.log"
    xf_die "Redis did not answer PING on 127.0.0.1:$port within 30 s"
  fi
  local pid=""
  wait_for 5 test -s "$dir/redis.pid" || true
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || true
  xf_pid_is "$pid" redis-server || xf_die "Redis answers on 127.0.0.1:$port but $dir/redis.pid names no running redis-server (pid '$pid')"
  xf_started_put redis "$pid" "$port" "$dir"
  STARTED_NOW+=(redis)
  SUMMARY[redis]="redis 127.0.0.1:$port (started by xinfang, data in $dir)"
}

# --- NATS ------------------------------------------------------------------------

use_existing_nats() {
  local port=${PORT[nats]} info
  info=$(nats_info "$port") || true
  [[ $info == INFO\ * ]] ||
    xf_die "127.0.0.1:$port is in use by something that is not NATS (no INFO line); it is left alone: choose another XF_NATS_PORT"
  [[ $info == *'"jetstream":true'* ]] ||
    xf_die "NATS on 127.0.0.1:$port answers but has JetStream disabled, which xinfang needs; it was not started by xinfang, so it is left as it is: enable JetStream there (-js) or choose another XF_NATS_PORT"
  already_running nats
}

start_nats() {
  local port=${PORT[nats]}
  local dir="$XF_INFRA_DIR/nats" bin
  bin=$(xf_find_bin nats-server) || xf_die "nats-server not found (package nats-server)"
  mkdir -p "$dir/store"
  rm -f "$dir/nats.pid"
  xf_log "starting NATS with JetStream on 127.0.0.1:$port (data in $dir)"
  local -a detach=()
  if command -v setsid >/dev/null 2>&1; then detach=(setsid); fi
  # Own session, stdio away from the caller (so a caller reading our output
  # does not wait for the server), pid file written by nats-server itself.
  nohup "${detach[@]}" "$bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/store" -P "$dir/nats.pid" \
    </dev/null >>"$dir/nats.log" 2>&1 9>&- &
  local launched=$!
  local deadline=$((SECONDS + 30))
  until nats_has_jetstream "$port"; do
    if ! kill -0 "$launched" 2>/dev/null && ! xf_port_open "$port"; then
      xf_tail "$dir/nats.log"
      xf_die "nats-server exited before answering on 127.0.0.1:$port"
    fi
    if ((SECONDS >= deadline)); then
      xf_tail "$dir/nats.log"
      xf_die "NATS with JetStream did not come up on 127.0.0.1:$port within 30 s (log: $dir/nats.log)"
    fi
    sleep 0.2
  done
  local pid=""
  wait_for 5 test -s "$dir/nats.pid" || true
  pid=$(cat "$dir/nats.pid" 2>/dev/null) || pid=$launched
  xf_pid_is "$pid" nats-server || xf_die "NATS answers on 127.0.0.1:$port but pid '$pid' is no running nats-server"
  xf_started_put nats "$pid" "$port" "$dir"
  STARTED_NOW+=(nats)
  SUMMARY[nats]="nats 127.0.0.1:$port (started by xinfang, data in $dir)"
}

# --- main --------------------------------------------------------------------------

# If this run fails half-way, say what it left running.
STARTED_NOW=()
on_exit() {
  local rc=$?
  if ((rc != 0 && ${#STARTED_NOW[@]} > 0)); then
    xf_log "started by this run and left running: ${STARTED_NOW[*]} (infra/local/down.sh stops them)"
  fi
}
trap on_exit EXIT

prune_started

# 1) What answers already? Everything that answers is checked before anything
#    is installed or started, so a wrong server on a port stops us early.
declare -A OPEN=()
for name in postgres redis nats; do
  if xf_port_open "${PORT[$name]}"; then
    OPEN[$name]=1
  else
    OPEN[$name]=0
    check_no_other_instance "$name"
  fi
done
if ((OPEN[redis])); then use_existing_redis; fi
if ((OPEN[nats])); then use_existing_nats; fi

# 2) Packages still needed, all installed in a single apt run.
pkgs=()
if ((OPEN[postgres])); then
  have_pg_clients || pkgs+=(postgresql-client)
elif ! pg_server_bin "$XF_INFRA_DIR/postgres/data" >/dev/null || ! have_pg_clients; then
  pkgs+=(postgresql)
fi
if ((!OPEN[redis])) && ! xf_find_bin redis-server >/dev/null; then
  pkgs+=(redis-server)
fi
if ((!OPEN[nats])) && ! xf_find_bin nats-server >/dev/null; then
  pkgs+=(nats-server)
fi
apt_install "${pkgs[@]}"
if ((OPEN[postgres])); then use_existing_postgres; fi

# 3) Start what is missing. A package's own service may have come up on the
#    configured port during the install: then it is used like any other.
for name in postgres redis nats; do
  ((OPEN[$name])) && continue
  if xf_port_open "${PORT[$name]}"; then
    "use_existing_$name"
  else
    "start_$name"
  fi
done

# 4) The database.
ensure_database

for name in postgres redis nats; do
  printf '%s\n' "${SUMMARY[$name]}"
done
