#!/bin/sh
# Create the example 3-master / 3-replica cluster on one box (ports 7001-7006) from
# redis-7001.conf. In production run one node per machine and list their addresses instead.
#   sh deploy/redis/cluster/create-cluster.sh [DIR]
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
BASE="${1:-/var/lib/redis-cluster}"
for port in 7001 7002 7003 7004 7005 7006; do
    mkdir -p "$BASE/$port"
    sed -e "s/7001/$port/g" -e "s#/var/lib/redis-cluster#$BASE#" "$HERE/redis-7001.conf" > "$BASE/$port/redis.conf"
    redis-server "$BASE/$port/redis.conf" --daemonize yes --logfile "$BASE/$port/redis.log"
done
sleep 1
# --cluster-replicas 1: the first three become masters (slots 0-16383 split in three), the
# last three their replicas.
redis-cli --cluster create \
    127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 \
    127.0.0.1:7004 127.0.0.1:7005 127.0.0.1:7006 \
    --cluster-replicas 1 --cluster-yes
# citywifi.toml:
#   [redis]
#   url = "redis://127.0.0.1:7001/0"   # any node; the client discovers the others
#   cluster = true
