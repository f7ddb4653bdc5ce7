#!/bin/sh
# Create the example 3-master / 3-replica cluster on one box (ports PORT_BASE+1 … PORT_BASE+6,
# 7001-7006 by default) from redis-7001.conf. In production run one node per machine and list
# their addresses instead.
#   sh deploy/redis/cluster/create-cluster.sh [DIR]          (PORT_BASE=7000 by default)
# Stop them with: REDISCLI_AUTH=<password in DIR/citywifi-auth.conf> redis-cli -p PORT shutdown
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
BASE="${1:-/var/lib/redis-cluster}"
PORT_BASE="${PORT_BASE:-7000}"
NODES=""
# The cluster's password (requirepass + masterauth), made once, readable by its owner only.
AUTH="$BASE/citywifi-auth.conf"
mkdir -p "$BASE"
if [ ! -f "$AUTH" ]; then
    pass="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    (umask 077 && printf 'requirepass %s\nmasterauth %s\n' "$pass" "$pass" > "$AUTH")
fi
REDISCLI_AUTH="$(sed -n 's/^requirepass //p' "$AUTH")"
export REDISCLI_AUTH      # redis-cli authenticates without the password on its command line
for i in 1 2 3 4 5 6; do
    port=$((PORT_BASE + i))
    mkdir -p "$BASE/$port"
    sed -e "s/7001/$port/g" -e "s#/var/lib/redis-cluster#$BASE#" "$HERE/redis-7001.conf" > "$BASE/$port/redis.conf"
    redis-server "$BASE/$port/redis.conf" --daemonize yes --logfile "$BASE/$port/redis.log" \
        --pidfile "$BASE/$port/redis.pid"
    NODES="$NODES 127.0.0.1:$port"
done
for i in 1 2 3 4 5 6; do   # wait until every node answers
    n=0
    until redis-cli -p $((PORT_BASE + i)) ping >/dev/null 2>&1; do
        n=$((n + 1)); [ "$n" -lt 100 ] || { echo "node $((PORT_BASE + i)) did not start" >&2; exit 1; }
        sleep 0.1
    done
done
# --cluster-replicas 1: the first three become masters (slots 0-16383 split in three), the
# last three their replicas.
# shellcheck disable=SC2086
redis-cli --cluster create $NODES --cluster-replicas 1 --cluster-yes
# citywifi.toml (the URL with its password in /etc/citywifi/citywifi.env, CITYWIFI_REDIS_URL):
#   [redis]
#   url = "redis://:<password from citywifi-auth.conf>@127.0.0.1:7001/0"   # any node
#   cluster = true
