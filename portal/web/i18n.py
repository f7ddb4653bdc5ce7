"""Language of the phone pages: ``?lang=`` override, else Accept-Language (zh or en).

The words themselves are in the catalogs: ``ad_pages/texts.py``, ``portal/web/errors.py``,
``portal/web/console_texts.py`` and the consoles' ``texts.py``.
"""

from __future__ import annotations

__all__ = ["count_en", "other_language", "pick_language"]


def pick_language(accept_language: str | None, override: str | None = None,
                  allowed: tuple[str, ...] = ("zh", "en")) -> str:
    """``zh`` or ``en``. Accept-Language q-values are honoured; unknown languages are skipped;
    with nothing usable the first allowed language wins (Chinese by default)."""
    if override in ("zh", "en") and override in allowed:
        return override
    best: tuple[float, int, str] | None = None
    for index, part in enumerate((accept_language or "").split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("zh", "en") or primary not in allowed or q <= 0:
            continue
        candidate = (q, -index, primary)
        if best is None or candidate > best:
            best = candidate
    if best is not None:
        return best[2]
    return allowed[0] if allowed else "zh"


def other_language(lang: str) -> str:
    """The language a page's language link switches to."""
    return "zh" if lang == "en" else "en"


def count_en(n: int, one: str, many: str | None = None) -> str:
    """"1 session" / "2 sessions": an English count with the noun agreeing (Chinese needs no
    plural: its strings put a measure word before the noun instead)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"

