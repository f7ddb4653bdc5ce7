"""``citywifi config example|check``: the settings file, generated from the settings themselves.

``example`` prints a ``citywifi.toml`` that lists every setting of :mod:`portal.runtime.settings` with
its default and a one-line comment (the comment written next to the field in settings.py or
the ``settings_*`` module holding its section), so
``deploy/citywifi.example.toml`` cannot drift from the code: ``tests/deploy`` regenerates it
and compares. Tables of tables (``[[acs]]``, ``[[sms.gateways]]``) are shown as a commented-out
block listing every key of one entry.

``check`` loads the settings (file + ``CITYWIFI_*`` environment) exactly as every other
subcommand does and prints ``ok`` — or the error naming the bad key — so an operator can
validate ``/etc/citywifi/citywifi.toml`` before restarting services.

    citywifi config example > deploy/citywifi.example.toml
    citywifi -c /etc/citywifi/citywifi.toml config check
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import math
import typing
from pathlib import Path
from typing import Any

from portal.commands import texts
from portal.runtime import settings as settings_module
from portal.runtime.settings import Settings

__all__ = ["add_arguments", "field_comments", "render_example", "run"]

# Comments for fields that carry none in settings.py (the generator needs one line for each;
# a new field without a comment here or there makes tests/deploy fail, on purpose).
FALLBACK_COMMENTS: dict[str, str] = {
    "Settings.data_dir": "where embedded Redis, keys, logs and the file SMS outbox live",
    "Settings.acs": "ACs copied into the Redis AC registry at start-up (never overwriting edits)",
    "Settings.log_level": "DEBUG, INFO, WARNING or ERROR",
    "RedisSettings.sentinel_master": "Sentinel: name of the monitored master",
    "RedisSettings.sentinel_password": "Sentinel: password of the sentinels themselves (not of Redis)",
    "RedisSettings.socket_timeout": "seconds before a Redis call counts as failed",
    "PortalClientSettings.source_host": "local address the portal's UDP socket towards ACs binds",
    "ListenerSettings.host": "address the ac-listener UDP socket binds",
    "ListenerSettings.port": "UDP port ACs send NTF_LOGOUT / MAC-trigger to (spec §1.9: 50100)",
    "SmsSettings.template_otp_en": "English override of the OTP text ({code}, {minutes})",
    "SmsGatewaySettings.name": "unique gateway name (logs, delivery reports)",
    "RadiusSettings.host": "address the RADIUS ports listen on",
    "RadiusSettings.auth_port": "Access-Request port (RFC 2865)",
    "RadiusSettings.acct_port": "Accounting-Request port (RFC 2866)",
    "RadiusSettings.workers": "worker processes sharing the ports (SO_REUSEPORT); about one per core",
    "RadiusSettings.coa_timeout": "seconds to wait for a Disconnect/CoA answer from the AC",
    "RadiusSettings.coa_retries": "Disconnect/CoA tries before falling back to Portal REQ_LOGOUT",
    "WebSettings.host": "address gunicorn binds",
    "WebSettings.port": "port gunicorn binds (nginx proxies to it)",
    "WebSettings.workers": "gunicorn worker processes (about one per core)",
    "WebSettings.threads": "threads per worker (a login waits on the AC, so many)",
    "SmsSettings.signature": "SMS signature put in front of every message",
    "SmsGatewaySettings.connect_timeout": "seconds to open the gateway connection",
    "SmsGatewaySettings.content_type": "http: Content-Type of the body",
    "SmsGatewaySettings.success_value": "http: value success_field must have",
    "OtpSettings.per_mac_day": "codes asked by one device MAC per day",
    "OtpSettings.per_ip_day": "codes asked from one client IP per day",
    "NumberPolicySettings.lookup_timeout": "seconds to wait for the subscriber lookup",
    "AcSimSettings.host": "address the simulated AC's portal protocol socket binds",
    "AcSimSettings.flavour": "vendor profile the simulated AC speaks (ac_adapters.profiles)",
    "AcSimSettings.portal_port": "ac-listener port it sends NTF_LOGOUT / MAC-trigger to",
    "AcSimSettings.secret": "portal protocol shared secret of the simulated AC",
    "AcSimSettings.radius_host": "RADIUS server the simulated AC asks",
    "AcSimSettings.radius_auth_port": "its authentication port",
    "AcSimSettings.radius_acct_port": "its accounting port",
    "AcSimSettings.radius_secret": "RADIUS shared secret of the simulated AC",
    "AcSimSettings.coa_port": "RFC 5176 Disconnect/CoA port of the simulated AC",
    "AcSimSettings.nas_identifier": "NAS-Identifier it sends",
    "AcSimSettings.ssid": "SSID it reports for its phones",
    "AcSimSettings.ap_mac": "AP MAC it reports",
    "AcSimSettings.portal_url": "portal page its redirect URLs point to",
    "AcSeed.name": "unique AC name",
    "AcSeed.port": "portal protocol port of the AC",
    "AcSeed.rfc5176": "the AC accepts RFC 5176 Disconnect/CoA",
    "AcSeed.coa_port": "its RFC 5176 port",
    "AcSeed.heartbeat": "send NTF_HEARTBEAT to this AC",
    "AcSeed.user_sync": "send NTF_USER_HEARTBEAT (online user sync) to this AC",
    "AcSeed.mac_auth": "MAC-trigger / MAC authentication for returning phones",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("example", "check"),
                        help="example: print a citywifi.toml with every setting; check: validate settings")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "example":
        print(render_example(), end="")
        return 0
    print(texts.CONFIG_OK)   # load_settings already succeeded in the CLI
    return 0


# --- comments --------------------------------------------------------------------------------

def field_comments() -> dict[str, str]:
    """``"Class.field"`` → its one-line comment in settings.py or the module of a settings
    class kept apart from it (``portal/runtime/settings_*.py``, ``portal/runtime/report_settings.py``):
    inline, else the comment lines right above it; completed from ``FALLBACK_COMMENTS``; the
    comments that list a table of the code are written from it (``_table_comments``)."""
    found: dict[str, str] = {}
    for module in _settings_modules():
        found.update(_comments_in(inspect.getsource(module)))
    return {**FALLBACK_COMMENTS, **found, **_table_comments()}


def _table_comments() -> dict[str, str]:
    """Comments that list a table of the code, written from the table, so that a new SMS
    gateway kind reaches the example by regenerating it."""
    from sms_gateway.kinds import KINDS

    ports = ", ".join(f"{name} {kind.default_port}" for name, kind in KINDS.items() if kind.default_port)
    return {"SmsGatewaySettings.kind": ", ".join(KINDS),
            "SmsGatewaySettings.port": f"0 = protocol default ({ports})"}


def _settings_modules() -> list[Any]:
    """settings.py first, then every other module that defines a class reachable from Settings."""
    modules = [settings_module]
    todo: list[Any] = [Settings]
    seen: set[Any] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        module = inspect.getmodule(cls)
        if module is not None and module not in modules:
            modules.append(module)
        for tp in typing.get_type_hints(cls).values():
            inner = typing.get_args(tp)[0] if typing.get_origin(tp) is tuple and typing.get_args(tp) else tp
            if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                todo.append(inner)
    return modules


def _comments_in(source: str) -> dict[str, str]:
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            line = lines[stmt.lineno - 1]
            comment = _inline_comment(line)
            if not comment:
                above: list[str] = []
                i = stmt.lineno - 2
                while i >= 0 and lines[i].strip().startswith("#"):
                    above.insert(0, lines[i].strip().lstrip("#").strip())
                    i -= 1
                comment = " ".join(above)
            if comment:
                found[f"{node.name}.{stmt.target.id}"] = comment
    return found


def _inline_comment(line: str) -> str:
    # The first '#' outside a string literal; settings defaults are simple literals.
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[i + 1:].strip()
    return ""


# --- rendering -------------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} in TOML")
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)   # a valid TOML basic string
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _is_table_list(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0])


def _key_lines(cls: type, comments: dict[str, str], prefix: str = "") -> list[str]:
    """``key = default  # comment`` for every plain field of ``cls`` (``prefix`` comments out)."""
    hints = typing.get_type_hints(cls)
    defaults = cls()
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            continue
        if _is_table_list(tp):
            continue
        comment = comments.get(f"{cls.__name__}.{f.name}", "")
        text = f"{prefix}{f.name} = {_toml_value(getattr(defaults, f.name))}"
        out.append(f"{text}  # {comment}" if comment else text)
    return out


def _table_lists(cls: type, path: str, comments: dict[str, str]) -> list[str]:
    """Commented-out ``[[path.field]]`` blocks for every table-list field of ``cls``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if not _is_table_list(tp):
            continue
        item = typing.get_args(tp)[0]
        dotted = f"{path}.{f.name}" if path else f.name
        comment = comments.get(f"{cls.__name__}.{f.name}", "")
        doc = (inspect.getdoc(item) or "").splitlines()[0] if inspect.getdoc(item) else ""
        out += ["", f"# {dotted}: {comment or doc} — none by default; one entry looks like:",
                f"# [[{dotted}]]"]
        out += _key_lines(item, comments, prefix="# ")
    return out


def render_example() -> str:
    """The whole example ``citywifi.toml`` (every setting, its default, a comment)."""
    comments = field_comments()
    hints = typing.get_type_hints(Settings)
    out = [
        "# citywifi.toml — every setting with its default (generated by `citywifi config example`;",
        "# do not edit by hand: tests/deploy fails when it differs from portal/runtime/settings.py).",
        "# Copy it to /etc/citywifi/citywifi.toml and change what you need; every key can also be",
        "# set in the environment: radius.auth_port <- CITYWIFI_RADIUS_AUTH_PORT (lists comma-separated).",
        "",
    ]
    out += _key_lines(Settings, comments)
    out += _table_lists(Settings, "", comments)
    for f in dataclasses.fields(Settings):
        if not dataclasses.is_dataclass(hints[f.name]):
            continue
        tp = typing.cast(type, hints[f.name])
        doc = inspect.getdoc(tp) or ""
        out += ["", f"[{f.name}]"]
        if doc and not doc.startswith(tp.__name__ + "("):   # dataclass' generated signature
            out.insert(len(out) - 1, "# " + doc.splitlines()[0])
        out += _key_lines(tp, comments)
        out += _table_lists(tp, f.name, comments)
    return "\n".join(out) + "\n"
