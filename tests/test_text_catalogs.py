"""User-facing words live in catalogs, so a translator or a product owner changes a sentence in
one room and a newcomer finds it in one step.

Every area keeps its Simplified Chinese / English text in a catalog module named ``texts.py``
(or ``<topic>_texts.py`` where one area needs more than one); the phone's error codes map to
their messages in ``portal/web/errors.py``. Code elsewhere refers to catalog entries by name.
Chinese outside a catalog is either a fact (the names of provinces and carriers that operator
data is matched against) listed below with its reason, or a word that should move.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "radius", "ac_adapters", "sms_gateway", "ad_pages")
CHINESE = re.compile("[\u4e00-\u9fff]")

# Modules that may hold Chinese without being named *texts.py, and why.
NOT_NAMED_TEXTS = {
    "portal/web/errors.py": "the phone's error catalog: error code -> message and HTTP status",
    "sms_gateway/regions.py": "province and city names: the facts operator region data is matched "
                              "against (四川 = 四川省 = Sichuan), not wording",
    "portal/runtime/settings_sms.py": "the default SMS signature is a setting value (the operator's "
                                      "registered sender name), and the region settings' comments "
                                      "show example values the generated example file carries",
}


def _is_catalog(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return name == "texts.py" or name.endswith("_texts.py") or relative in NOT_NAMED_TEXTS


def test_chinese_text_lives_only_in_catalogs() -> None:
    stray = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if _is_catalog(relative):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if CHINESE.search(line):
                    stray.append(f"{relative}:{number}: {line.strip()[:80]}")
    assert not stray, ("move these words into the area's texts.py catalog (or, if they are data, "
                       "add the module to NOT_NAMED_TEXTS with the reason):\n" + "\n".join(stray))


def test_the_allowlist_names_real_modules() -> None:
    missing = [name for name in NOT_NAMED_TEXTS if not (ROOT / name).exists()]
    assert not missing, f"gone, remove from NOT_NAMED_TEXTS: {missing}"
