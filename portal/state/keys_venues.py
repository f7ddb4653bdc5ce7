"""Redis key names of venue content: page versions and assets, ad campaigns, and the guards of
template rendering (the per-page breaker, the per-account render slots).

Re-exported by :mod:`portal.state.keys`; callers use ``keys.<name>(...)``.
"""

from __future__ import annotations

from portal.state.keys_aaa import PREFIX
from portal.state.keys_consoles import bounded_part

__all__ = [
    "campaign_defs",
    "campaign_owners",
    "campaign_phone_day",
    "campaign_stats",
    "content_writes",
    "page_meta",
    "page_versions",
    "render_breaker",
    "render_slots",
    "venue_asset_blob",
    "venue_assets",
]


# --- venue pages and assets (portal/venues/pages.py, portal/venues/venue_assets.py) -------------------------
# One hash tag per venue (``{vp:<venue>}``) so a publish (new version + pointer) is one MULTI.

def page_meta(venue: str, page: str) -> str:
    """Hash: one venue page — ``draft`` (source), ``draft_author``, ``draft_at``, ``published``
    (version number, absent = none), ``published_source`` (copy of that version's source, so a
    phone view needs one HGET), ``last_version`` (counter)."""
    return f"{PREFIX}:{{vp:{venue}}}:page:{page}"


def page_versions(venue: str, page: str) -> str:
    """Hash: version number → JSON {version, source, author, at, note} (immutable history)."""
    return f"{PREFIX}:{{vp:{venue}}}:versions:{page}"


def venue_assets(venue: str) -> str:
    """Hash: asset name → JSON {name, kind, content_type, size, sha256, author, at}."""
    return f"{PREFIX}:{{vp:{venue}}}:assets"


def venue_asset_blob(venue: str, name: str) -> str:
    """String: the bytes of one venue asset (every web node reads the same Redis)."""
    return f"{PREFIX}:{{vp:{venue}}}:asset:{name}"


# --- ad campaigns (portal/venues/campaign_store.py) ---------------------------------------------------------

def campaign_defs() -> str:
    """Hash: campaign id → JSON of the campaign (ad_pages.campaigns.campaign_to_dict)."""
    return f"{PREFIX}:{{campaigns}}:defs"


def campaign_owners() -> str:
    """Hash: campaign id → JSON {o: owning account, v: targeted venues, b: stored bytes} — the
    quota index (portal/venues/campaign_store.py), rebuilt from ``campaign_defs`` when they disagree."""
    return f"{PREFIX}:{{campaigns}}:owners"


def campaign_stats(campaign: str, day: str) -> str:
    """Hash (TTL ~400 days): one campaign's counters for one local day (``day`` = YYYYMMDD),
    fields ``<venue>|imp``, ``<venue>|view``, ``<venue>|click``. One hash tag per campaign, so a
    stats range read stays in one slot."""
    return f"{PREFIX}:{{cs:{campaign}}}:day:{day}"


def campaign_phone_day(phone: str, day: str) -> str:
    """Hash (TTL = end of the local day): campaign id → impressions shown to this phone today
    (the per-phone frequency cap). In the phone's slot."""
    return f"{PREFIX}:{{p:{phone}}}:adseen:{day}"



def render_breaker(venue: str, page: str, source_digest: str) -> str:
    """String (TTL = the cool-down): this published source of a venue page blew its render budget
    at runtime; every web process serves the default page instead until it expires (value: reason)."""
    return f"{PREFIX}:{{vp:{venue}}}:breaker:{page}:{source_digest}"


def render_slots(account: str) -> str:
    """String counter (TTL 30 s): template renders (preview, publish check) running for one console
    account right now; ``render_slots(account) + ":rate"`` counts them per minute (TTL 60 s)."""
    return f"{PREFIX}:{{accounts}}:renders:{account}"


def content_writes(account: str, window: str, bucket: int) -> str:
    """String counter (TTL): venue content writes of one account and its API tokens in one window."""
    return f"{PREFIX}:{{accounts}}:content-writes:{bounded_part(account)}:{window}:{bucket}"
