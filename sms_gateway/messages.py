"""Message templates per language with the operator's signature, kept within one SMS.

docs/protocols/sms.md §1.7: signature plus text must fit in 70 UCS2 characters so nothing is
concatenated and each send is billed once. A catalogue refuses, at construction, any template
that cannot fit with its parameters at their declared maximum length; rendering checks again
and raises :class:`MessageTooLong` (never silently sends a 2-part OTP).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from sms_gateway.encoding import ucs2_units
from sms_gateway.errors import MessageTooLong, SmsError
from sms_gateway.texts import SMS_TEMPLATES

__all__ = ["DEFAULT_TEMPLATES", "MAX_UNITS", "MessageCatalog", "TemplateError"]

MAX_UNITS = 70  # §1.7: one UCS2 SMS

# template name → language → text (sms_gateway/texts.py). ``{signature}`` is put in front automatically.
DEFAULT_TEMPLATES: dict[str, dict[str, str]] = SMS_TEMPLATES
# Parameters the default templates fill in when the caller leaves them out.
DEFAULT_PARAMS: dict[str, str] = {"minutes": "5"}
# Longest value each parameter may take (for the fit check at construction).
DEFAULT_PARAM_MAX: dict[str, int] = {"code": 8, "minutes": 2}


class TemplateError(SmsError):
    """A template is unknown, malformed, or cannot fit in one SMS."""

    code = "template_invalid"


@dataclass(frozen=True, slots=True)
class MessageCatalog:
    """``render(template, params, lang)`` → "【signature】text"; ``lang`` falls back to zh."""

    signature: str
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_TEMPLATES)
    defaults: Mapping[str, str] = field(default_factory=lambda: DEFAULT_PARAMS)
    param_max: Mapping[str, int] = field(default_factory=lambda: DEFAULT_PARAM_MAX)
    max_units: int = MAX_UNITS
    fallback_lang: str = "zh"

    def __post_init__(self) -> None:
        for name, langs in self.templates.items():
            for lang, text in langs.items():
                worst = self._fill(text, {k: "8" * self.param_max.get(k, 6) for k in _fields(text)},
                                   f"{name}/{lang}")
                units = ucs2_units(self.signature + worst)
                if units > self.max_units:
                    raise TemplateError(
                        f"template {name}/{lang} needs {units} UCS2 characters with the signature "
                        f"(max {self.max_units}); shorten it",
                        code="template_too_long",
                    )

    def render(self, template: str, params: Mapping[str, str], lang: str = "zh") -> str:
        langs = self.templates.get(template)
        if langs is None:
            raise TemplateError(f"unknown SMS template {template!r}", code="template_unknown")
        text = langs.get(lang) or langs.get(self.fallback_lang) or next(iter(langs.values()))
        out = self.signature + self._fill(text, {**self.defaults, **params}, template)
        units = ucs2_units(out)
        if units > self.max_units:
            raise MessageTooLong(f"rendered {template!r} is {units} UCS2 characters (max {self.max_units})")
        return out

    @staticmethod
    def _fill(text: str, params: Mapping[str, str], where: str) -> str:
        try:
            return text.format_map(dict(params))
        except (KeyError, IndexError, ValueError) as exc:
            raise TemplateError(f"template {where}: missing or bad parameter {exc}") from exc


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}
