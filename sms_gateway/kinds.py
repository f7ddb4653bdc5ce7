"""The SMS gateway kinds, each declared once: a ``kind`` of ``[[sms.gateways]]`` → how its backend
is built and which options of the table it reads.

Everything kind-dependent is derived from :data:`KINDS`: the settings accept a kind only if it is
here and refuse an option set for a kind that does not read it (``portal/runtime/
sms_gateway_settings.py``), and ``citywifi sms-worker`` builds every gateway through
:func:`build`. A new backend is its module plus one entry below (then regenerate
``deploy/citywifi.example.toml``: its comment on ``kind`` lists these names).

A factory gets the gateway's options as a mapping from option name (the TOML key, e.g.
``account``) to the value the settings validated: this library never reads the portal's
settings classes. Backend modules are imported inside the factories, so the settings, which
every process loads, pay for none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sms_gateway.errors import SmsError

if TYPE_CHECKING:
    from sms_gateway.backend import SmsBackend
    from sms_gateway.http_backends import HttpConfig

__all__ = ["EVERY_KIND", "KINDS", "GatewayKind", "Options", "build", "resolve_dest_prefix"]

Options = Mapping[str, Any]

# Options every kind reads; all others must be named by the kinds that read them.
EVERY_KIND = frozenset({"name", "kind", "priority", "response_timeout"})


@dataclass(frozen=True, slots=True)
class GatewayKind:
    build: Callable[[Options], SmsBackend]
    options: frozenset[str]        # the options it reads besides EVERY_KIND; others are refused
    required: frozenset[str] = frozenset()   # options without a default for this kind
    session: bool = False          # a long TCP session: host, window, TLS, reports checked as such
    default_port: int = 0          # the port when ``port`` is 0
    auto_dest_prefix: str = ""     # what dest_prefix "auto" puts before the 11 digits


def build(options: Options) -> SmsBackend:
    """The backend of one gateway, by its ``kind``."""
    kind = KINDS.get(options["kind"])
    if kind is None:
        raise SmsError(f"sms.gateways {options['name']}: unknown kind {options['kind']!r}",
                       code="bad_setting")
    return kind.build(options)


def resolve_dest_prefix(kind: str, dest_prefix: str) -> str:
    """What goes in front of the 11-digit number: "auto" is "86" for SMPP (international
    format, TON 1) and nothing for SMGP/CMPP (today's deployments send bare numbers)."""
    if dest_prefix == "auto":
        return KINDS[kind].auto_dest_prefix
    return "" if dest_prefix == "none" else dest_prefix


# --- factories ---------------------------------------------------------------------------------


def _session(o: Options) -> dict[str, Any]:
    """What every long-session backend's config takes alike."""
    from sms_gateway.session import TlsOptions

    tls = TlsOptions(ca_file=o["tls_ca_file"], server_name=o["tls_server_name"],
                     cert_file=o["tls_cert_file"], key_file=o["tls_key_file"]) if o["tls"] else None
    return dict(window=o["window"], response_timeout=o["response_timeout"],
                connect_timeout=o["connect_timeout"], heartbeat=o["heartbeat"],
                backoff_max=o["backoff_max"], tls=tls,
                dest_prefix=resolve_dest_prefix(o["kind"], o["dest_prefix"]),
                not_subscriber_codes=o["not_subscriber_codes"])


def _port(o: Options) -> int:
    return int(o["port"]) or KINDS[o["kind"]].default_port


def _file(o: Options) -> SmsBackend:
    from sms_gateway.file_backend import FileBackend

    return FileBackend(o["name"], o["outbox_dir"])


def _smgp(o: Options) -> SmsBackend:
    from sms_gateway.encoding import coding_from_name
    from sms_gateway.smgp_backend import SmgpBackend, SmgpConfig

    return SmgpBackend(SmgpConfig(
        o["name"], o["host"], _port(o), client_id=o["account"], secret=o["password"],
        src_term_id=o["src_number"], service_id=o["service_id"],
        coding=coding_from_name("ucs2" if o["encoding"] == "auto" else o["encoding"]),
        need_report=o["registered_delivery"], fee_type=o["fee_type"] or "00", fee_code=o["fee_code"],
        fixed_fee=o["fixed_fee"], charge_term_id=o["charge_number"], tp_pid=o["tp_pid"],
        msg_src=o["msg_src"], bind=o["bind"], **_session(o)))


def _cmpp(o: Options) -> SmsBackend:
    from sms_gateway.cmpp_backend import CmppBackend, CmppConfig
    from sms_gateway.encoding import coding_from_name

    return CmppBackend(CmppConfig(
        o["name"], o["host"], _port(o), sp_id=o["account"], secret=o["password"],
        src_id=o["src_number"], service_id=o["service_id"],
        version=0x30 if o["version"] == "3.0" else 0x20,
        coding=coding_from_name("ucs2" if o["encoding"] == "auto" else o["encoding"]),
        msg_src=o["msg_src"], fee_user_type=o["fee_user_type"], fee_terminal_id=o["charge_number"],
        fee_type=o["fee_type"] or "01", fee_code=o["fee_code"], tp_pid=o["tp_pid"],
        registered_delivery=o["registered_delivery"], **_session(o)))


def _smpp(o: Options) -> SmsBackend:
    from sms_gateway.smpp_backend import SmppBackend, SmppConfig

    return SmppBackend(SmppConfig(
        o["name"], o["host"], _port(o), system_id=o["account"], password=o["password"],
        system_type=o["system_type"], source_addr=o["src_number"], source_ton=o["source_ton"],
        source_npi=o["source_npi"], dest_ton=o["dest_ton"], dest_npi=o["dest_npi"],
        service_type=o["service_type"], protocol_id=o["tp_pid"],
        registered_delivery=o["registered_delivery"], use_gsm7=o["encoding"] == "auto",
        bind=o["bind"], **_session(o)))


def _http_config(o: Options) -> HttpConfig:
    from sms_gateway.http_backends import HttpConfig

    return HttpConfig(
        name=o["name"], url=o["url"], method=o["method"], body_template=o["body_template"],
        content_type=o["content_type"], success_field=o["success_field"],
        success_value=o["success_value"], message_id_field=o["message_id_field"],
        access_key=o["account"], secret=o["password"], region=o["region"], app_id=o["app_id"],
        sign_name=o["sign_name"],
        templates=dict(t.split("=", 1) for t in o["templates"] if "=" in t),
        timeout=o["response_timeout"])


def _http(o: Options) -> SmsBackend:
    from sms_gateway.http_backends import GenericHttpBackend

    return GenericHttpBackend(_http_config(o))


def _aliyun(o: Options) -> SmsBackend:
    from sms_gateway.http_backends import AliyunBackend

    return AliyunBackend(_http_config(o))


def _tencent(o: Options) -> SmsBackend:
    from sms_gateway.http_backends import TencentBackend

    return TencentBackend(_http_config(o))


# --- the kinds -----------------------------------------------------------------------------------

_SESSION = frozenset({
    "host", "port", "window", "connect_timeout", "heartbeat", "backoff_max", "account", "password",
    "src_number", "encoding", "dest_prefix", "registered_delivery", "tp_pid", "not_subscriber_codes",
    "tls", "tls_ca_file", "tls_server_name", "tls_cert_file", "tls_key_file",
})
_OPERATOR = frozenset({"service_id", "fee_type", "fee_code", "charge_number", "msg_src"})  # SMGP, CMPP
_CLOUD = frozenset({"account", "password", "url", "region", "sign_name", "templates"})

# Their order is the order settings errors list them in.
KINDS: dict[str, GatewayKind] = {
    "file": GatewayKind(_file, frozenset({"outbox_dir"})),
    "http": GatewayKind(_http, frozenset({
        "url", "method", "body_template", "content_type", "success_field", "success_value",
        "message_id_field"}), required=frozenset({"url"})),
    "aliyun": GatewayKind(_aliyun, _CLOUD),
    "tencent": GatewayKind(_tencent, _CLOUD | {"app_id"}),
    "smgp": GatewayKind(_smgp, _SESSION | _OPERATOR | {"fixed_fee", "bind"}, required=frozenset({"host"}),
                        session=True, default_port=8890),
    "cmpp": GatewayKind(_cmpp, _SESSION | _OPERATOR | {"version", "fee_user_type"},
                        required=frozenset({"host"}), session=True, default_port=7890),
    "smpp": GatewayKind(_smpp, _SESSION | {
        "system_type", "service_type", "source_ton", "source_npi", "dest_ton", "dest_npi", "bind"},
        required=frozenset({"host"}), session=True, default_port=2775, auto_dest_prefix="86"),
}
