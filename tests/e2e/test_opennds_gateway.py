"""openNDS 9.10 (Debian's package) as a real gateway in front of citywifi, FAS level 1: a phone
behind it logs in through the portal and openNDS opens its way out.

Three network namespaces of our own (private addresses only, nothing leaves them):

    phone 192.168.77.10 ── lan0 [gw: openNDS 192.168.77.1 | wan0 10.77.0.1, NAT] ── fas
                                   fas: citywifi `up --demo` 10.77.0.2:2080, "internet" 10.77.0.3:80

The phone, driven by curl, opens a page → openNDS redirects it to our landing (``fas=``) →
code request → code from the file outbox → login → 303 to the gateway's ``/opennds_auth/?tok=…``
→ openNDS runs our BinAuth script (deploy/opennds/binauth.sh: signed limits) and lets it in →
our success page (its status link) and a page behind the gateway answer. Then the NOC list,
``ndsctl deauth`` with the bytes, the returning phone, its own logout, an SMS login in headless
Chromium running inside the phone's namespace, and openNDS cutting the phone off when its
plan's data (``downquota_deauth``) and then its time (``timeout_deauth``) run out, each booked
and refused at the next landing; all on one gateway start. openNDS runs in private mount and PID
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

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.usage import UsageBook
from portal.admin.apitokens import ApiTokenStore
from portal.legal.reallog import RealNameLog
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from tests.e2e.stack import wait_for
from tests.e2e.test_up_demo import _code_from_outbox, _pump, _wait_printed

ROOT = Path(__file__).resolve().parents[2]
GW_NAME = "cafe-gw1"
FASKEY = "s3cr3tkey123"
PHONE_NUMBER = "18900000077"
PHONE_2 = "18900000078"              # the same phone, other numbers (no wait for the resend cooldown)
PHONE_3 = "18900000079"
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
  env PATH=$D/bin:$PATH CITYWIFI_BINAUTH_LOG=/mnt/binauth.log CITYWIFI_SPOOL_DIR=/mnt/spool \
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
    # 303 → the gateway's /opennds_auth/?tok=… → 307 → our success page (the status link), which
    # forwards to the venue's post-login page behind the gateway.
    url, hops = tail.rsplit(" ", 1)
    assert url.startswith("http://10.77.0.2:2080/portal/welcome?s=") and hops == "2", (tail, body[-1500:])
    assert 'content="3;url=http://10.77.0.3/"' in body and 'id="status"' in body, body[-1500:]
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
    assert "\nhttp://10.77.0.2:2080/portal/welcome?s=" in back, back[-1500:]
    assert "url=http://10.77.0.3/" in back, back[-1500:]
    assert wait_for(lambda: len(noc_sessions()) == 1, 30), (bed.d / "gw" / "binauth.log").read_text()
    # 10. The phone's own logout (the status link its success page gave it): our page sends its
    # browser to the gateway's deny URL, openNDS deauthenticates it there, its client_deauth
    # event closes ours.
    link = re.search(r'id="status" href="/portal/status\?s=([^"&]+)', back)
    assert link, back[-1500:]
    status_token = link.group(1)
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
    # 11. Cut off when the plan's data runs out: the phone logs in with another number whose plan
    # leaves 400 kB today, by SMS in headless Chromium running inside the phone's namespace; then
    # 1 MB through the gateway.
    t_cut = time.monotonic()
    plans = PlanStore(state)
    plans.put(Plan(name="tiny", daily_volume=400_000))
    plans.assign_user(PHONE_2, "tiny")
    plan_set = time.monotonic()
    CredentialStore(state).unbind_mac(mac)          # a new phone again: the SMS form, not the ad
    _chromium_sms_login(bed, data, lambda: time.sleep(max(0.0, plan_set + 5.5 - time.monotonic())))
    limited = json.loads(bed.ndsctl("json", "192.168.77.10"))
    assert limited["state"] == "Authenticated", limited
    # The data left (kB, both directions each) went to the gateway as its download quota.
    assert 380 <= int(limited["download_quota"]) <= 400, limited
    assert wait_for(lambda: len(noc_sessions()) == 1, 30), (bed.d / "gw" / "binauth.log").read_text()
    (bed.d / "www" / "big.bin").write_bytes(os.urandom(1_000_000))
    assert bed.curl("-o", "/dev/null", "-w", "%{size_download}", "http://10.77.0.3/big.bin") == "1000000"
    # openNDS compares its counters with the quota every checkinterval: deauth, then the event.
    assert wait_for(lambda: noc_sessions() == [], 40), (bed.d / "gw" / "binauth.log").read_text()
    assert bed.curl("-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.3/") == "307"
    last = [f for _, f in state.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"][-1]
    assert last[b"cause"] == b"opennds:downquota_deauth" and int(last[b"out"]) >= 1_000_000, last
    assert last[b"phone"] == PHONE_2.encode(), last
    cut = UsageBook(state).get(PHONE_2, time.time())
    assert cut.daily_volume >= 1_000_000, cut
    # 12. The same day the phone (MAC bound again by that login) is refused at the landing with
    # the quota message, in Chinese and in English, and stays captive.
    for lang, text in (("zh", "今日流量已用完"), ("en", "data allowance is used up")):
        again = bed.curl("-o", "/dev/null", "-w", "%{redirect_url}", "http://10.77.0.3/")
        page = bed.curl("-H", f"Accept-Language: {lang}", again)
        assert text in page and 'name="ticket"' not in page, page[-2000:]
    assert bed.curl("-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.3/") == "307"
    # 13. Cut off when the plan's time runs out: a third number with 12 s of online time a day
    # (level 1 grants seconds) logs in by SMS (curl); openNDS ends the session at its next check
    # after the 12 s, the seconds are booked and the next landing is refused.
    plans.put(Plan(name="short", daily_time=12))
    plans.assign_user(PHONE_3, "short")
    plan_set = time.monotonic()
    CredentialStore(state).unbind_mac(mac)
    landing = bed.curl("-o", "/dev/null", "-w", "%{redirect_url}", "http://10.77.0.3/")
    ctx = re.search(r'name="c" value="([^"]*)"', bed.curl(landing))
    assert ctx, landing
    sent = _outbox(data)
    bed.curl("-o", "/dev/null", "--data-urlencode", f"c={ctx.group(1)}", "-d", f"phone={PHONE_3}",
             "http://10.77.0.2:2080/portal/code")
    code = _next_code(data, sent, PHONE_3)
    time.sleep(max(0.0, plan_set + 5.5 - time.monotonic()))           # the portal's plan cache
    bed.curl("-L", "-o", "/dev/null", "--data-urlencode", f"c={ctx.group(1)}", "-d", f"phone={PHONE_3}",
             "-d", f"code={code}", "http://10.77.0.2:2080/portal/login")
    timed = json.loads(bed.ndsctl("json", "192.168.77.10"))
    assert timed["state"] == "Authenticated", timed
    assert int(timed["session_end"]) - int(timed["session_start"]) == 12, timed
    assert wait_for(lambda: len(noc_sessions()) == 1, 30), (bed.d / "gw" / "binauth.log").read_text()
    assert wait_for(lambda: noc_sessions() == [], 45), (bed.d / "gw" / "binauth.log").read_text()
    ended = [f for _, f in state.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"][-1]
    assert (ended[b"cause"], ended[b"phone"]) == (b"opennds:timeout_deauth", PHONE_3.encode()), ended
    assert UsageBook(state).get(PHONE_3, time.time()).daily_time >= 12
    assert bed.curl("-o", "/dev/null", "-w", "%{http_code}", "http://10.77.0.3/") == "307"
    again = bed.curl("-o", "/dev/null", "-w", "%{redirect_url}", "http://10.77.0.3/")
    assert "今日上网时长已用完" in bed.curl(again)
    # Every event went through the hook's spool on the gateway (CITYWIFI_SPOOL_DIR), and none is left.
    spool = bed.d / "gw" / "spool"
    # (4 logins, 4 deauths: client_auth ×4, ndsctl_, client_, downquota_ and timeout_deauth)
    left = [p.name for p in spool.iterdir() if not p.name.startswith(".")]
    assert int((spool / ".seq").read_text()) == 8 and left == [], (left, (spool / ".seq").read_text())
    print(f"login → online through openNDS in {took:.2f} s; custom {client['custom'][:40]}…; "
          f"session {int(client['session_end']) - int(client['session_start'])} s; "
          f"booked {usage.daily_volume} bytes, {usage.daily_time} s; quota cut-off "
          f"{last[b'cause'].decode()} at {int(last[b'out'])} bytes; time cut-off after "
          f"{int(ended[b't'])} s; Chromium login, cut-off and "
          f"refusals (quota, then time) took {time.monotonic() - t_cut:.1f} s")
    state.close()


def _outbox(data: Path) -> set[str]:
    return {p.name for p in (data / "sms-outbox").glob("*.json")}


def _next_code(data: Path, before: set[str], phone: str = PHONE_2) -> str:
    """The code of the first SMS to ``phone`` that was not in the outbox ``before``."""
    def fresh() -> str | None:
        for path in sorted((data / "sms-outbox").glob("*.json")):
            msg = json.loads(path.read_text(encoding="utf-8"))
            found = re.search(r"(\d{6})", msg.get("text", ""))
            if path.name not in before and msg.get("phone") == phone and found:
                return found.group(1)
        return None
    assert wait_for(lambda: fresh() is not None, 60), "no new SMS"
    code = fresh()
    assert code is not None
    return code


def _chromium_sms_login(bed: Netns, data: Path, before_login: Any) -> None:
    """Debian's headless Chromium inside the phone's namespace (Playwright starts it through
    ``ip netns exec``; its pipe to Playwright is inherited, so only the browser's own sockets are
    in the namespace): openNDS's redirect, the SMS form, our success page, the venue's page."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    launcher = bed.d / "bin" / "chromium-in-phone"
    launcher.write_text(f"#!/bin/sh\nexec ip netns exec {bed.p}phone {CHROMIUM} \"$@\"\n")
    launcher.chmod(0o755)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(launcher), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto("http://10.77.0.3/", timeout=30_000)
            assert page.url.startswith("http://10.77.0.2:2080/portal?fas="), page.url
            page.fill("#phone", PHONE_2)
            sent = _outbox(data)
            page.click("#send")
            page.wait_for_selector("#notice, #error", timeout=20_000)
            assert page.query_selector("#notice") is not None, page.content()[-2000:]
            page.fill("#code", _next_code(data, sent))
            before_login()
            page.click("#go")
            # The gateway's grant, then our success page with its status link …
            page.wait_for_selector("#success", timeout=30_000)
            assert page.url.startswith("http://10.77.0.2:2080/portal/welcome?s="), page.url
            assert page.get_attribute("#status", "href")
            # … which forwards to the venue's page, behind the gateway.
            page.wait_for_url("http://10.77.0.3/", timeout=20_000)
            assert "INTERNET-PAGE-OK" in page.content()
        finally:
            browser.close()
