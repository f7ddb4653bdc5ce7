"""Load-time validation of one ``[[sms.gateways]]`` entry (``SmsGatewaySettings.__post_init__``).

Every option is checked when the settings are read, so ``citywifi config check`` names the bad
key (``sms.gateways[0].kind: unknown gateway kind 'aliyn' …``) instead of the sms-worker failing
later — or worse, logging in and having every Submit refused. The limits are the protocols'
field sizes and value sets (SMGP 3.0 and CMPP 3.0/2.0 Submit fields, SMPP 3.4 §4.1/§4.4/§5.2).
An option set for a kind that does not use it is an error too: it is a misunderstanding.

Kept out of settings.py so that file stays the list of settings; this module owns the rules.
Which kinds exist and which options each reads is not written here: each kind declares it once
in ``sms_gateway/kinds.py``, and the checks below follow (a kind that reads ``url`` gets its URL
checked). The protocol field limits of SMGP, CMPP and SMPP stay here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import TYPE_CHECKING

from portal.runtime.settings import SettingsError
from sms_gateway.kinds import EVERY_KIND, KINDS, resolve_dest_prefix

if TYPE_CHECKING:
    from portal.runtime.settings import SmsGatewaySettings

__all__ = ["check_gateway", "resolve_dest_prefix", "used_by"]

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ENCODINGS = {"smgp": ("auto", "ucs2", "gb18030", "ascii"), "cmpp": ("auto", "ucs2", "gb18030", "ascii"),
              "smpp": ("auto", "ucs2")}
_FEE_TYPES = {"cmpp": ("01", "02", "03", "04", "05"), "smgp": ("00", "01", "02", "03")}
_DEST_PREFIXES = ("auto", "none", "86", "+86")
_SMPP_NPI = (0, 1, 3, 4, 6, 8, 9, 10, 14, 18)     # SMPP 3.4 §5.2.6
# (field, kind) → longest value the protocol's field takes (fixed octet strings / C-strings)
_MAX_LEN: dict[tuple[str, str], int] = {
    ("account", "smgp"): 8, ("account", "cmpp"): 6, ("account", "smpp"): 15,
    ("password", "smgp"): 15, ("password", "smpp"): 8,
    ("src_number", "smgp"): 21, ("src_number", "cmpp"): 21, ("src_number", "smpp"): 20,
    ("service_id", "smgp"): 10, ("service_id", "cmpp"): 10,
    ("msg_src", "smgp"): 8, ("msg_src", "cmpp"): 6,
    ("charge_number", "smgp"): 21, ("charge_number", "cmpp"): 21,
    ("system_type", "smpp"): 12, ("service_type", "smpp"): 5,
}


def _printable(value: str) -> bool:
    return value.isascii() and value.isprintable()


def used_by() -> dict[str, frozenset[str]]:
    """Option → the kinds that read it, as each kind declares (sms_gateway/kinds.py)."""
    readers: dict[str, set[str]] = {}
    for name, kind in KINDS.items():
        for option in kind.options:
            readers.setdefault(option, set()).add(name)
    return {option: frozenset(names) for option, names in readers.items()}


def check_gateway(g: SmsGatewaySettings) -> None:
    """Raise ``SettingsError(option, problem)`` for the first bad option of ``g``."""
    kind = KINDS.get(g.kind)
    if kind is None:
        close = difflib.get_close_matches(g.kind, KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SettingsError("kind", f"unknown gateway kind {g.kind!r}{hint}; "
                                    f"one of {', '.join(KINDS)}")
    if g.name and (len(g.name) > 32 or not set(g.name) <= _NAME_CHARS):
        raise SettingsError("name", f"1-32 letters, digits, '_', '.' or '-', got {g.name!r}")
    readers = used_by()
    for f in dataclasses.fields(g):
        if f.name in EVERY_KIND or f.name in kind.options or getattr(g, f.name) == f.default:
            continue
        raise SettingsError(f.name, f"not used by kind {g.kind!r} "
                                    f"(only by {', '.join(sorted(readers.get(f.name, ())))})")
    _check_common(g)
    if kind.session:
        _check_session(g)
    if g.kind == "smpp":
        _check_smpp(g)
    elif g.kind in ("smgp", "cmpp"):
        _check_operator(g)
    # Options some HTTP kinds read, checked wherever a kind reads them.
    if "url" in kind.options and (g.url or "url" in kind.required) \
            and not g.url.startswith(("http://", "https://")):
        raise SettingsError("url", f"an http:// or https:// endpoint is required, got {g.url!r}"
                            if "url" in kind.required else f"an http:// or https:// URL, got {g.url!r}")
    if "method" in kind.options and g.method.upper() not in ("GET", "POST"):
        raise SettingsError("method", f"GET or POST, got {g.method!r}")
    if "templates" in kind.options:
        for i, item in enumerate(g.templates):
            name, sep, code = item.partition("=")
            if not (sep and name.strip() and code.strip()):
                raise SettingsError(f"templates[{i}]", f'expected "template=CODE", got {item!r}')
    for option in sorted(kind.required):
        if getattr(g, option) == "":
            raise SettingsError(option, f"kind {g.kind!r} needs it")


def _check_common(g: SmsGatewaySettings) -> None:
    if not 0 <= g.port <= 65535:
        raise SettingsError("port", f"0 to 65535, got {g.port}")
    if not 1 <= g.window <= 256:
        raise SettingsError("window", f"1 to 256 outstanding requests, got {g.window}")
    for option in ("response_timeout", "connect_timeout", "heartbeat", "backoff_max"):
        value = getattr(g, option)
        if not 0 < value <= 3600:
            raise SettingsError(option, f"more than 0 and at most 3600 seconds, got {value}")


def _check_lengths(g: SmsGatewaySettings, *options: str) -> None:
    for option in options:
        value: str = getattr(g, option)
        limit = _MAX_LEN.get((option, g.kind))
        if not _printable(value):
            raise SettingsError(option, f"printable ASCII only, got {value!r}")
        if limit is not None and len(value) > limit:
            raise SettingsError(option, f"{g.kind} allows at most {limit} characters, got {len(value)}")


def _check_session(g: SmsGatewaySettings) -> None:
    if not g.host:
        raise SettingsError("host", f"the {g.kind} gateway's address is required")
    _check_lengths(g, "account", "password")
    if g.encoding not in _ENCODINGS[g.kind]:
        raise SettingsError("encoding", f"{g.kind}: one of {', '.join(_ENCODINGS[g.kind])}, "
                                        f"got {g.encoding!r}")
    if g.dest_prefix not in _DEST_PREFIXES:
        raise SettingsError("dest_prefix", f"one of {', '.join(_DEST_PREFIXES)}, got {g.dest_prefix!r}")
    if not 0 <= g.tp_pid <= 255:
        raise SettingsError("tp_pid", f"0 to 255 (one octet), got {g.tp_pid}")
    for i, code in enumerate(g.not_subscriber_codes):
        stat, _, err = code.partition("/")
        if not (stat.strip() and _printable(code) and len(code) <= 16 and "/" not in err):
            raise SettingsError(f"not_subscriber_codes[{i}]", f'"STAT" or "STAT/ERR", got {code!r}')
    tls_files = {"tls_ca_file": g.tls_ca_file, "tls_cert_file": g.tls_cert_file,
                 "tls_key_file": g.tls_key_file}
    if not g.tls:
        for option in (*tls_files, "tls_server_name"):
            if getattr(g, option):
                raise SettingsError(option, "set tls = true as well (without it the link is plain TCP)")
    for option, path in tls_files.items():
        if path and not os.access(path, os.R_OK):
            raise SettingsError(option, f"cannot read {path!r}")
    if g.tls_key_file and not g.tls_cert_file:
        raise SettingsError("tls_key_file", "a key without tls_cert_file")


def _check_smpp(g: SmsGatewaySettings) -> None:
    from sms_gateway.gsm7 import is_gsm7_address

    _check_lengths(g, "src_number", "system_type", "service_type")
    for option in ("source_ton", "dest_ton"):
        if not 0 <= getattr(g, option) <= 6:        # SMPP 3.4 §5.2.5
            raise SettingsError(option, f"a TON 0 to 6, got {getattr(g, option)}")
    for option in ("source_npi", "dest_npi"):
        if getattr(g, option) not in _SMPP_NPI:
            raise SettingsError(option, f"an NPI of SMPP 3.4 §5.2.6 {_SMPP_NPI}, got {getattr(g, option)}")
    if g.source_ton == 5:
        if not is_gsm7_address(g.src_number):
            raise SettingsError("src_number", "an alphanumeric sender (source_ton = 5) is 1-11 characters "
                                              f"of the GSM 7-bit basic alphabet, got {g.src_number!r}")
    elif g.src_number and not g.src_number.isdigit():
        raise SettingsError("src_number", f"{g.src_number!r} is not a number: an alphanumeric sender "
                                          "needs source_ton = 5")
    prefix = resolve_dest_prefix("smpp", g.dest_prefix)
    if g.dest_ton == 1 and prefix != "86":
        raise SettingsError("dest_prefix", "dest_ton = 1 (international) needs the country code: "
                                           f'dest_prefix "86" or "auto", got {g.dest_prefix!r}')
    if g.dest_ton == 2 and prefix:
        raise SettingsError("dest_prefix", f'dest_ton = 2 (national) takes bare numbers: dest_prefix "none", '
                                           f"got {g.dest_prefix!r}")
    _check_bind(g)


def _check_bind(g: SmsGatewaySettings) -> None:
    if g.bind not in ("transceiver", "separate"):
        raise SettingsError("bind", f"transceiver or separate, got {g.bind!r}")


def _check_operator(g: SmsGatewaySettings) -> None:
    _check_lengths(g, "src_number", "service_id", "msg_src", "charge_number")
    for option in ("src_number", "charge_number"):
        value: str = getattr(g, option)
        if value and not value.isdigit():
            raise SettingsError(option, f"digits only, got {value!r}")
    if g.fee_type and g.fee_type not in _FEE_TYPES[g.kind]:
        raise SettingsError("fee_type", f"{g.kind} FeeType is one of {', '.join(_FEE_TYPES[g.kind])}, "
                                        f"got {g.fee_type!r}")
    for option in ("fee_code", "fixed_fee"):
        value = getattr(g, option)
        if not (value.isascii() and value.isdigit() and len(value) <= 6):
            raise SettingsError(option, f"1-6 digits (fen), got {value!r}")
    if g.kind == "cmpp":
        if g.version not in ("3.0", "2.0"):
            raise SettingsError("version", f'CMPP "3.0" or "2.0", got {g.version!r}')
        if not 0 <= g.fee_user_type <= 3:
            raise SettingsError("fee_user_type", f"0 to 3, got {g.fee_user_type}")
        if g.fee_user_type == 3 and not g.charge_number:
            raise SettingsError("charge_number", "fee_user_type = 3 charges this number: set it")
    else:
        _check_bind(g)
