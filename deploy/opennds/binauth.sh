#!/bin/sh
# citywifi BinAuth script for openNDS 9.x (FAS level 1). Install on the gateway, e.g. as
# /usr/lib/opennds/citywifi-binauth.sh (chmod 755), and set `binauth` to its path.
# Guide: docs/integration/opennds.md.
#
# 1. Grant (`auth_client`). openNDS passes: $2 client MAC, $3 redir, $4 user agent, $5 client IP,
# $6 the client's token, $7 the `custom` value of the grant URL (URL-encoded). citywifi puts the
# plan's limits there, signed with the faskey and bound to this client's hid = sha256(token):
#     cw1.<session seconds>.<up kbit/s>.<down kbit/s>.<up quota kB>.<down quota kB>.<signature>
#     signature = sha256hex(faskey ":" sha256hex(faskey ":" body ":" hid)), body = the first six fields
# The custom value reaches us through the phone's browser, so an unsigned or edited one is
# refused (exit 1: openNDS denies the client). openNDS reads our stdout as
#     <session seconds> <upload kbit/s> <download kbit/s> <upload quota kB> <download quota kB>
# (SECONDS here; ndsctl/authmon take minutes), 0 = no limit.
#
# 2. Session events (client_auth, ndsctl_auth, client_deauth, idle_deauth, timeout_deauth,
# downquota_deauth, upquota_deauth, ndsctl_deauth, shutdown_deauth). openNDS passes: $2 client
# MAC, $3 bytes to the client, $4 bytes from it, $5 session start, $6 session end (epoch), $7 the
# client's token, $8 custom. They are posted, in the background (openNDS waits for this script
# with its client list locked), to citywifi's POST /api/gateway/opennds/events as
#     v=1&gw=<name>&ev=<method>&mac=<mac>&hid=<sha256(token)>&in=<bytes>&out=<bytes>
#     &start=<epoch>&end=<epoch>&nonce=<random, the event's identity>&ts=<now, at each sending>
# signed with the gateway's hook secret (its registry record's `secret`, NOT the faskey):
#     X-Citywifi-Signature: v1=<hex HMAC-SHA256(secret, body)>
# Three tries; an answer of 2xx, 404 (client not ours), 409 (already applied), 400 or 413
# (malformed: sending it again cannot help) ends them.
#
# 3. The spool. Each event is first written to a file in $CITYWIFI_SPOOL_DIR (default
# /etc/citywifi/binauth-spool: on OpenWrt /etc is the flash overlay, so the spool survives a
# reboot or power cut; each event costs a few small flash writes, see the guide for the
# trade-off and a RAM path such as /tmp/citywifi-binauth-spool) before the script returns, and
# removed once delivered; one sender at a time (its lock in RAM, $CITYWIFI_SPOOL_LOCK, default
# under /tmp, so a reboot never leaves a dead sender's lock behind) sends the spool oldest
# first and stops at the first event that fails its three tries, so an outage of the portal
# loses nothing: whatever is left goes with the next event, or with `binauth.sh flush` (run it
# from cron, e.g. every 5 minutes; that also sends what a reboot left). A resent event
# keeps its nonce and gets a fresh ts, so the portal applies it if it never arrived and answers
# 409 if it did. Bounded: at most $CITYWIFI_SPOOL_MAX events (default 500, ~300 bytes each; the
# oldest goes first) and none older than 86400 s (the portal remembers nonces that long).
#
# Settings: the faskey from $CITYWIFI_FASKEY, else uci (OpenWrt), else /etc/opennds/opennds.conf.
# The event hook from $CITYWIFI_EVENT_URL, $CITYWIFI_GATEWAY (the registered name; default the
# openNDS gatewayname) and $CITYWIFI_EVENT_SECRET, each also read from the shell-syntax file
# $CITYWIFI_BINAUTH_CONF (default /etc/citywifi/binauth.conf, mode 0600). No URL: events are only logged.
# Logs go to syslog (logger) when available, else to $CITYWIFI_BINAUTH_LOG if set.

log() {
    if [ -n "$CITYWIFI_BINAUTH_LOG" ]; then echo "$(date +%s) citywifi-binauth: $*" >>"$CITYWIFI_BINAUTH_LOG"
    else logger -t citywifi-binauth "$*" 2>/dev/null; fi
}

sha256hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

faskey() {
    [ -n "$CITYWIFI_FASKEY" ] && { printf '%s' "$CITYWIFI_FASKEY"; return; }
    key=$(uci -q get opennds.@opennds[0].faskey 2>/dev/null)
    [ -n "$key" ] || key=$(awk '$1 == "faskey" { print $2; exit }' /etc/opennds/opennds.conf 2>/dev/null)
    printf '%s' "$key"
}

hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# "\ooo" escapes of the bytes of a hex string, each XORed with $2 (0 = as they are): printf turns
# them back into bytes. Shell arithmetic only: OpenWrt's busybox has no openssl.
octal() {
    rest=$1; out=''
    while [ -n "$rest" ]; do
        byte=${rest%"${rest#??}"}; rest=${rest#??}
        x=$(( 0x$byte ^ $2 ))
        out="$out\\$(( x / 64 ))$(( x / 8 % 8 ))$(( x % 8 ))"
    done
    printf '%s' "$out"
}

# HMAC-SHA256 (RFC 2104) of $2 with key $1, in hex, from sha256sum alone.
hmac_sha256() {
    k=$(hexof "$1")
    [ ${#k} -gt 128 ] && k=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
    while [ ${#k} -lt 128 ]; do k="${k}00"; done
    ipad=$(octal "$k" 54); opad=$(octal "$k" 92)     # 0x36, 0x5c
    inner=$( { printf "$ipad"; printf '%s' "$2"; } | sha256sum | cut -d' ' -f1)
    { printf "$opad"; printf "$(octal "$inner" 0)"; } | sha256sum | cut -d' ' -f1
}

setting() {     # $1 = variable name: the environment wins over the conf file
    eval "v=\${$1:-}"
    if [ -z "$v" ] && [ -r "${CITYWIFI_BINAUTH_CONF:-/etc/citywifi/binauth.conf}" ]; then
        v=$(. "${CITYWIFI_BINAUTH_CONF:-/etc/citywifi/binauth.conf}" >/dev/null 2>&1; eval "printf '%s' \"\${$1:-}\"")
    fi
    printf '%s' "$v"
}

gatewayname() {
    name=$(setting CITYWIFI_GATEWAY)
    [ -n "$name" ] || name=$(uci -q get opennds.@opennds[0].gatewayname 2>/dev/null)
    [ -n "$name" ] || name=$(awk '$1 == "gatewayname" { print $2; exit }' /etc/opennds/opennds.conf 2>/dev/null)
    printf '%s' "$name"
}

post_event() {  # $1 url $2 secret $3 body without ts: 0 = delivered (or never deliverable)
    for try in 1 2 3; do
        body="$3&ts=$(date +%s)"        # the sending time: a resend is not stale at the portal
        sig="v1=$(hmac_sha256 "$2" "$body")"
        if command -v curl >/dev/null 2>&1; then
            code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -H "X-Citywifi-Signature: $sig" \
                   -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$body" "$1")
        else
            wget -q -T 10 -O /dev/null --header "X-Citywifi-Signature: $sig" \
                 --header 'Content-Type: application/x-www-form-urlencoded' --post-data "$body" "$1" \
                && code=200 || code=000
        fi
        case $code in
            2??|404|409) log "event posted: $code $body"; return 0 ;;
            400|413) log "event refused ($code), dropped: $body"; return 0 ;;
        esac
        log "event post failed ($code), try $try: $body"
        [ "$try" -lt 3 ] && sleep $((try * ${CITYWIFI_RETRY_SECONDS:-5}))
    done
    return 1
}

spool_dir() { d=$(setting CITYWIFI_SPOOL_DIR); printf '%s' "${d:-/etc/citywifi/binauth-spool}"; }

# The sender's lock: in RAM (a reboot clears it), one per spool directory.
lock_dir() {
    l=$(setting CITYWIFI_SPOOL_LOCK)
    printf '%s' "${l:-/tmp/citywifi-binauth-$(sha256hex "$(spool_dir)" | cut -c1-16).lock}"
}

# Keep one event as <epoch>.<sequence>.<nonce>: openNDS runs this script for one event at a time,
# and the spooling is done before it returns, so the sequence keeps the gateway's order.
spool() {       # $1 nonce $2 body without ts
    dir=$(spool_dir)
    mkdir -p "$dir" && chmod 700 "$dir" || { log "spool $dir unusable, event lost: $2"; return 1; }
    max=$(setting CITYWIFI_SPOOL_MAX); max=${max:-500}
    # shellcheck disable=SC2012  # our own file names: digits, dots, letters
    n=$(ls "$dir" | wc -l)
    while [ "$n" -ge "$max" ]; do
        old=$(oldest_first "$dir" | head -1)
        log "spool full ($max), oldest event dropped: $(cat "$dir/$old" 2>/dev/null)"
        rm -f "$dir/$old"; n=$((n - 1))
    done
    seq=$(( $(cat "$dir/.seq" 2>/dev/null || echo 0) + 1 )); echo "$seq" >"$dir/.seq"
    printf '%s' "$2" >"$dir/.$1" && mv "$dir/.$1" "$dir/$(date +%s).$seq.$1"
}

# shellcheck disable=SC2012
oldest_first() { ls "$1" | sort -t. -k1,1n -k2,2n; }

# Send the spool, oldest first, until it is empty or an event fails (it and the rest stay).
# One sender at a time (a lock directory; one older than 300 s is a dead sender's).
flush() {       # $1 url $2 secret
    dir=$(spool_dir); [ -d "$dir" ] || return 0
    lock=$(lock_dir)
    while :; do
        if ! mkdir "$lock" 2>/dev/null; then
            at=$(cat "$lock/at" 2>/dev/null || echo 0)
            [ $(( $(date +%s) - ${at:-0} )) -gt 300 ] || return 0        # another sender has it
            rm -rf "$lock"; mkdir "$lock" 2>/dev/null || return 0
        fi
        date +%s >"$lock/at"
        ok=1
        for f in $(oldest_first "$dir"); do
            [ -f "$dir/$f" ] || continue
            if [ $(( $(date +%s) - ${f%%.*} )) -gt 86400 ]; then
                log "event undelivered for a day, dropped: $(cat "$dir/$f")"; rm -f "$dir/$f"; continue
            fi
            date +%s >"$lock/at"
            if post_event "$1" "$2" "$(cat "$dir/$f")"; then rm -f "$dir/$f"; else ok=0; break; fi
        done
        rm -rf "$lock"
        [ $ok = 1 ] || return 1
        # An event spooled while we were sending (its own sender found the lock): go again.
        [ -n "$(ls "$dir")" ] || return 0
    done
}

# The tests source the functions above: CITYWIFI_BINAUTH_SOURCE=1 . binauth.sh
[ -n "${CITYWIFI_BINAUTH_SOURCE:-}" ] && return 0

event=$1
case $event in
    client_auth|ndsctl_auth|client_deauth|idle_deauth|timeout_deauth|downquota_deauth|upquota_deauth|ndsctl_deauth|shutdown_deauth)
        log "$*"
        url=$(setting CITYWIFI_EVENT_URL); secret=$(setting CITYWIFI_EVENT_SECRET)
        [ -n "$url" ] && [ -n "$secret" ] || exit 0
        case "$2$3$4$5$6$7" in *[!0-9a-fA-F:]*) log "event with unexpected arguments: $*"; exit 0 ;; esac
        gw=$(gatewayname)
        case $gw in ''|*[!A-Za-z0-9._-]*) log "gateway name ${gw:-(none)} cannot be sent"; exit 0 ;; esac
        nonce=$(head -c 12 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
        body="v=1&gw=$gw&ev=$event&mac=$2&hid=$(sha256hex "$7")&in=$3&out=$4&start=$5&end=$6&nonce=$nonce"
        spool "$nonce" "$body"
        ( flush "$url" "$secret" ) </dev/null >/dev/null 2>&1 &
        exit 0 ;;
    flush)      # from cron: send what the spool holds
        url=$(setting CITYWIFI_EVENT_URL); secret=$(setting CITYWIFI_EVENT_SECRET)
        [ -n "$url" ] && [ -n "$secret" ] || exit 0
        flush "$url" "$secret"
        exit $? ;;
    auth_client) ;;
    *) log "$*"; exit 0 ;;
esac

mac=$2; ip=$5; token=$6; custom=$7
key=$(faskey)
if [ -z "$key" ]; then log "deny $mac $ip: no faskey configured"; exit 1; fi
# Only [a-z0-9.] may appear: nothing to URL-decode, nothing the shell could interpret.
case $custom in
    cw1.*) ;;
    *) log "deny $mac $ip: custom is not a citywifi grant"; exit 1 ;;
esac
case $custom in *[!a-z0-9.]*) log "deny $mac $ip: bad characters in custom"; exit 1 ;; esac
sig=${custom##*.}
body=${custom%.*}
old_ifs=$IFS; IFS=.
# shellcheck disable=SC2086  # splitting on dots is the point
set -- $body
IFS=$old_ifs
if [ $# -ne 6 ] || [ "$1" != cw1 ]; then log "deny $mac $ip: malformed custom"; exit 1; fi
for n in "$2" "$3" "$4" "$5" "$6"; do
    case $n in ''|*[!0-9]*) log "deny $mac $ip: malformed custom"; exit 1 ;; esac
done
hid=$(sha256hex "$token")
want=$(sha256hex "$key:$(sha256hex "$key:$body:$hid")")
if [ "$sig" != "$want" ]; then log "deny $mac $ip: custom signature does not verify"; exit 1; fi
log "allow $mac $ip: session ${2}s up ${3}kbit/s down ${4}kbit/s quota up ${5}kB down ${6}kB"
echo "$2 $3 $4 $5 $6"
exit 0
