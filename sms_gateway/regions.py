"""Home region (province, city) of a mobile number from its first 7 digits (docs/protocols/sms.md §3.1).

The 7-digit ``1 + network code + H0H1H2H3`` segment identifies the home city. The table comes from
the operator (question 3 of docs/protocols/sms.md §5) as a CSV file; it is optional — without it, numbers
simply have no region, and a policy that restricts regions refuses them (or not, per setting).

CSV format (UTF-8, BOM tolerated)::

    # version: 2024-05-01 Sichuan Telecom export      <- optional comment lines start with '#'
    prefix,province,city,province_en,city_en           <- header; the last two columns optional
    1330800,四川,成都,Sichuan,Chengdu
    1330801,四川,成都,,                                  <- empty English names are fine

``prefix`` is exactly 7 ASCII digits from 1300000 to 1999999 and appears once. Province may be
the short (四川) or full (四川省) Chinese name or the English name; it is stored in the short form.
The first ``# version:`` comment, if present, is kept as the table version.

Hot swap: ``RegionTable`` watches the file (mtime, size, inode), checked at most every
``check_interval`` seconds on lookup. A changed file is parsed completely and validated before it
replaces the old table; a broken file keeps the old table and records ``last_error``. Replace the
file atomically (write a temporary file in the same directory, then rename) so a reader never sees
half a file. Why a file and not Redis: the table is read on every code request by every web worker,
is up to ~500k rows, and changes a few times a year; an in-process array index answers in
microseconds with no network round trip and costs Redis no memory. Each host needs the file (the
same way it needs the settings file); pushing it is the deployment tool's job.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sms_gateway.errors import RegionTableError

__all__ = [
    "CITY_SUFFIX", "PROVINCES", "Region", "RegionIndex", "RegionTable", "canonical_province", "province_en",
]

# Dropped when comparing city names, so 成都 and 成都市 are one city (a naming fact, like the
# province names below).
CITY_SUFFIX = "市"

# Province-level divisions: short Chinese name → (full Chinese name, English name).
PROVINCES: dict[str, tuple[str, str]] = {
    "北京": ("北京市", "Beijing"), "天津": ("天津市", "Tianjin"), "上海": ("上海市", "Shanghai"),
    "重庆": ("重庆市", "Chongqing"), "河北": ("河北省", "Hebei"), "山西": ("山西省", "Shanxi"),
    "辽宁": ("辽宁省", "Liaoning"), "吉林": ("吉林省", "Jilin"), "黑龙江": ("黑龙江省", "Heilongjiang"),
    "江苏": ("江苏省", "Jiangsu"), "浙江": ("浙江省", "Zhejiang"), "安徽": ("安徽省", "Anhui"),
    "福建": ("福建省", "Fujian"), "江西": ("江西省", "Jiangxi"), "山东": ("山东省", "Shandong"),
    "河南": ("河南省", "Henan"), "湖北": ("湖北省", "Hubei"), "湖南": ("湖南省", "Hunan"),
    "广东": ("广东省", "Guangdong"), "海南": ("海南省", "Hainan"), "四川": ("四川省", "Sichuan"),
    "贵州": ("贵州省", "Guizhou"), "云南": ("云南省", "Yunnan"), "陕西": ("陕西省", "Shaanxi"),
    "甘肃": ("甘肃省", "Gansu"), "青海": ("青海省", "Qinghai"), "台湾": ("台湾省", "Taiwan"),
    "内蒙古": ("内蒙古自治区", "Inner Mongolia"), "广西": ("广西壮族自治区", "Guangxi"),
    "西藏": ("西藏自治区", "Tibet"), "宁夏": ("宁夏回族自治区", "Ningxia"),
    "新疆": ("新疆维吾尔自治区", "Xinjiang"), "香港": ("香港特别行政区", "Hong Kong"),
    "澳门": ("澳门特别行政区", "Macao"),
}
_ALIASES: dict[str, str] = {}
for _short, (_full, _en) in PROVINCES.items():
    _ALIASES[_short] = _ALIASES[_full] = _ALIASES[_en.lower()] = _short


def canonical_province(name: str) -> str:
    """``四川省`` / ``Sichuan`` / ``四川`` → ``四川``; unknown names come back stripped."""
    name = name.strip()
    return _ALIASES.get(name.lower(), _ALIASES.get(name, name))


def province_en(short: str) -> str:
    """English name of a province in short form, or the input when unknown."""
    entry = PROVINCES.get(short)
    return entry[1] if entry else short


@dataclass(frozen=True, slots=True)
class Region:
    province: str          # short Chinese name, e.g. 四川
    city: str              # Chinese city name, e.g. 成都
    province_en: str = ""
    city_en: str = ""


_LOW, _HIGH = 1_300_000, 2_000_000   # 7-digit prefixes of 13x–19x


@dataclass(frozen=True, slots=True)
class RegionIndex:
    """An immutable parsed table: a uint16 slot per 7-digit prefix (0 = unknown) into ``regions``.

    700k slots × 2 bytes = 1.4 MB regardless of row count, and a lookup is one array read.
    """

    version: str
    rows: int
    slots: array
    regions: tuple[Region | None, ...]

    def lookup(self, national: str) -> Region | None:
        if len(national) < 7 or not national[:7].isdigit():
            return None
        n = int(national[:7])
        if not _LOW <= n < _HIGH:
            return None
        return self.regions[self.slots[n - _LOW]]

    @classmethod
    def parse(cls, text: str) -> RegionIndex:
        """Parse and validate the CSV; raise RegionTableError naming the first bad line."""
        text = text.removeprefix("\ufeff")
        version = ""
        body_lines: list[str] = []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                if not version and stripped[1:].strip().lower().startswith("version:"):
                    version = stripped[1:].strip()[len("version:"):].strip()
                body_lines.append("")      # keep line numbers right for error messages
                continue
            body_lines.append(line)
        reader = csv.reader(io.StringIO("\n".join(body_lines)))
        slots = array("H", bytes(2 * (_HIGH - _LOW)))
        regions: list[Region | None] = [None]
        ids: dict[Region, int] = {}
        header_seen = False
        rows = 0
        for row in reader:
            lineno = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if not header_seen:
                if [c.lower() for c in cells[:3]] != ["prefix", "province", "city"]:
                    raise RegionTableError(
                        f"region table line {lineno}: expected the header "
                        "prefix,province,city[,province_en,city_en]"
                    )
                header_seen = True
                continue
            if not 3 <= len(cells) <= 5:
                raise RegionTableError(
                    f"region table line {lineno}: expected 3 to 5 columns, got {len(cells)}"
                )
            prefix, province, city = cells[0], canonical_province(cells[1]), cells[2]
            digits_ok = len(prefix) == 7 and prefix.isascii() and prefix.isdigit()
            if not digits_ok or not _LOW <= int(prefix) < _HIGH:
                raise RegionTableError(
                    f"region table line {lineno}: bad prefix {prefix!r} (7 digits, 13x–19x)"
                )
            if not province or not city:
                raise RegionTableError(f"region table line {lineno}: province and city must not be empty")
            p_en = cells[3] if len(cells) > 3 and cells[3] else province_en(province)
            c_en = cells[4] if len(cells) > 4 and cells[4] else ""
            region = Region(province, city, p_en, c_en)
            rid = ids.get(region)
            if rid is None:
                rid = len(regions)
                if rid > 0xFFFF:
                    raise RegionTableError("region table: more than 65535 distinct cities")
                ids[region] = rid
                regions.append(region)
            slot = int(prefix) - _LOW
            if slots[slot]:
                raise RegionTableError(f"region table line {lineno}: prefix {prefix} listed twice")
            slots[slot] = rid
            rows += 1
        if not header_seen:
            raise RegionTableError("region table: empty file (no header line)")
        return cls(version, rows, slots, tuple(regions))


_EMPTY = RegionIndex("", 0, array("H", bytes(2 * (_HIGH - _LOW))), (None,))


class RegionTable:
    """A region table bound to a CSV file that reloads itself when the file changes.

    ``path`` None (or a missing file at start) gives an empty table: every lookup is None.
    Safe to share between threads: a reload swaps one reference.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path) if path else None
        self.check_interval = check_interval
        self.clock = clock
        self.index: RegionIndex = _EMPTY
        self.last_error: str = ""
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = float("-inf")
        self._lock = threading.Lock()
        if self.path is not None:
            self.reload(force=True)

    @property
    def version(self) -> str:
        return self.index.version

    def lookup(self, national: str) -> Region | None:
        """Region of an 11-digit national number, or None when the table does not know it."""
        if self.path is not None and self.clock() >= self._next_check:
            self.reload()
        return self.index.lookup(national)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or ``force``); True when a new table was installed.

        A file that fails validation leaves the current table in place and sets ``last_error``
        (an operator's typo must not empty the table and lock every user out).
        """
        if self.path is None:
            return False
        with self._lock:
            self._next_check = self.clock() + self.check_interval
            try:
                st = self.path.stat()
            except OSError as exc:
                self.last_error = f"{self.path}: {exc.strerror or exc}"
                return False
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if not force and stamp == self._stamp:
                return False
            try:
                index = RegionIndex.parse(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, RegionTableError) as exc:
                self._stamp = stamp        # do not re-parse the same broken file every lookup
                self.last_error = f"{self.path}: {exc}"
                return False
            self.index = index
            self._stamp = stamp
            self.last_error = ""
            return True
