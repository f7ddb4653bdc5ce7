"""openNDS 9.10 at FAS security level 3 in front of citywifi, for real.

The test bed of ``test_opennds_gateway.py`` (phone, gateway, portal in network namespaces), with
``fas_secure_enabled 3``: openNDS encrypts the redirect (AES-256-CBC with the faskey, made by PHP
on the gateway) and sends the phone to our HTTPS address; nginx (as deployed) terminates TLS in
front of ``citywifi up``. After the SMS code the grant waits in our authmon queue; the gateway's
own authmon (PHP, verifying our certificate) polls ``POST /portal``, runs ``ndsctl auth`` with the
plan's limits in minutes and acknowledges; our BinAuth hook reports ``ndsctl_auth`` and the NOC
lists the phone, which now reaches the page behind the gateway. Needs root, network namespaces,
openNDS, nginx and php-cli (``scripts/test.sh`` installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

from portal.aaa.acs import AcRecord, AcRegistry
from portal.admin.apitokens import ApiTokenStore
from portal.state import keys_gateway
from tests.e2e.stack import wait_for
from tests.e2e.test_opennds_gateway import (  # noqa: F401 (testbed: the fixture)
    FASKEY,
    GW_NAME,
    GW_START,
    HOOK_SECRET,
    OPENNDS_CONF,
    PHONE_NUMBER,
    Netns,
    pytestmark,
    testbed,
)
from tests.e2e.test_up_demo import _code_from_outbox, _pump, _wait_printed

NGINX_CONF = """user root;
worker_processes 1;
pid {D}/nginx.pid;
error_log {D}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  access_log {D}/nginx-access.log;
  client_body_temp_path {D}/nginx-tmp;
  proxy_temp_path {D}/nginx-tmp;
  server {{
    listen 10.77.0.2:2443 ssl;
    ssl_certificate {D}/gw/fas-cert.pem;
    ssl_certificate_key {D}/fas-key.pem;
    location / {{
      proxy_pass http://10.77.0.2:2080;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
"""


def test_level3_phone_is_let_in_by_authmon_with_the_plans_limits(testbed: Netns,  # noqa: F811 (the fixture)
                                                                  tmp_path: Path) -> None:
    bed, data = testbed, tmp_path / "data"
    assert shutil.which("php") and shutil.which("nginx"), "scripts/test.sh installs php-cli and nginx-light"
    conf = OPENNDS_CONF.replace("fasport 2080", "fasport 2443").replace("fas_secure_enabled 1",
                                                                        "fas_secure_enabled 3")
    (bed.d / "gw" / "opennds.conf").write_text(conf)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(bed.d / "fas-key.pem"), "-out", str(bed.d / "gw" / "fas-cert.pem"), "-days", "2",
                    "-subj", "/CN=10.77.0.2", "-addext", "subjectAltName=IP:10.77.0.2"],
                   capture_output=True, check=True, timeout=60)
    (bed.d / "gw" / "phpini").mkdir()
    (bed.d / "gw" / "phpini" / "99-fas-ca.ini").write_text("openssl.cafile=/mnt/fas-cert.pem\n")
    (bed.d / "nginx-tmp").mkdir()
    (bed.d / "nginx.conf").write_text(NGINX_CONF.format(D=bed.d))

    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH")]))
    env.update({"CITYWIFI_DATA_DIR": str(data), "CITYWIFI_WEB_HOST": "10.77.0.2", "CITYWIFI_WEB_PORT": "2080",
                "CITYWIFI_WEB_WORKERS": "1", "CITYWIFI_RADIUS_WORKERS": "1",
                # nginx on 10.77.0.2 terminates TLS and sets X-Forwarded-For; the BinAuth hook
                # posts straight to gunicorn (its own address is then the peer's)
                "CITYWIFI_WEB_TRUSTED_PROXIES": "127.0.0.1,10.77.0.2/32", "CITYWIFI_WEB_PROXY_HOPS": "1",
                "CITYWIFI_WEB_PUBLIC_URL": "https://10.77.0.2:2443"})
    portal = subprocess.Popen(["ip", "netns", "exec", bed.p + "fas", sys.executable, "-m", "portal.cli", "up",
                               "--demo"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    bed.procs.append(portal)
    seen: list[str] = []
    _pump(portal, seen)
    for cmd in ([sys.executable, "-m", "http.server", "80", "--bind", "10.77.0.3", "--directory",
                 str(bed.d / "www")], ["nginx", "-c", str(bed.d / "nginx.conf"), "-g", "daemon off;"]):
        bed.procs.append(subprocess.Popen(["ip", "netns", "exec", bed.p + "fas", *cmd],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True))
    _wait_printed(portal, r"citywifi is running", 180, seen)
    state = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"))
    AcRegistry(state).put(AcRecord(name=GW_NAME, addresses=("10.77.0.1",), secret=HOOK_SECRET,
                                   kind="opennds", faskey=FASKEY))
    cert = str(bed.d / "gw" / "fas-cert.pem")
    assert wait_for(lambda: bed.run("gw", "curl", "-so", "/dev/null", "-m1", "--cacert", cert,
                                    "https://10.77.0.2:2443/portal/status").returncode == 0, 15)
    gw = subprocess.Popen(["bash", "-c", GW_START.format(P=bed.p, D=bed.d, SECRET=HOOK_SECRET).replace(
        "env PATH=$D/bin:$PATH", "env PATH=$D/bin:$PATH PHP_INI_SCAN_DIR=:/mnt/phpini")], text=True)
    bed.procs.append(gw)
    bed.gw = gw
    log = bed.d / "gw" / "opennds.log"
    def running() -> bool:
        return log.exists() and "openNDS is now running" in log.read_text(errors="replace")

    assert wait_for(running, 30), log.read_text(errors="replace")[-3000:] if log.exists() else "no log"
    # authmon sleeps 5 s and then clears the FAS's queue: a grant made before that is lost.
    access = bed.d / "nginx-access.log"
    assert wait_for(lambda: access.exists() and "POST /portal " in access.read_text(), 30), \
        log.read_text(errors="replace")[-3000:]

    # 1. The encrypted redirect to our HTTPS landing, which opens it with the gateway's faskey.
    first = bed.curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://10.77.0.3/")
    assert re.match(r"307 https://10\.77\.0\.2:2443/portal\?fas=[^&]+&iv=[0-9a-f]{16}$", first), first
    page = bed.curl("--cacert", cert, first.split(" ", 1)[1])
    ctx = re.search(r'name="c" value="([^"]*)"', page)
    assert ctx, page[:2000]
    # 2. Code and login: the usual success page; the grant waits for authmon.
    bed.curl("--cacert", cert, "-o", "/dev/null", "--data-urlencode", f"c={ctx.group(1)}",
             "-d", f"phone={PHONE_NUMBER}", "https://10.77.0.2:2443/portal/code")
    code = _code_from_outbox(data / "sms-outbox", PHONE_NUMBER, timeout=60)
    done = bed.curl("--cacert", cert, "-w", "\n%{http_code}", "--data-urlencode", f"c={ctx.group(1)}",
                    "-d", f"phone={PHONE_NUMBER}", "-d", f"code={code}", "https://10.77.0.2:2443/portal/login")
    assert done.endswith("\n200") and 'id="success"' in done, done[-1500:]
    t0 = time.monotonic()
    # 3. authmon polls (every 10 s), runs ndsctl auth, acknowledges; BinAuth reports ndsctl_auth.
    _, api_key = ApiTokenStore(state).create("e2e-noc", "read", "cli:e2e")

    def noc_sessions() -> list[dict[str, Any]]:
        out = bed.run("fas", "curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {api_key}",
                      f"http://10.77.0.2:2080/api/v1/sessions?ac={GW_NAME}").stdout
        return list(json.loads(out)["sessions"])

    assert wait_for(lambda: len(noc_sessions()) == 1, 45), (
        (bed.d / "gw" / "binauth.log").read_text() if (bed.d / "gw" / "binauth.log").exists() else "",
        log.read_text(errors="replace")[-3000:])
    took = time.monotonic() - t0
    assert noc_sessions()[0]["phone"] == PHONE_NUMBER
    assert bed.curl("http://10.77.0.3/").strip() == "INTERNET-PAGE-OK"
    client = json.loads(bed.ndsctl("json", "192.168.77.10"))
    assert client["state"] == "Authenticated" and client["custom"] == "citywifi", client
    # The demo plan's 4 h went as 240 minutes (authmon's unit) and came out as 14400 s.
    assert int(client["session_end"]) - int(client["session_start"]) == 14400, client
    assert state.hlen(keys_gateway.gateway_authmon(GW_NAME)) == 0       # acknowledged, not handed out again
    print(f"level 3: login → online through authmon in {took:.1f} s")
    state.close()
