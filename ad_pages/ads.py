"""The ad a page shows, as plain strings for the template.

Campaigns (:mod:`ad_pages.campaigns`) come first; :func:`campaign_ad` turns the chosen one into
the template's ``ad``. A venue without campaigns keeps its inline ``ads`` list (plain dicts:
``id``, ``title``, ``text``, ``image`` as a ``data:`` URI so pages need no external host):
:func:`select_ad` rotates it by a caller-given number (e.g. the impression count), falling
back to the operator's built-in ad.

Every ``ad`` has the same keys: ``id``, ``title``, ``text``, ``image``, ``click`` (our click
counter URL, "" = not clickable), ``html`` (sandbox-rendered HTML for an iframe ``srcdoc``)
and ``campaign`` (the campaign id, "" = not a campaign).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ad_pages.campaigns import Campaign
from ad_pages.texts import DEFAULT_AD_TEXT, DEFAULT_AD_TITLE, LANGUAGES

__all__ = ["DEFAULT_AD", "campaign_ad", "select_ad"]

# A small inline SVG banner (no external assets, ~0.5 KB).
_SVG = (
    "data:image/svg+xml;utf8,"
    "%3Csvg xmlns='http://www.w3.org/2000/svg' width='320' height='120'%3E"
    "%3Crect width='320' height='120' rx='12' fill='%230b6bcb'/%3E"
    "%3Ccircle cx='60' cy='60' r='34' fill='%2319a0d8'/%3E"
    "%3Cpath d='M38 62a31 31 0 0 1 44 0M46 70a19 19 0 0 1 28 0' stroke='white' "
    "stroke-width='6' fill='none'/%3E"
    "%3Ccircle cx='60' cy='80' r='5' fill='white'/%3E"
    "%3Ctext x='110' y='70' font-size='26' fill='white' font-family='sans-serif'%3ECity Wi-Fi%3C/text%3E"
    "%3C/svg%3E"
)

DEFAULT_AD: dict[str, Any] = {
    "id": "operator-default",
    "title": dict(zip(LANGUAGES, DEFAULT_AD_TITLE, strict=True)),
    "text": dict(zip(LANGUAGES, DEFAULT_AD_TEXT, strict=True)),
    "image": _SVG,
}


def _localised(value: Any, lang: str) -> str:
    if isinstance(value, Mapping):
        return str(value.get(lang) or value.get("zh") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def select_ad(ads: Sequence[Mapping[str, Any]], n: int, lang: str) -> dict[str, str]:
    """The ad to show for the ``n``-th impression, as plain strings in ``lang``."""
    usable = [a for a in ads if isinstance(a, Mapping) and a.get("id")]
    ad = usable[n % len(usable)] if usable else DEFAULT_AD
    image = str(ad.get("image") or "")
    if image and not image.startswith("data:image/"):
        image = ""    # pages carry no external assets (walled garden, page weight)
    return {
        "id": str(ad.get("id")),
        "title": _localised(ad.get("title"), lang),
        "text": _localised(ad.get("text"), lang),
        "image": image,
        "click": "",
        "html": "",
        "campaign": "",
    }


def campaign_ad(campaign: Campaign, *, click: str = "", html: str = "") -> dict[str, str]:
    """The template's ``ad`` for a campaign. ``click`` is the counting redirect on our host
    (never the advertiser's URL itself, so clicks are counted), ``html`` the creative's
    sandbox-rendered HTML (kind "html"; "" otherwise)."""
    cr = campaign.creative
    return {
        "id": campaign.id,
        "title": cr.title,
        "text": cr.text,
        "image": cr.image if cr.kind == "image" else "",
        "click": click if cr.click_url else "",
        "html": html if cr.kind == "html" else "",
        "campaign": campaign.id,
    }
