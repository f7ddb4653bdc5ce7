"""The 7-digit region CSV: format, validation, hot swap without restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sms_gateway.errors import RegionTableError
from sms_gateway.regions import RegionIndex, RegionTable, canonical_province

GOOD = """\ufeff# version: 2024-05 test export
# comment lines are ignored
prefix,province,city,province_en,city_en
1330800,四川省,成都,,Chengdu
1330801,四川,成都
1890830,Sichuan,绵阳,Sichuan,Mianyang

1991234,重庆,重庆
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_parse_good_table() -> None:
    index = RegionIndex.parse(GOOD)
    assert index.version == "2024-05 test export"
    assert index.rows == 4
    r = index.lookup("13308001234")
    assert r is not None
    assert (r.province, r.city, r.province_en, r.city_en) == ("四川", "成都", "Sichuan", "Chengdu")
    r2 = index.lookup("18908305555")
    assert r2 is not None and r2.city == "绵阳" and r2.province == "四川"
    assert index.lookup("13308021234") is None
    assert index.lookup("12345") is None
    assert len([r for r in index.regions if r is not None]) == 4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("prefix,city\n1330800,成都\n", "header"),
        ("prefix,province,city\n133080,四川,成都\n", "line 2: bad prefix"),
        ("prefix,province,city\n1230800,四川,成都\n", "bad prefix"),
        ("prefix,province,city\n13308x0,四川,成都\n", "bad prefix"),
        ("prefix,province,city\n1330800,四川\n", "3 to 5 columns"),
        ("prefix,province,city\n1330800,,成都\n", "must not be empty"),
        ("prefix,province,city\n1330800,四川,成都\n1330800,四川,成都\n",
         "line 3: prefix 1330800 listed twice"),
    ],
)
def test_bad_tables_name_the_line(text: str, needle: str) -> None:
    with pytest.raises(RegionTableError, match=needle):
        RegionIndex.parse(text)


def test_canonical_province() -> None:
    assert canonical_province("四川省") == canonical_province("sichuan") == "四川"
    assert canonical_province(" 四川 ") == "四川"
    assert canonical_province("广西壮族自治区") == "广西"
    assert canonical_province("Atlantis") == "Atlantis"


def _write(path: Path, text: str, mtime: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.utime(tmp, (mtime, mtime))
    tmp.replace(path)          # the documented atomic replacement


def test_hot_swap_on_file_change(tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    _write(path, "prefix,province,city\n1330800,四川,成都\n", 1_000)
    clock = Clock()
    table = RegionTable(path, check_interval=5, clock=clock)
    assert table.lookup("13308001234").city == "成都"  # type: ignore[union-attr]

    _write(path, "# version: 2\nprefix,province,city\n1330800,四川,自贡\n", 2_000)
    clock.now = 1        # inside the check interval: the old table still answers
    assert table.lookup("13308001234").city == "成都"  # type: ignore[union-attr]
    clock.now = 6
    assert table.lookup("13308001234").city == "自贡"  # type: ignore[union-attr]
    assert table.version == "2"


def test_broken_file_keeps_old_table(tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    _write(path, "prefix,province,city\n1330800,四川,成都\n", 1_000)
    clock = Clock()
    table = RegionTable(path, check_interval=1, clock=clock)
    _write(path, "prefix,province,city\nbroken,四川,成都\n", 2_000)
    clock.now = 2
    assert table.lookup("13308001234").city == "成都"  # type: ignore[union-attr]
    assert "bad prefix" in table.last_error
    # fixing the file recovers
    _write(path, "prefix,province,city\n1330800,四川,乐山\n", 3_000)
    clock.now = 4
    assert table.lookup("13308001234").city == "乐山"  # type: ignore[union-attr]
    assert table.last_error == ""


def test_missing_file_and_no_path(tmp_path: Path) -> None:
    table = RegionTable(tmp_path / "nope.csv")
    assert table.lookup("13308001234") is None
    assert "nope.csv" in table.last_error
    assert RegionTable(None).lookup("13308001234") is None
    # the file appearing later is picked up
    clock = Clock()
    late = RegionTable(tmp_path / "late.csv", check_interval=1, clock=clock)
    _write(tmp_path / "late.csv", "prefix,province,city\n1330800,四川,成都\n", 1_000)
    clock.now = 2
    assert late.lookup("13308001234") is not None
