"""Venue pages: sandboxed rendering, default templates, ad selection (library: no portal imports)."""

from ad_pages.ads import DEFAULT_AD, select_ad
from ad_pages.sandbox import PAGES, PageRenderer, RenderLimits, RenderResult, TemplateProblem, plain
from ad_pages.texts import LANGUAGES, texts

__all__ = [
    "DEFAULT_AD",
    "LANGUAGES",
    "PAGES",
    "PageRenderer",
    "RenderLimits",
    "RenderResult",
    "TemplateProblem",
    "plain",
    "select_ad",
    "texts",
]
