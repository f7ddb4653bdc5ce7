"""Small helpers the NOC resource pages share: form-field parsing with zh+en messages.

A :class:`FormError` carries the message in both languages; views catch it, flash it
(``tr(zh, en)``) and re-render the form with what was typed, status 400.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from flask import flash

from portal.web.console import tr
from portal.web.noc import texts as T

__all__ = ["FormError", "end_of_day", "flash_error", "form_bool", "form_date", "form_number",
           "form_text", "new_secret"]


class FormError(Exception):
    """Bad form input; ``zh`` and ``en`` are shown to the operator."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def flash_error(exc: Exception) -> None:
    """Flash a FormError in the console language, anything else (store ValidationError,
    English) with a bilingual prefix."""
    if isinstance(exc, FormError):
        flash(tr(exc.zh, exc.en), "error")
    else:
        flash(tr(*T.INVALID_INPUT) + str(exc), "error")


def form_text(form: Mapping[str, str], name: str, label: tuple[str, str], *, required: bool = False,
              max_len: int = 200) -> str:
    value = str(form.get(name, "")).strip()
    if required and not value:
        raise FormError(*T.field_required(label))
    if len(value) > max_len:
        raise FormError(*T.field_too_long(label, max_len))
    return value


def form_number(form: Mapping[str, str], name: str, label: tuple[str, str], *, scale: float = 1,
                minimum: float = 0, integer: bool = False) -> int | None:
    """An optional number field (empty = None = unlimited), multiplied by ``scale`` and rounded
    to an integer; it must be greater than 0 and at least ``minimum`` (in the typed unit)."""
    raw = str(form.get(name, "")).strip().replace(",", "")
    if not raw:
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise FormError(*T.number_expected(label)) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FormError(*T.not_a_number(label))
    if value <= 0:
        raise FormError(*T.number_not_positive(label))
    if value < minimum:
        raise FormError(*T.number_below(label, minimum))
    if value > 1e15:
        raise FormError(*T.number_too_large(label))
    return max(1, round(value * scale))


def form_bool(form: Mapping[str, str], name: str) -> bool:
    return str(form.get(name, "")).lower() in ("1", "on", "true", "yes")


def form_date(raw: str, label: tuple[str, str]) -> dt.date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise FormError(*T.bad_date(label)) from None


def end_of_day(day: dt.date, timezone: str) -> float:
    """Epoch seconds of the local midnight after ``day`` (so the whole day is included)."""
    nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZoneInfo(timezone))
    return nxt.timestamp()


def new_secret() -> str:
    """A fresh shared secret for an AC: 24 URL-safe characters (~143 bits), no symbols that AC
    command lines mangle."""
    return secrets.token_urlsafe(18)
