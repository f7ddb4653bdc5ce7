"""The device half of the phone journey (mixed into ``portal.phone.login.PhoneJourney``): the AC's
redirect parsed into a :class:`PhoneContext`, how requests for that device are checked
(:meth:`PhoneContexts.device_check`, see ``portal.phone.device_guard``), the signed context token, and
the keyed proof that lets a page offer a number back — masked — to the browser that typed it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ac_adapters.errors import RedirectError
from ac_adapters.profiles import PROFILES
from ac_adapters.redirect import AcHint, encode_des_mac, parse_redirect
from portal.phone.gateway_login import gateway_context, grants_by_redirect, is_gateway_redirect
from portal.phone.login_types import LoginError, PhoneContext, Signer, mask_phone
from portal.state import keys

if TYPE_CHECKING:
    from portal.aaa.acs import AcRecord, AcRegistry
    from portal.runtime.settings import WebSettings
    from portal.venues.venue_store import Venue, VenueStore

__all__ = ["PhoneContexts"]

_CONTEXT_FIELDS = tuple(f.name for f in fields(PhoneContext))
"""What a context token carries, in field order: ``dataclasses.asdict`` gave the same dict of
these str fields but deep-copied each one (a fifth of the signing's cost, twice per login)."""


class PhoneContexts:
    """Context and device checks of :class:`portal.phone.login.PhoneJourney` (which provides the
    attributes declared below)."""

    if TYPE_CHECKING:
        redis: Any
        signer: Signer
        web: WebSettings
        acs: AcRegistry
        venues: VenueStore
        _ac_cache: dict[str, tuple[float, AcRecord | None]]

    # --- context -------------------------------------------------------------------------------

    def context(self, query: Any) -> PhoneContext:
        """Parse an AC redirect (query string or ``parse_qs`` mapping) and resolve the venue."""
        if is_gateway_redirect(query):           # openNDS and other non-Portal gateways
            return gateway_context(self, query)
        records: dict[str, AcRecord] = {}

        def resolve(ac_ip: str | None, ac_name: str | None) -> AcHint | None:
            record = self._ac_by_address(ac_ip) if ac_ip else None
            if record is None and ac_name:
                record = self._ac_by_name(ac_name)
            if record is None or not record.enabled:
                return None
            records[record.name] = record
            # An AC configured with its redirect key vouches for the MAC (EAG wlanparameter):
            # then only a MAC encrypted with that key is accepted.
            key = record.redirect_key or None
            return AcHint(record.name, PROFILES[record.vendor], des_key=key, vouched_only=key is not None)

        try:
            parsed = parse_redirect(query, resolve_ac=resolve)
        except RedirectError as exc:
            raise LoginError(getattr(exc, "code", "bad_redirect"), detail=str(exc)) from None
        venue = self.venues.resolve(parsed.ac.name, parsed.ssid, parsed.ap_mac, parsed.ap_group)
        return PhoneContext(ac=parsed.ac.name, user_ip=parsed.user_ip, mac=parsed.user_mac or "",
                            ssid=parsed.ssid or "", ap=parsed.ap_mac or "", venue=venue.id,
                            first_url=parsed.original_url or "",
                            vouched="vendor" if parsed.mac_vouched else "")

    def redirect_query(self, ctx: PhoneContext) -> dict[str, str]:
        """A minimal AC-style query that resolves to ``ctx`` again (retry links): with the MAC
        encrypted the AC's way when the AC vouches for its MACs."""
        query = {"wlanacname": ctx.ac, "wlanuserip": ctx.user_ip, "wlanusermac": ctx.mac, "ssid": ctx.ssid}
        record = self._ac_by_name(ctx.ac)
        if ctx.mac and record is not None and record.redirect_key:
            query["wlanusermac"] = ""
            query["wlanparameter"] = encode_des_mac(ctx.mac, record.redirect_key)
        return query

    def device_check(self, ctx: PhoneContext) -> str:
        """How requests for ``ctx``'s device are checked (``portal.phone.device_guard``): "address"
        (the AC's ``client_address_check``: the request must come from the user IP), else
        "vendor" (the AC vouched for the MAC with its redirect key), else "cookie" (NAT hides
        addresses: the first redirect is bound to the browser)."""
        record = self._ac(ctx.ac)
        if record.kind != "portal":   # the gateway NATs its phones: we see its address, not theirs
            return "vendor" if ctx.vouched else "cookie"
        if record.client_address_check:
            return "address"
        return "vendor" if ctx.vouched == "vendor" else "cookie"

    def sign_context(self, ctx: PhoneContext) -> str:
        return self.signer.sign("ctx", {name: getattr(ctx, name) for name in _CONTEXT_FIELDS},
                                self.web.context_ttl)

    def open_context(self, token: str) -> PhoneContext:
        data = self.signer.verify("ctx", token)
        try:
            return PhoneContext(**data)
        except TypeError:
            raise LoginError("bad_link", detail="context fields") from None

    def venue(self, ctx_or_id: PhoneContext | str) -> Venue:
        venue_id = ctx_or_id.venue if isinstance(ctx_or_id, PhoneContext) else ctx_or_id
        from portal.venues.venue_store import FALLBACK

        return self.venues.all().get(venue_id, FALLBACK)

    def checks_addresses(self, ac_name: str) -> bool:
        """Whether requests' observed addresses identify phones of this AC (its
        ``client_address_check``; an AC no longer registered counts as the default, on). Never
        for a gateway kind (openNDS …): it NATs its phones, and two gateways may well hand out
        the same private addresses. Cached like every AC lookup here (5 s): probes ask this on
        every request."""
        record = self._ac_by_name(ac_name)
        return record is None or (record.kind == "portal" and bool(record.client_address_check))

    def hands_off_to_gateway(self, ctx: PhoneContext) -> bool:
        """True when the phone's own browser carries the grant to this AC (openNDS): after a form
        post it is redirected to the gateway, an address a page's ``form-action`` cannot list."""
        record = self._ac_by_name(ctx.ac)
        return record is not None and grants_by_redirect(record)

    def _ac_by_address(self, address: str) -> AcRecord | None:
        return self._cached_ac("a:" + address, lambda: self.acs.by_address(address))

    def _ac_by_name(self, name: str) -> AcRecord | None:
        return self._cached_ac("n:" + name, lambda: self.acs.get_or_none(name))

    def _cached_ac(self, key: str, load: Callable[[], AcRecord | None]) -> AcRecord | None:
        now = time.monotonic()
        hit = self._ac_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = load()
        self._ac_cache[key] = (now + 5.0, record)
        return record

    def _ac(self, name: str) -> AcRecord:
        record = self._ac_by_name(name)
        if record is None or not record.enabled:
            raise LoginError("unknown_ac", detail=name)
        return record

    # --- numbers a page may offer back ------------------------------------------------------

    def phone_proof(self, ctx: PhoneContext, phone: str) -> str:
        """``PhoneContext.phone_proof`` for ``phone`` on ``ctx``'s device ("" for no phone)."""
        if not phone:
            return ""
        msg = f"phone-proof|{ctx.device}|{phone}".encode()
        return hmac.new(self.signer.key, msg, hashlib.sha256).hexdigest()[:32]

    def _proved(self, ctx: PhoneContext, phone: str) -> bool:
        return bool(ctx.phone_proof) and hmac.compare_digest(ctx.phone_proof, self.phone_proof(ctx, phone))

    def _shown(self, ctx: PhoneContext, phone: str) -> str:
        """What a page may show of ``phone``: masked, and only to the browser that proved it."""
        return mask_phone(phone) if self._proved(ctx, phone) else ""

    def posted_phone(self, ctx: PhoneContext, value: str) -> str:
        """The number a form posted: as typed, or — for the masked value the page offered —
        the device's pending number, if this page proved it ("" otherwise)."""
        value = value.strip()
        if "*" not in value:
            return value
        raw = self.redis.get(keys.device_pending_phone(ctx.device))
        phone = raw.decode() if raw is not None else ""
        return phone if phone and value == mask_phone(phone) and self._proved(ctx, phone) else ""
