"""`[[sms.gateways]]` options are validated when settings load: a typo in
`kind` or any bad option fails `citywifi config check` with the key named; good options reach
the backends with today's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from portal.commands.sms_worker import build_backend
from portal.runtime.settings import Settings, SettingsError, load_settings
from sms_gateway.cmpp_backend import CmppBackend
from sms_gateway.encoding import Coding
from sms_gateway.errors import SmsError
from sms_gateway.smgp_backend import SmgpBackend
from sms_gateway.smpp_backend import SmppBackend
from tests.sms_gateway.smpp_peer import make_certificates

ROOT = Path(__file__).resolve().parents[3]


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "citywifi.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def gateway(kind: str, extra: str = "", host: str = "gw.example") -> str:
    return f'[[sms.gateways]]\nname = "g"\nkind = "{kind}"\nhost = "{host}"\n{extra}\n'


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('[[sms.gateways]]\nname = "g"\nkind = "aliyn"\n', "sms.gateways[0].kind", "did you mean 'aliyun'"),
    ('[sms]\nbackend = "smgpp"\n', "sms.backend", "unknown gateway kind"),
    ('[sms]\nbackend = "cmpp"\n', "sms.backend", "address is required"),
    ('[[sms.gateways]]\nkind = "file"\n', "sms.gateways[0].name", "needs a name"),
    (gateway("file", host="") + gateway("file", host=""), "sms.gateways[1].name", "defined twice"),
    (gateway("smpp", 'src_number = "CityWiFi"'), "sms.gateways[0].src_number", "source_ton = 5"),
    (gateway("smpp", 'src_number = "CityWiFiTooLong"\nsource_ton = 5'), "sms.gateways[0].src_number",
     "1-11 characters"),
    (gateway("smpp", 'system_type = "THIRTEENCHARS"'), "sms.gateways[0].system_type", "at most 12"),
    (gateway("smpp", "source_ton = 9"), "sms.gateways[0].source_ton", "TON 0 to 6"),
    (gateway("smpp", "dest_npi = 2"), "sms.gateways[0].dest_npi", "NPI"),
    (gateway("smpp", 'dest_prefix = "none"'), "sms.gateways[0].dest_prefix", "international"),
    (gateway("smpp", "dest_ton = 2"), "sms.gateways[0].dest_prefix", "national"),
    (gateway("smpp", 'encoding = "gb18030"'), "sms.gateways[0].encoding", "auto, ucs2"),
    (gateway("smpp", 'bind = "both"'), "sms.gateways[0].bind", "transceiver or separate"),
    (gateway("smpp", 'password = "ninechars"'), "sms.gateways[0].password", "at most 8"),
    (gateway("cmpp", 'bind = "separate"'), "sms.gateways[0].bind", "not used by kind 'cmpp'"),
    (gateway("cmpp", 'fee_type = "00"'), "sms.gateways[0].fee_type", "01, 02"),
    (gateway("smgp", 'fee_type = "05"'), "sms.gateways[0].fee_type", "00, 01"),
    (gateway("cmpp", 'fee_code = "1234567"'), "sms.gateways[0].fee_code", "1-6 digits"),
    (gateway("cmpp", "fee_user_type = 3"), "sms.gateways[0].charge_number", "fee_user_type = 3"),
    (gateway("cmpp", 'version = "3.1"'), "sms.gateways[0].version", "2.0"),
    (gateway("cmpp", 'account = "9012345"'), "sms.gateways[0].account", "at most 6"),
    (gateway("smgp", 'src_number = "1069-0001"'), "sms.gateways[0].src_number", "digits only"),
    (gateway("smgp", 'msg_src = "NINECHARS"'), "sms.gateways[0].msg_src", "at most 8"),
    (gateway("smgp", "tp_pid = 256"), "sms.gateways[0].tp_pid", "0 to 255"),
    (gateway("smgp", 'dest_prefix = "0086"'), "sms.gateways[0].dest_prefix", "auto, none, 86, +86"),
    (gateway("smgp", 'not_subscriber_codes = ["UNDELIV/012/x"]'),
     "sms.gateways[0].not_subscriber_codes[0]", "STAT/ERR"),
    (gateway("smgp", 'tls_ca_file = "/etc/hostname"'), "sms.gateways[0].tls_ca_file", "tls = true"),
    (gateway("smgp", 'tls = true\ntls_ca_file = "/nonexistent/ca.pem"'), "sms.gateways[0].tls_ca_file",
     "cannot read"),
    (gateway("smgp", "", host=""), "sms.gateways[0].host", "address is required"),
    (gateway("smgp", "window = 0"), "sms.gateways[0].window", "1 to 256"),
    (gateway("http", 'system_type = "x"', host=""), "sms.gateways[0].system_type", "not used by kind 'http'"),
    (gateway("http", "", host=""), "sms.gateways[0].url", "http://"),
    (gateway("aliyun", 'templates = ["otp"]', host=""), "sms.gateways[0].templates[0]", "template=CODE"),
    ("[number_policy]\nnot_subscriber_ttl = -5\n", "number_policy.not_subscriber_ttl", "0 to"),
    ("[sms]\nbatch = 0\n", "sms.batch", "1 to 1024"),
    ("[sms]\njob_ttl = 5\n", "sms.job_ttl", "at least 60"),
])
def test_bad_gateway_options_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, text)
    assert caught.value.key == key, str(caught.value)
    assert fragment in str(caught.value)


def test_config_check_fails_on_a_kind_typo_and_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "citywifi.toml"
    cfg.write_text('[[sms.gateways]]\nname = "cloud"\nkind = "aliyn"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "portal.cli", "-c", str(cfg), "config", "check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "sms.gateways[0].kind" in run.stderr and "aliyn" in run.stderr


def test_defaults_keep_todays_wire_behaviour(tmp_path: Path) -> None:
    s = load(tmp_path, gateway("smgp", 'src_number = "10690001"').replace('name = "g"', 'name = "ct"')
             + gateway("cmpp", 'account = "901234"').replace('name = "g"', 'name = "cm"')
             + gateway("smpp").replace('name = "g"', 'name = "intl"'))
    smgp_b, cmpp_b, smpp_b = (build_backend(g, s) for g in s.sms.gateways)
    assert isinstance(smgp_b, SmgpBackend) and isinstance(cmpp_b, CmppBackend)
    assert isinstance(smpp_b, SmppBackend)
    sc, cc, pc = smgp_b.cfg, cmpp_b.cfg, smpp_b.cfg
    assert (sc.coding, sc.fee_type, sc.fee_code, sc.need_report, sc.dest_prefix, sc.bind, sc.tls) == (
        Coding.UCS2, "00", "000000", True, "", "transceiver", None)
    assert (cc.coding, cc.fee_type, cc.msg_src or cc.sp_id, cc.registered_delivery, cc.dest_prefix) == (
        Coding.UCS2, "01", "901234", True, "")
    assert (pc.dest_prefix, pc.dest_ton, pc.dest_npi, pc.source_ton, pc.bind, pc.use_gsm7) == (
        "86", 1, 1, 0, "transceiver", True)
    assert smpp_b.receivers == [] and smgp_b.receivers == []


def test_every_option_reaches_its_backend(tmp_path: Path) -> None:
    ca, _, _ = make_certificates(tmp_path, "gw")
    s = load(tmp_path, gateway("smpp", f'''
account = "esme"
password = "pw"
system_type = "OTP"
service_type = "CMT"
src_number = "CityWiFi"
source_ton = 5
dest_ton = 2
dest_npi = 1
dest_prefix = "none"
encoding = "ucs2"
bind = "separate"
registered_delivery = false
tp_pid = 1
not_subscriber_codes = ["UNDELIV/012"]
tls = true
tls_ca_file = "{ca}"
tls_server_name = "smsc.example"
''') + gateway("cmpp", '''
account = "901234"
version = "2.0"
encoding = "gb18030"
fee_type = "02"
fee_code = "10"
fee_user_type = 3
charge_number = "13800138000"
msg_src = "900001"
dest_prefix = "86"
''').replace('name = "g"', 'name = "cm"'))
    g_smpp, g_cmpp = s.sms.gateways
    smpp_b = build_backend(g_smpp, s)
    assert isinstance(smpp_b, SmppBackend) and len(smpp_b.receivers) == 1     # bind = "separate"
    pc = smpp_b.cfg
    assert (pc.system_id, pc.password, pc.system_type, pc.service_type, pc.source_addr) == (
        "esme", "pw", "OTP", "CMT", "CityWiFi")
    assert (pc.source_ton, pc.dest_ton, pc.dest_npi, pc.dest_prefix, pc.use_gsm7) == (5, 2, 1, "", False)
    assert (pc.registered_delivery, pc.protocol_id, pc.not_subscriber_codes) == (False, 1, ("UNDELIV/012",))
    assert pc.tls is not None and (pc.tls.ca_file, pc.tls.server_name) == (str(ca), "smsc.example")
    cmpp_b = build_backend(g_cmpp, s)
    assert isinstance(cmpp_b, CmppBackend)
    cc = cmpp_b.cfg
    assert (cc.version, cc.coding, cc.fee_type, cc.fee_code, cc.fee_user_type, cc.fee_terminal_id,
            cc.msg_src, cc.dest_prefix) == (0x20, Coding.GB18030, "02", "10", 3, "13800138000",
                                            "900001", "86")


def test_a_ca_file_that_is_no_certificate_fails_as_a_bad_setting(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    s = load(tmp_path, gateway("smgp", f'tls = true\ntls_ca_file = "{junk}"'))
    with pytest.raises(SmsError) as caught:     # sms-worker exits 2 with "bad SMS settings"
        build_backend(s.sms.gateways[0], s)
    assert caught.value.code == "bad_setting"
