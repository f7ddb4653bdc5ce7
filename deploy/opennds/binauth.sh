#!/bin/sh
# citywifi BinAuth script for openNDS 9.x (FAS level 1). Install on the gateway, e.g. as
# /usr/lib/opennds/citywifi-binauth.sh (chmod 755), and set `binauth` to its path.
#
# On `auth_client` openNDS passes: $2 client MAC, $3 redir, $4 user agent, $5 client IP,
# $6 the client's token, $7 the `custom` value of the grant URL (URL-encoded). citywifi puts the
# plan's limits there, signed with the faskey and bound to this client's hid = sha256(token):
#     cw1.<session seconds>.<up kbit/s>.<down kbit/s>.<up quota kB>.<down quota kB>.<signature>
#     signature = sha256hex(faskey ":" sha256hex(faskey ":" body ":" hid)), body = the first six fields
# The custom value reaches us through the phone's browser, so an unsigned or edited one is
# refused (exit 1: openNDS denies the client). openNDS reads our stdout as
#     <session seconds> <upload kbit/s> <download kbit/s> <upload quota kB> <download quota kB>
# (SECONDS here; ndsctl/authmon take minutes), 0 = no limit.
# Other events (client_deauth, timeout_deauth, downquota_deauth, …) are only logged for now.
#
# The faskey comes from $CITYWIFI_FASKEY, else uci (OpenWrt), else /etc/opennds/opennds.conf.
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

event=$1
[ "$event" = auth_client ] || { log "$*"; exit 0; }

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
