"""deploy/citywifi.example.toml lists every setting with its default and a comment, and is
exactly what ``citywifi config example`` generates from portal/runtime/settings.py."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest

from portal.commands.config import field_comments, render_example
from portal.runtime.settings import AcSeed, Settings, SmsGatewaySettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "citywifi.example.toml"
REGENERATE = "python3 -m portal.cli config example > deploy/citywifi.example.toml"


def _all_fields(cls: type, path: str = "") -> list[tuple[str, str]]:
    """(dotted key, "Class.field") of every plain setting, table lists' items included."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        dotted = f"{path}{f.name}"
        if dataclasses.is_dataclass(tp):
            out += _all_fields(tp, dotted + ".")  # type: ignore[arg-type]
        elif typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            out.append((dotted, f"{cls.__name__}.{f.name}"))
            out += _all_fields(typing.get_args(tp)[0], dotted + "[].")
        else:
            out.append((dotted, f"{cls.__name__}.{f.name}"))
    return out


def test_example_file_is_the_generated_one() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), \
        f"deploy/citywifi.example.toml is stale: run `{REGENERATE}`"


def test_loading_the_example_gives_exactly_the_defaults(tmp_path: Path) -> None:
    loaded = load_settings(EXAMPLE, environ={})
    assert loaded == Settings()
    # Every plain setting is written out (not merely defaulted because it is absent).
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    missing = []
    every = [dotted for dotted, _ in _all_fields(Settings)]
    for dotted in every:
        if "[]" in dotted or dotted + "[]." in " ".join(every):
            continue   # tables of tables: a commented entry, checked below
        node: object = data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(dotted)
                break
            node = node[part]
    assert not missing, f"settings missing from the example: {missing}; run `{REGENERATE}`"


@pytest.mark.parametrize(("header", "cls"), [("[[acs]]", AcSeed), ("[[sms.gateways]]", SmsGatewaySettings)])
def test_commented_table_entries_list_every_key_with_its_default(header: str, cls: type) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    start = lines.index("# " + header)
    block = [header]
    for line in lines[start + 1:]:
        if not line.startswith("# ") or " = " not in line:
            break
        block.append(line[2:])
    parsed = tomllib.loads("\n".join(block))
    entry = parsed["acs"][0] if header == "[[acs]]" else parsed["sms"]["gateways"][0]
    assert set(entry) == {f.name for f in dataclasses.fields(cls)}
    defaults = cls()
    for key, value in entry.items():
        expected = getattr(defaults, key)
        assert (tuple(value) if isinstance(value, list) else value) == expected, key


def test_every_setting_has_a_one_line_comment() -> None:
    comments = field_comments()
    lacking = [qual for _, qual in _all_fields(Settings) if not comments.get(qual)]
    assert not lacking, f"give these settings a comment in portal/runtime/settings.py: {lacking}"
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if " = " in line and not line.startswith("#"):
            assert "  # " in line, line


def test_a_changed_default_is_detected(tmp_path: Path) -> None:
    """The comparison above really compares: one edited value makes the loaded settings differ."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("auth_port = 1812", "auth_port = 1912", 1)
    edited = tmp_path / "edited.toml"
    edited.write_text(text, encoding="utf-8")
    assert load_settings(edited, environ={}) != Settings()


def test_config_command_prints_the_example_and_checks_files(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "portal.cli", "config", "example"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == render_example()
    ok = subprocess.run([sys.executable, "-m", "portal.cli", "-c", str(EXAMPLE), "config", "check"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[radius]\nauth_port = \"abc\"\n", encoding="utf-8")
    err = subprocess.run([sys.executable, "-m", "portal.cli", "-c", str(bad), "config", "check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert err.returncode == 2 and "radius.auth_port" in err.stderr
