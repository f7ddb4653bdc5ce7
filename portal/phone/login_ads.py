"""Returning phones and campaigns on the phone journey (mixed into ``portal.phone.login.PhoneJourney``).

A phone whose MAC is still bound gets an ad page instead of the login form
(:meth:`ReturningPhones._offer_ad`, called by ``PhoneJourney.landing``): a campaign when one runs
for the venue (``CampaignStore``), else one of the venue's inline ads. The page carries a signed
single-use ticket; :meth:`ReturningPhones.redeem_ad` refuses it before the countdown has really
elapsed, then logs the phone in with its MAC credential. Clicks go through
:meth:`ReturningPhones.ad_click` (stored URL only: no open redirect).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ad_pages import select_ad
from portal.aaa.blocklist import normalise_mac
from portal.errors import NotFound
from portal.phone.login_types import AdOffer, LoginError, LoginSuccess, PhoneContext, Signer
from portal.state import keys

if TYPE_CHECKING:
    from ac_adapters.client import LoginResult
    from portal.aaa.credentials import Credential, CredentialStore
    from portal.aaa.grants import Grant
    from portal.aaa.plans import Plan
    from portal.venues.campaign_store import CampaignStore
    from portal.venues.venue_store import Venue, VenueStore

__all__ = ["CLICK_TOKEN_TTL", "ReturningPhones"]

CLICK_TOKEN_TTL = 86400.0   # seconds an ad's click-through link counts (and its nonce is kept)
log = logging.getLogger("citywifi.campaigns")


class ReturningPhones:
    """The ad-page half of :class:`portal.phone.login.PhoneJourney` (which provides the attributes
    and shared steps declared below)."""

    if TYPE_CHECKING:
        redis: Any
        web: Any                    # portal.runtime.settings.WebSettings
        counters: Any               # portal.metrics ProcessCounters
        venues: VenueStore
        signer: Signer
        clock: Callable[[], float]
        campaigns: CampaignStore
        credentials: CredentialStore

        def venue(self, ctx_or_id: PhoneContext | str) -> Venue: ...
        def _grant(self, phone: str, ctx: PhoneContext) -> tuple[Grant, Plan]: ...
        def _ac_login(self, ctx: PhoneContext, credential: Credential) -> LoginResult | None: ...
        def _logged_in(self, ctx: PhoneContext, phone: str, plan: Plan, grant: Grant,
                       kind: str, *, observed: str = "") -> LoginSuccess: ...

    def _offer_ad(self, ctx: PhoneContext, phone: str, lang: str) -> AdOffer:
        venue = self.venue(ctx)
        nonce = secrets.token_urlsafe(12)
        issued = self.clock()
        seconds = venue.ad_seconds
        shown = int(self.redis.hincrby(keys.venue_stats(venue.id), "ad_impressions", 1))
        ad = self.campaign_ad(ctx, phone, lang) or select_ad(list(venue.ads), shown, lang)
        pipe = self.redis.pipeline(transaction=False)      # two independent writes, one round trip
        pipe.hincrby(keys.venue_stats(venue.id), f"ad:{ad['id']}:impressions", 1)
        pipe.set(keys.ad_ticket(nonce), ad["id"], ex=seconds + 600)
        pipe.execute()
        ticket = self.signer.sign("ad", {"n": nonce, "t": issued, "ac": ctx.ac, "ip": ctx.user_ip,
                                         "m": ctx.mac, "s": seconds, "ad": ad["id"], "cp": ad["campaign"]},
                                 seconds + 600)
        return AdOffer(ticket, seconds, ad, phone)

    def campaign_ad(self, ctx: PhoneContext, phone: str, lang: str) -> dict[str, str] | None:
        """A campaign for this phone here and now (impression counted), or None."""
        venue = self.venue(ctx)
        return self.campaigns.serve(venue.id, ctx.ssid, phone, lang, venue_name=venue.name(lang),
                                    sign_click=self._sign_click)

    def _sign_click(self, data: dict[str, str]) -> str:
        # A nonce per rendered ad: the click is counted once per page a phone saw, however
        # often the link is followed or replayed (the redirect itself always works).
        return self.signer.sign("adclick", {**data, "n": secrets.token_hex(8)}, CLICK_TOKEN_TTL)

    def ticket_ad(self, ctx: PhoneContext, ticket: str, lang: str) -> dict[str, str]:
        """The ad an ad ticket was issued with (the countdown page again, no new impression)."""
        venue = self.venue(ctx)
        try:
            cp = str(self.signer.verify("ad", ticket).get("cp") or "")
        except LoginError:
            cp = ""
        campaign = self.campaigns.get_or_none(cp) if cp else None
        ad = campaign and self.campaigns.ad_for(
            campaign, venue.id, lang, venue_name=venue.name(lang),
            sign_click=self._sign_click)
        return ad or select_ad(list(venue.ads), 0, lang)

    def ad_click(self, campaign_id: str, token: str) -> str:
        """The stored click-through URL of a campaign (never one from the request: no open
        redirect); counts the click when ``token`` is a valid click token for it. NotFound
        when the campaign is gone or has no click-through URL; LoginError "link_not_allowed"
        when the URL's host is not allowed where the ad was shown (checked again here, not only
        when the campaign was saved: a stored campaign outlives a venue's allow-list, and
        campaigns saved before the check existed were never checked)."""
        from portal.venues.campaign_store import click_allowed_at, click_url_refusal

        campaign = self.campaigns.get(campaign_id)
        url = campaign.creative.click_url
        if not url:
            raise NotFound(f"campaign {campaign_id} has no click-through URL")
        try:
            data = self.signer.verify("adclick", token)
        except LoginError:
            data = {}
        valid = data.get("c") == campaign.id and bool(data.get("v"))
        operator_hosts = tuple(self.web.redirect_hosts)
        if valid:       # shown at this venue (our signature): that venue's allow-list
            allowed = click_allowed_at(url, self.venues.all().get(str(data["v"])), operator_hosts)
        else:           # no proof where it was shown: allowed at every venue it can run at
            allowed = click_url_refusal(campaign, self.venues.all(), operator_hosts) is None
        if not allowed:
            self.counters.inc("ad.click_refused")
            log.warning("campaign %s: click-through to %s refused (host not on the allow-list of %s)",
                        campaign.id, url, data.get("v") or "its venues")
            raise LoginError("link_not_allowed", detail=f"campaign {campaign.id}")
        if valid and data.get("n") and self.redis.set(
                keys.ad_click_nonce(str(data["n"])), 1, nx=True, ex=int(CLICK_TOKEN_TTL)):
            self.campaigns.record_click(campaign.id, str(data["v"]))
        return url

    def redeem_ad(self, ctx: PhoneContext, ticket: str, *, observed: str = "") -> LoginSuccess:
        """Log a returning phone in once its ad countdown has really elapsed (single use).
        ``observed``: the request's peer address, kept in the real-name record."""
        data = self.signer.verify("ad", ticket)
        if (data.get("ac"), data.get("ip"), data.get("m")) != (ctx.ac, ctx.user_ip, ctx.mac):
            raise LoginError("bad_link", detail="ad ticket for another device")
        elapsed = self.clock() - float(data["t"])
        wait = float(data["s"]) - elapsed
        if wait > 0.2:    # a little slack for clock granularity, never a second early
            raise LoginError("too_early", retry_after=max(1, int(wait + 0.999)),
                             detail=f"{elapsed:.1f}s of {data['s']}s")
        # Spending the ticket and reading the MAC's binding (a read: harmless if the ticket
        # turns out spent) in one round trip.
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.ad_ticket(str(data["n"])))
        if ctx.mac:
            pipe.hgetall(keys.mac_binding(normalise_mac(ctx.mac)))
        spent, *binding = pipe.execute()
        if not spent:
            raise LoginError("ticket_used")
        credential = self.credentials.credential_from_reply(ctx.mac, binding[0]) if ctx.mac else None
        if credential is None:
            raise LoginError("not_bound")
        grant, plan = self._grant(credential.username, ctx)
        # The AC gets a single-use token bound to the MAC the page named, not the binding's own
        # secret: RADIUS spends it only if the AC reports that MAC in Calling-Station-Id, so a
        # phone that merely CLAIMS a bound MAC in its URL is refused as "device_mismatch".
        token = self.credentials.mint_login_token(credential.username, ctx.mac,
                                                  ttl=self.web.login_token_ttl)
        self._ac_login(ctx, token)
        venue_id = self.venue(ctx).id
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.venue_stats(venue_id), "ad_views", 1)
        pipe.hincrby(keys.venue_stats(venue_id), f"ad:{data.get('ad', '')}:views", 1)
        pipe.execute()
        if data.get("cp"):
            self.campaigns.record_view(str(data["cp"]), venue_id)
        return self._logged_in(ctx, credential.username, plan, grant, "returning", observed=observed)
