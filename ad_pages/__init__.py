"""Venue pages: sandboxed rendering, default templates, ad selection (library: no portal imports)."""

from ad_pages.ads import DEFAULT_AD, campaign_ad, select_ad
from ad_pages.campaigns import Campaign, CampaignInvalid, parse_campaign, select_campaign
from ad_pages.sandbox import PAGES, PageRenderer, RenderLimits, RenderResult, TemplateProblem, plain
from ad_pages.texts import LANGUAGES, texts

__all__ = [
    "DEFAULT_AD",
    "LANGUAGES",
    "PAGES",
    "Campaign",
    "CampaignInvalid",
    "PageRenderer",
    "RenderLimits",
    "RenderResult",
    "TemplateProblem",
    "campaign_ad",
    "parse_campaign",
    "plain",
    "select_ad",
    "select_campaign",
    "texts",
]
