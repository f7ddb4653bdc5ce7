"""docs/integration/: what can be checked in the integration guides is checked.

* every ```toml block loads through ``portal.runtime.settings`` and each ``[[acs]]`` entry is a valid AC
  record (vendor profile, dialect, addresses, redirect key) that the registry accepts;
* every attribute name written in backticks exists in citywifi's RADIUS dictionary;
* the README's dialect tables say what ``ac_adapters.radius_dialects`` does;
* every guide covers the AC-side settings and the day-one troubleshooting symptoms.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.profiles import PROFILES
from ac_adapters.radius_dialects import DIALECTS
from portal.aaa.acs import AcRecord, AcRegistry
from portal.runtime.settings import load_settings
from radius.dictionary import load_dictionary

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "integration"
GUIDES = ("huawei", "h3c", "ruijie", "cmcc", "radius-only", "coovachilli", "mikrotik", "unifi", "omada")
PORTAL_GUIDES = ("huawei", "h3c", "ruijie", "cmcc")
GATEWAY_GUIDES = ("opennds",)     # gateways with their own captive portal

TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A backticked RADIUS attribute name: capitalised words joined by '-' (not a MAC address).
ATTRIBUTE = re.compile(r"`([A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+)`")
MAC = re.compile(r"^[0-9A-F]{2}(?:-[0-9A-F]{2}){5}$")

# Every guide covers these (lower-cased text must contain one spelling of each).
TOPICS = {
    "portal or RADIUS server": ("portal server", "radius authentication"),
    "user-name format": ("user-name format",),
    "Message-Authenticator": ("message-authenticator",),
    "DM/CoA": ("dm/coa", "disconnect"),
    "NAS-IP / BAS-IP": ("nas-ip",),
    "the [[acs]] entry": ("[[acs]]",),
    "attributes sent": ("what citywifi sends",),
}
SYMPTOMS = {
    "silent AC": ("silent",),
    "access device does not exist": ("access device does not exist",),
    "BAS-IP mismatch": ("bas-ip",),
    "Message-Authenticator drops": ("message-authenticator drops",),
    "reused token": ("reused credential",),
    "wrong header form": ("wrong header form",),
}


def _text(name: str) -> str:
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


def _all_docs() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def _row(section: str, dialect: str) -> str:
    rows = [line for line in section.splitlines() if line.startswith(f"| `{dialect}` |")]
    assert len(rows) == 1, f"README: {len(rows)} rows for dialect {dialect!r}"
    return rows[0]


@pytest.mark.parametrize("guide", GUIDES)
def test_every_guide_covers_the_settings_and_the_symptoms(guide: str) -> None:
    text = _text(guide).lower()
    for what, spellings in TOPICS.items():
        assert any(s in text for s in spellings), f"{guide}.md says nothing about {what}"
    if guide in PORTAL_GUIDES:
        for what in ("heartbeat", "redirect", "port 50100", "bas_ip"):
            assert what in text or what.replace("port ", "") in text, f"{guide}.md: {what}"
    trouble = _section(text, "## 4. troubleshooting")
    for symptom, spellings in SYMPTOMS.items():
        assert any(s in trouble for s in spellings), f"{guide}.md: no troubleshooting row for {symptom}"
    assert f"]({guide}.md)" in _text("README")


def _toml_blocks() -> list[tuple[str, int, str]]:
    found = []
    for name, text in _all_docs().items():
        for i, match in enumerate(TOML_BLOCK.finditer(text)):
            found.append((name, i, match.group(1)))
    return found


def _seeds(block: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "citywifi.toml"
        path.write_text(block, encoding="utf-8")
        return load_settings(path, environ={}).acs


@pytest.mark.parametrize(("doc", "index", "block"),
                         [pytest.param(*b, id=f"{b[0]}#{b[1]}") for b in _toml_blocks()])
def test_every_toml_block_is_a_valid_ac_entry(doc: str, index: int, block: str, tmp_path: Path,
                                              redis_client: Any) -> None:
    assert "acs" in tomllib.loads(block), f"{doc} block {index} has no [[acs]] entry"
    path = tmp_path / "citywifi.toml"
    path.write_text(block, encoding="utf-8")
    settings = load_settings(path, environ={})
    assert settings.acs
    registry = AcRegistry(redis_client)
    for seed in settings.acs:
        record = AcRecord.from_seed(seed)          # validates vendor, dialect, addresses, key
        registry.put(record)                        # and the registry's address ownership
        assert record.effective_radius_dialect in DIALECTS


def test_the_guides_have_toml_blocks_for_every_family() -> None:
    docs = {doc for doc, _, _ in _toml_blocks()}
    assert docs == {f"{g}.md" for g in (*GUIDES, *GATEWAY_GUIDES, "radius-proxy")}
    vendors = {AcRecord.from_seed(seed).vendor for doc, _, block in _toml_blocks()
               for seed in _seeds(block)}
    assert {"huawei-v2", "h3c", "ruijie", "cmcc", "autelan-mobile", "hanming"} <= vendors


def test_attribute_names_mentioned_exist_in_the_dictionary() -> None:
    known = set(load_dictionary().attributes.keys())
    mentioned: set[str] = set()
    unknown = []
    for name, text in _all_docs().items():
        for match in ATTRIBUTE.finditer(text):
            word = match.group(1)
            if MAC.match(word):
                continue
            mentioned.add(word)
            if word not in known:
                line = text.count("\n", 0, match.start()) + 1
                unknown.append(f"docs/integration/{name}:{line}: {word}")
    assert not unknown, "attribute names not in radius/dictionaries:\n  " + "\n  ".join(unknown)
    every_dialect_attr = {a.name for d in DIALECTS.values() for a in d.attributes}
    assert every_dialect_attr <= mentioned


def test_readme_dialect_tables_match_the_dialect_data() -> None:
    readme = _text("README")
    sends = _section(readme, "## What citywifi sends, per dialect")
    ids = _section(readme, "## Disconnect and CoA identifiers, per dialect")
    for name, dialect in DIALECTS.items():
        row = _row(sends, name)
        for attr in dialect.attributes:
            assert f"`{attr.name}`" in row, (name, attr.name)
        assert set(ATTRIBUTE.findall(row)) == {a.name for a in dialect.attributes}, name
        assert row.rstrip(" |").endswith("yes") == dialect.verified, name
        assert set(ATTRIBUTE.findall(_row(ids, name))) == set(dialect.disconnect_ids), name


def test_readme_family_table_names_every_profile() -> None:
    families = _section(_text("README"), "# Integrating an AC with citywifi")
    named = set(re.findall(r"`([a-z0-9-]+)`", families.split("\n## ")[0]))
    assert set(PROFILES) <= named


@pytest.mark.parametrize("guide", GATEWAY_GUIDES)
def test_every_gateway_guide_says_what_is_enforced_where(guide: str) -> None:
    text = _text(guide).lower()
    for what in ("## 2. on the gateway", "## 3. the `[[acs]]` entry", "## 4. what is enforced where",
                 "## 6. troubleshooting", "access device does not exist"):
        assert what in text, f"{guide}.md: {what}"
    assert f"]({guide}.md)" in _text("README")
