#!/usr/bin/env bash
# Run the test suite (README: "Test it"). Installs what the tests need when it is missing:
# Debian's freeradius-utils (radclient/radtest), freeradius (peer server), chromium, nginx-light, opennds, php-cli,
# a CJK font, and the Python test extras in .venv. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
if command -v dpkg >/dev/null; then
    apt_install freeradius-utils freeradius chromium nginx-light   # nginx-light: `nginx -t` on deploy/nginx
    # Chinese pages in headless Chromium draw boxes without a CJK font; WenQuanYi Micro Hei is the
    # smallest Debian has (1.6 MB; fonts-wqy-zenhei 7.5 MB, fonts-noto-cjk 57 MB).
    apt_install fonts-wqy-microhei
    apt_install opennds iptables nftables php-cli   # a real openNDS gateway in network namespaces (tests/e2e; php-cli: its level 3)
fi
source "$ROOT/scripts/bootstrap.sh" "test"
cd "$ROOT"
# Two workers on two cores; each worker starts its own throwaway Redis.
exec "$VENV/bin/python" -m pytest -n 2 -p no:cacheprovider "$@"
