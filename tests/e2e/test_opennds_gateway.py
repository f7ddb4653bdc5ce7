"""openNDS 9.10 (Debian's package) as a real gateway in front of citywifi, FAS level 1: a phone
behind it logs in through the portal and openNDS opens its way out.

Three network namespaces of our own (private addresses only, nothing leaves them):

    phone 192.168.77.10 ── lan0 [gw: openNDS 192.168.77.1 | wan0 10.77.0.1, NAT] ── fas
                                   fas: citywifi `up --demo` 10.77.0.2:2080, "internet" 10.77.0.3:80

The phone, driven by curl, opens a page → openNDS redirects it to our landing (``fas=``) →
code request → code from the file outbox → login → 303 to the gateway's ``/opennds_auth/?tok=…``
→ openNDS runs our BinAuth script (deploy/opennds/binauth.sh: signed limits) and lets it in →
our status page and a page behind the gateway answer. openNDS runs in private mount and PID
namespaces with the workarounds of its Debian 12 build (chain priorities, a fake DHCP lease,
a systemctl shim). Needs root; runs wherever network namespaces can be made (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from portal.acs import AcRecord, AcRegistry
from portal.apitokens import ApiTokenStore
from portal.login_types import Signer
from portal.reallog import RealNameLog
from portal.state import keys
from portal.usage import UsageBook
from portal.venues import Venue, VenueStore
from tests.e2e.stack import wait_for
from tests.e2e.test_up_demo import _code_from_outbox, _pump, _wait_printed

ROOT = Path(__file__).resolve().parents[2]
GW_NAME = "cafe-gw1"
FASKEY = "s3cr3tkey123"
PHONE_NUMBER = "18900000077"
HOOK_SECRET = "gw-hook-secret-1"     # the gateway's event-hook secret (its record's `secret`)


def _netns_usable() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"cwprobe{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ok


pytestmark = pytest.mark.skipif(not _netns_usable(), reason="needs root and network namespaces")

OPENNDS_CONF = f"""gatewayname {GW_NAME}
enable_serial_number_suffix 0
gatewayinterface lan0
gatewayport 2050
gatewayfqdn disable
dhcp_default_url_enable 0
login_option_enabled 0
fasport 2080
fasremoteip 10.77.0.2
faspath /portal
fas_secure_enabled 1
faskey {FASKEY}
binauth /mnt/binauth.sh
checkinterval 10
sessiontimeout 60
preauthidletimeout 30
authidletimeout 120
FirewallRuleSet users-to-router {{
    FirewallRule allow udp port 53
    FirewallRule allow tcp port 53
    FirewallRule allow udp port 67
}}
"""

UP = r"""set -e
P={P}; D={D}
for n in phone gw fas; do ip netns add ${{P}}$n; ip -n ${{P}}$n link set lo up; done
ip link add lan0 netns ${{P}}gw type veth peer name eth0 netns ${{P}}phone
ip link add wan0 netns ${{P}}gw type veth peer name eth0 netns ${{P}}fas
ip -n ${{P}}phone addr add 192.168.77.10/24 dev eth0; ip -n ${{P}}phone link set eth0 up
ip -n ${{P}}phone route add default via 192.168.77.1
ip -n ${{P}}gw addr add 192.168.77.1/24 dev lan0; ip -n ${{P}}gw link set lan0 up
ip -n ${{P}}gw addr add 10.77.0.1/24 dev wan0; ip -n ${{P}}gw link set wan0 up
ip -n ${{P}}gw route add default via 10.77.0.2
ip -n ${{P}}fas addr add 10.77.0.2/24 dev eth0; ip -n ${{P}}fas addr add 10.77.0.3/24 dev eth0
ip -n ${{P}}fas link set eth0 up
ip netns exec ${{P}}gw sysctl -qw net.ipv4.ip_forward=1
ip netns exec ${{P}}gw nft add table ip masq
ip netns exec ${{P}}gw nft add chain ip masq post '{{ type nat hook postrouting priority 100; }}'
ip netns exec ${{P}}gw nft add rule ip masq post oifname wan0 masquerade
# openNDS 9.10's pre_setup makes INPUT/FORWARD at priority -100, which Debian 12's iptables-nft
# then refuses: pre-create them at priority 0 with the comment its grep looks for.
ip netns exec ${{P}}gw nft add table ip filter
for c in INPUT:input FORWARD:forward; do
  ip netns exec ${{P}}gw nft add chain ip filter ${{c%:*}} \
    "{{ type filter hook ${{c#*:}} priority 0; comment \"priority -100\"; }}"
done
"""

GW_START = r"""P={P}; D={D}
# openNDS admits only clients with a DHCP lease: fake the static phone's
MAC=$(ip -n ${{P}}phone -br link show eth0 | awk '{{print $3}}')
echo "$(( $(date +%s) + 86400 )) $MAC 192.168.77.10 phone *" >$D/gw/tmp/dhcp.leases
# Private mount+pid namespaces: its helpers hard-code /etc/opennds/opennds.conf and /tmp, and
# pgrep/kill host-wide; the systemctl shim keeps it from restarting any dnsmasq.
exec ip netns exec ${{P}}gw unshare --mount --pid --fork --kill-child --mount-proc --propagation private \
  env PATH=$D/bin:$PATH CITYWIFI_BINAUTH_LOG=/mnt/binauth.log \
    CITYWIFI_EVENT_URL=http://10.77.0.2:2080/api/gateway/opennds/events \
    CITYWIFI_EVENT_SECRET={SECRET} sh -c "exec >$D/gw/opennds.log 2>&1
    mount --bind $D/gw /mnt
    mount --bind /mnt/opennds.conf /etc/opennds/opennds.conf
    mount --bind /mnt/tmp /tmp
    exec /usr/bin/opennds -f -d 2"
"""


def sh(script: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=check,
                          timeout=timeout)


class Netns:
    def __init__(self, prefix: str, base: Path) -> None:
        self.p, self.d = prefix, base
        self.procs: list[subprocess.Popen[str]] = []
        self.gw: subprocess.Popen[str] | None = None

    def run(self, ns: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.p + ns, *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def curl(self, *args: str) -> str:
        jar = str(self.d / "jar")
        return self.run("phone", "curl", "-s", "-m", "15", "-b", jar, "-c", jar, *args, timeout=30).stdout

    def ndsctl(self, *args: str) -> str:
        assert self.gw is not None
        pid = sh(f"pgrep -P {self.gw.pid} -x unshare || true").stdout.split()
        gw = pid[0] if pid else str(self.gw.pid)
        nds = sh(f"pgrep -P {gw} -x opennds || true").stdout.split()
        assert nds, (self.d / "gw" / "opennds.log").read_text(errors="replace")[-3000:]
        return subprocess.run(["nsenter", "-t", nds[0], "-m", "-n", "-p", "ndsctl", *args],
                              capture_output=True, text=True, timeout=20).stdout

    def down(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc.args[-1] == "--demo" else signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for n in ("phone", "gw", "fas"):
            subprocess.run(["ip", "netns", "del", self.p + n], capture_output=True)


@pytest.fixture
def testbed(tmp_path: Path) -> Iterator[Netns]:
    assert shutil.which("opennds") or Path("/usr/bin/opennds").exists(), \
        "openNDS is not installed (scripts/test.sh installs opennds, iptables and nftables)"
    base = tmp_path / "nds"
    for sub in ("www", "bin", "gw/tmp"):
        (base / sub).mkdir(parents=True)
    (base / "www" / "index.html").write_text("INTERNET-PAGE-OK\n")
    (base / "bin" / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (base / "bin" / "systemctl").chmod(0o755)
    (base / "gw" / "opennds.conf").write_text(OPENNDS_CONF)
    shutil.copy(ROOT / "deploy" / "opennds" / "binauth.sh", base / "gw" / "binauth.sh")
    (base / "gw" / "binauth.sh").chmod(0o755)
    bed = Netns(f"cw{os.getpid() % 100000}", base)
    try:
        sh(UP.format(P=bed.p, D=base))
        yield bed
    finally:
        bed.down()
        assert not any(bed.p in line for line in sh("ip netns list").stdout.splitlines())


def test_phone_behind_opennds_logs_in_by_sms_and_reaches_the_internet(testbed: Netns, tmp_path: Path) -> None:
    bed, data = testbed, tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({"CITYWIFI_DATA_DIR": str(data), "CITYWIFI_WEB_HOST": "10.77.0.2", "CITYWIFI_WEB_PORT": "2080",
                "CITYWIFI_WEB_WORKERS": "1", "CITYWIFI_RADIUS_WORKERS": "1",
                # gunicorn faces the gateway directly here (no nginx in the testbed)
                "CITYWIFI_WEB_TRUSTED_PROXIES": "127.0.0.1", "CITYWIFI_WEB_PROXY_HOPS": "1",
                "CITYWIFI_WEB_PUBLIC_URL": "http://10.77.0.2:2080"})
    portal = subprocess.Popen(["ip", "netns", "exec", bed.p + "fas", sys.executable, "-m", "portal.cli", "up",
                               "--demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    bed.procs.append(portal)          # stopped (SIGINT) and waited for even if the test fails
    seen: list[str] = []
    _pump(portal, seen)
    www = subprocess.Popen(["ip", "netns", "exec", bed.p + "fas", sys.executable, "-m", "http.server", "80",
                            "--bind", "10.77.0.3", "--directory", str(bed.d / "www")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    bed.procs.append(www)
    _wait_printed(portal, r"citywifi is running", 180, seen)
    state = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"))
    AcRegistry(state).put(AcRecord(name=GW_NAME, addresses=("10.77.0.1",), secret=HOOK_SECRET,
                                   kind="opennds", faskey=FASKEY))
    # Its venue's post-login page is behind the gateway: only a granted phone reaches it.
    VenueStore(state).put(Venue(id="cafe", name_zh="咖啡馆", name_en="Cafe", acs=(GW_NAME,),
                                redirect_url="http://10.77.0.3/", redirect_hosts=("10.77.0.3",)))
    # The gateway last: it must see the portal (its upstream neighbour) when it starts.
    assert wait_for(lambda: bed.run("gw", "curl", "-so", "/dev/null", "-m1", "http://10.77.0.2:2080/portal/status")
                    .returncode == 0, 10)
    gw = subprocess.Popen(["bash", "-c", GW_START.format(P=bed.p, D=bed.d, SECRET=HOOK_SECRET)], text=True)
    bed.procs.append(gw)
    bed.gw = gw
    log = bed.d / "gw" / "opennds.log"
    def running() -> bool:
        return log.exists() and "openNDS is now running" in log.read_text(errors="replace")

    assert wait_for(running, 30), log.read_text(errors="replace")[-3000:] if log.exists() else "no log"

    # 1. Unauthenticated: openNDS sends the phone to our landing with a fas query.
    first = bed.curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://10.77.0.3/")
    assert first.startswith("307 http://10.77.0.2:2080/portal?fas="), first
    landing_url = first.split(" ", 1)[1]
    # 2. Our landing page (the login form), the context signed into it.
    page = bed.curl(landing_url)
    ctx = re.search(r'name="c" value="([^"]*)"', page)
    assert ctx, page[:2000]
    # 3. Code request, the code from the file outbox, login.
    bed.curl("-o", "/dev/null", "--data-urlencode", f"c={ctx.group(1)}", "-d", f"phone={PHONE_NUMBER}",
             "http://10.77.0.2:2080/portal/code")
    code = _code_from_outbox(data / "sms-outbox", PHONE_NUMBER, timeout=60)
    t0 = time.monotonic()
    done = bed.curl("-L", "-w", "\n%{url_effective} %{num_redirects}", "--data-urlencode",
                    f"c={ctx.group(1)}", "-d", f"phone={PHONE_NUMBER}", "-d", f"code={code}",
                    "http://10.77.0.2:2080/portal/login")
    took = time.monotonic() - t0
    body, _, tail = done.rpartition("\n")
    # 303 → the gateway's /opennds_auth/?tok=… → 307 → the post-login page behind the gateway.
    assert tail == "http://10.77.0.3/ 2" and body.strip() == "INTERNET-PAGE-OK", (tail, body[-1500:])
    # 4. Still through the gateway, and our status page answers (reached through it too).
    assert bed.curl("http://10.77.0.3/").strip() == "INTERNET-PAGE-OK"
    # 5. openNDS applied our BinAuth's signed limits (seconds) for this client.
    client = json.loads(bed.ndsctl("json", "192.168.77.10"))
    assert client["state"] == "Authenticated", client
    assert client["custom"].startswith("cw1."), client
    seconds = int(client["custom"].split(".")[1])        # BinAuth takes seconds (ndsctl: minutes)
    assert seconds > 60
    assert int(client["session_end"]) - int(client["session_start"]) == seconds, client
    allow = (bed.d / "gw" / "binauth.log").read_text()
    assert "allow" in allow and "deny" not in allow, allow
    # 6. The real-name record names the phone's real MAC (from the gateway) and the gateway as AC.
    mac = bed.run("phone", "cat", "/sys/class/net/eth0/address").stdout.strip()
    records = RealNameLog(state).recent(5)
    assert [(r.phone, r.mac, r.ac, r.ip) for r in records] == [(PHONE_NUMBER, mac, GW_NAME, "192.168.77.10")]
    # 7. BinAuth's client_auth event reached us: the NOC session list (the API's) shows it.
    _, api_key = ApiTokenStore(state).create("e2e-noc", "read", "cli:e2e")

    def noc_sessions() -> list[dict[str, Any]]:
        out = bed.run("fas", "curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {api_key}",
                      f"http://10.77.0.2:2080/api/v1/sessions?ac={GW_NAME}").stdout
        return list(json.loads(out)["sessions"])

    assert wait_for(lambda: len(noc_sessions()) == 1, 30), (bed.d / "gw" / "binauth.log").read_text()
    [online] = noc_sessions()
    assert (online["phone"], online["mac"], online["ip"], online["venue"]) == \
        (PHONE_NUMBER, mac, "192.168.77.10", "cafe")
    # 8. Some traffic through the gateway, then its operator drops the client (openNDS 9.10 has
    # no remote deauth): the deauth event closes our session with the client's bytes.
    (bed.d / "www" / "big.bin").write_bytes(os.urandom(300_000))
    assert bed.curl("-o", "/dev/null", "-w", "%{size_download}", "http://10.77.0.3/big.bin") == "300000"
    # openNDS reads its byte counters every checkinterval (10 s): deauth once they show it.
    def counted() -> bool:
        return int(json.loads(bed.ndsctl("json", "192.168.77.10"))["download_this_session"]) >= 290
    assert wait_for(counted, 40), bed.ndsctl("json", "192.168.77.10")
    assert "deauthenticated" in bed.ndsctl("deauth", "192.168.77.10")
    assert wait_for(lambda: noc_sessions() == [], 30), (bed.d / "gw" / "binauth.log").read_text()
    logout = [f for _, f in state.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logout) == 1 and logout[0][b"cause"] == b"opennds:ndsctl_deauth", logout
    usage = UsageBook(state).get(PHONE_NUMBER, time.time())
    assert usage.daily_volume >= 300_000 and int(logout[0][b"out"]) >= 300_000, (usage, logout)
    # Seconds as the gateway counts them: from its session start to the deauth.
    assert int(logout[0][b"start"]) == int(client["session_start"]), (logout, client)
    assert usage.daily_time == int(logout[0][b"t"]) <= time.time() - int(client["session_start"]) + 1
    # 9. Captive again: the gateway sends the phone to our landing; a returning phone (MAC bound)
    # gets the ad, then continues straight through the gateway's grant to the venue page.
    again = bed.curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://10.77.0.3/")
    assert again.startswith("307 http://10.77.0.2:2080/portal?fas="), again
    ad = bed.curl(again.split(" ", 1)[1])
    fields = dict(re.findall(r'name="(c|ticket)" value="([^"]*)"', ad))
    wait = re.search(r'<span id="n">(\d+)</span>', ad)
    assert set(fields) == {"c", "ticket"} and wait, ad[:2000]
    time.sleep(int(wait.group(1)) + 0.5)
    back = bed.curl("-L", "-w", "\n%{url_effective}", "--data-urlencode", f"c={fields['c']}",
                    "--data-urlencode", f"ticket={fields['ticket']}", "http://10.77.0.2:2080/portal/continue")
    assert back.endswith("\nhttp://10.77.0.3/") and back.startswith("INTERNET-PAGE-OK"), back[-1500:]
    assert wait_for(lambda: len(noc_sessions()) == 1, 30), (bed.d / "gw" / "binauth.log").read_text()
    # 10. The phone's own logout (the status link it is given): our page sends its browser to the
    # gateway's deny URL, openNDS deauthenticates it there, its client_deauth event closes ours.
    signer = Signer((data / "web-secret.key").read_bytes())
    status_token = signer.seal("ses", {"ac": GW_NAME, "ip": "192.168.77.10", "p": PHONE_NUMBER}, 3600)
    assert "在线" in bed.curl(f"http://10.77.0.2:2080/portal/status?s={status_token}")
    page = bed.curl("--data-urlencode", f"s={status_token}", "http://10.77.0.2:2080/portal/logout")
    deny = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page)
    assert deny and deny.group(1) == "http://192.168.77.1:2050/opennds_deny/", page[:1500]
    bed.curl("-o", "/dev/null", deny.group(1))
    assert wait_for(lambda: noc_sessions() == [], 30), (bed.d / "gw" / "binauth.log").read_text()
    causes = [f[b"cause"] for _, f in state.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert causes == [b"opennds:ndsctl_deauth", b"opennds:client_deauth"], causes
    assert json.loads(bed.ndsctl("json", "192.168.77.10")).get("state") != "Authenticated"
    assert bed.curl("-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.3/") == "307"
    print(f"login → online through openNDS in {took:.2f} s; custom {client['custom'][:40]}…; "
          f"session {int(client['session_end']) - int(client['session_start'])} s; "
          f"booked {usage.daily_volume} bytes, {usage.daily_time} s")
    state.close()
