#!/usr/bin/env bash
# infra/deploy/nats/cluster/gen-env.sh — write the environment files of a 3-node cluster
# (node-1.env … node-3.env for node.conf) with fresh random passwords shared by the three.
#
#   gen-env.sh OUT_DIR HOST1 HOST2 HOST3
#       one node per host, standard ports (client 4222, routes 6222, leaf nodes 7422,
#       monitoring 127.0.0.1:8222), store /var/lib/nats/nats-N, listening on 0.0.0.0
#   gen-env.sh --local OUT_DIR [BASE_PORT]
#       all three on 127.0.0.1 (try it on one machine): node N uses ports
#       BASE+N (client), BASE+100+N (routes), BASE+200+N (leaf), BASE+300+N (monitoring);
#       BASE defaults to 14220; stores under OUT_DIR/store/nats-N
#
# Then, per node: set -a; . OUT_DIR/node-N.env; set +a; nats-server -c node.conf
# (or install the file as /etc/nats/nats-N.env for nats-server@nats-N.service).
# Prints the lines the services (/etc/xinfang/xinfang.env) and the county leaf nodes need.
# The files hold passwords: they are created mode 0600.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "gen-env.sh: $*" >&2; exit 2; }

local_mode=0
if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
if [[ ${1:-} == --local ]]; then local_mode=1; shift; fi
out=${1:-}
[[ -n $out ]] || { usage >&2; exit 2; }
shift

# Letters and digits, starting with a letter: nats-server parses a value from the environment
# as if written unquoted in the file, so a leading digit would make it a number.
secret() { printf 'x%s' "$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 31)"; }

declare -a host client cluster leaf monitor store listen
if ((local_mode)); then
  base=${1:-14220}
  if ! [[ $base =~ ^[0-9]+$ ]] || ((base <= 1024 || base + 303 >= 65536)); then
    die "bad BASE_PORT: $base"
  fi
  for n in 1 2 3; do
    host[n]=127.0.0.1 listen[n]=127.0.0.1
    client[n]=$((base + n)) cluster[n]=$((base + 100 + n)) leaf[n]=$((base + 200 + n))
    monitor[n]=127.0.0.1:$((base + 300 + n))
    store[n]=$(mkdir -p "$out/store/nats-$n" && cd "$out/store/nats-$n" && pwd -P)
  done
else
  (($# == 3)) || die "need exactly three hosts (got $#)"
  for n in 1 2 3; do
    h=${!n}
    [[ $h =~ ^[A-Za-z0-9.-]+$ ]] || die "bad host name: $h"
    host[n]=$h listen[n]=0.0.0.0
    client[n]=4222 cluster[n]=6222 leaf[n]=7422 monitor[n]=127.0.0.1:8222
    store[n]=/var/lib/nats/nats-$n
  done
fi

route_pw=$(secret) svc_pw=$(secret) leaf_pw=$(secret) admin_pw=$(secret)
routes=""
hub_urls=""
for n in 1 2 3; do
  routes+="${routes:+, }nats-route://route:$route_pw@${host[n]}:${cluster[n]}"
  hub_urls+="${hub_urls:+, }nats-leaf://leaf_411282:$leaf_pw@${host[n]}:${leaf[n]}"
done

mkdir -p "$out"
umask 077
for n in 1 2 3; do
  cat >"$out/node-$n.env" <<ENV
# node $n of the city's NATS cluster, written by gen-env.sh; secret (mode 0600).
XF_NATS_CONFIG=/etc/nats/cluster/node.conf
XF_NATS_NAME=nats-$n
XF_NATS_HOST=${listen[n]}
XF_NATS_PORT=${client[n]}
XF_NATS_MONITOR=${monitor[n]}
XF_NATS_STORE=${store[n]}
XF_NATS_CLUSTER=xf_city
XF_NATS_CLUSTER_PORT=${cluster[n]}
XF_NATS_ROUTES="[$routes]"
XF_NATS_ROUTE_PASSWORD=$route_pw
XF_NATS_LEAF_PORT=${leaf[n]}
XF_NATS_PASSWORD=$svc_pw
XF_NATS_LEAF_PASSWORD=$leaf_pw
XF_NATS_ADMIN_PASSWORD=$admin_pw
ENV
done

cat <<MSG
wrote $out/node-1.env $out/node-2.env $out/node-3.env

for /etc/xinfang/xinfang.env (the services):
XF__NATS__URL=nats://${host[1]}:${client[1]}
XF__NATS__USER=xinfang
XF__NATS__PASSWORD=$svc_pw

for the county leaf node (infra/deploy/nats/leaf/leaf.env):
XF_NATS_HUB_URLS="[$hub_urls]"
MSG
