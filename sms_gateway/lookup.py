"""Subscriber-lookup hook: ask the operator which carrier serves a number now
(docs/protocols/sms.md §3.5–3.6).

A prefix says who was *allocated* a number; after number portability (§3.2) the serving
carrier may differ. An operator endpoint that knows its subscribers fixes that. Contract of the
endpoint (HTTP GET, documented for the operator's integrators)::

    GET <url>?msisdn=13312345678            (or a url containing "{msisdn}", substituted)
    Authorization: Bearer <token>           (only when a token is configured)

    200 {"carrier": "telecom", "ported": true, "province": "<province>", "city": "<city>"}
        carrier: telecom | mobile | unicom | broadnet | satnet | other | null (= don't know);
        province, city: Chinese names, as in the region table (sms_gateway/regions.py);
        ported, province, city optional; not_subscriber (optional, "unknown_subscriber" or
        "no_sms_service") refuses the number like a delivery report saying so.
    404 the endpoint does not know the number (cached as a negative answer)
    anything else, a timeout, or an unparsable body → ``LookupFailed`` (never cached)

Answers are cached through a small ``LookupCache`` interface (the portal passes a Redis-backed
one; this library never imports the portal). Porting takes days, so a day-long TTL is fine.

Delivery reports feed the same cache: when a gateway reports that a number is not a subscriber
(vacant, ported out, no SMS service — :mod:`sms_gateway.delivery_reports`), the portal stores an answer
with ``not_subscriber`` set (:func:`encode_answer`), and the number is refused until it expires.
Without an endpoint, :class:`CachedAnswers` reads those stored answers alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import requests

from sms_gateway.errors import LookupFailed
from sms_gateway.regions import canonical_province
from sms_gateway.segments import Carrier

__all__ = ["CachedAnswers", "LookupCache", "SubscriberInfo", "SubscriberLookup", "encode_answer"]

log = logging.getLogger(__name__)


class LookupCache(Protocol):
    """Where answers are remembered. Values are opaque strings; ``ttl`` in seconds."""

    def get(self, msisdn: str) -> str | None: ...

    def set(self, msisdn: str, value: str, ttl: int) -> None: ...


class HttpSession(Protocol):
    """The part of ``requests.Session`` we use (injectable for tests and custom transports)."""

    def get(self, url: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    carrier: Carrier | None      # None: the endpoint answered but does not know the carrier
    ported: bool = False
    province: str | None = None
    city: str | None = None
    # A NumberFault value when a delivery report said the number cannot get our SMS; "" = none.
    not_subscriber: str = ""


_NEGATIVE = "null"


def encode_answer(info: SubscriberInfo) -> str:
    """The cached form of an answer (JSON), as :class:`SubscriberLookup` reads it back."""
    payload = asdict(info)
    payload["carrier"] = info.carrier.value if info.carrier else None
    if not info.not_subscriber:
        payload.pop("not_subscriber")
    return json.dumps(payload, ensure_ascii=False)


def _read_cached(cache: LookupCache | None, msisdn: str) -> str | None:
    if cache is None:
        return None
    try:
        return cache.get(msisdn)
    except Exception:  # a broken cache costs a lookup, never the request
        log.warning("subscriber-lookup cache read failed", exc_info=True)
        return None


class CachedAnswers:
    """The lookup hook without an endpoint: only what is cached (delivery-report verdicts).
    Unknown numbers and unreadable entries give None, so the prefix table decides."""

    def __init__(self, cache: LookupCache) -> None:
        self.cache = cache

    def lookup(self, msisdn: str) -> SubscriberInfo | None:
        cached = _read_cached(self.cache, msisdn)
        if cached is None or cached == _NEGATIVE:
            return None
        try:
            return _decode(json.loads(cached))
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable cached subscriber answer for a number; ignored")
            return None


class SubscriberLookup:
    """Calls the operator endpoint with a timeout; ``lookup`` returns SubscriberInfo or None."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        token: str = "",
        session: HttpSession | None = None,
        cache: LookupCache | None = None,
        cache_ttl: int = 86400,
        negative_ttl: int = 3600,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.token = token
        self.session: HttpSession = session if session is not None else requests.Session()  # type: ignore[assignment]
        self.cache = cache
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl

    def lookup(self, msisdn: str) -> SubscriberInfo | None:
        """Who serves ``msisdn`` (11 digits) now; None if the endpoint does not know the number.

        Raises ``LookupFailed`` when the endpoint cannot answer; callers fall back to the table.
        """
        cached = _read_cached(self.cache, msisdn)
        if cached is not None:
            if cached == _NEGATIVE:
                return None
            try:
                return _decode(json.loads(cached))
            except (ValueError, TypeError, KeyError):
                log.warning("unreadable cached subscriber answer; asking the endpoint again")
        info = self._fetch(msisdn)
        if info is None:
            self._cache_set(msisdn, _NEGATIVE, self.negative_ttl)
        else:
            self._cache_set(msisdn, encode_answer(info), self.cache_ttl)
        return info

    def _fetch(self, msisdn: str) -> SubscriberInfo | None:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if "{msisdn}" in self.url:
            url, params = self.url.replace("{msisdn}", msisdn), None
        else:
            url, params = self.url, {"msisdn": msisdn}
        try:
            resp = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise LookupFailed(
                f"subscriber lookup timed out after {self.timeout}s", code="lookup_timeout"
            ) from exc
        except requests.RequestException as exc:
            raise LookupFailed(f"subscriber lookup failed: {exc}") from exc
        status = int(resp.status_code)
        if status == 404:
            return None
        if status != 200:
            raise LookupFailed(f"subscriber lookup answered HTTP {status}", code="lookup_http_error")
        try:
            return _decode(resp.json())
        except (ValueError, TypeError, KeyError) as exc:
            raise LookupFailed(
                f"subscriber lookup sent an unusable body: {exc}", code="lookup_bad_body"
            ) from exc

    def _cache_set(self, msisdn: str, value: str, ttl: int) -> None:
        if self.cache is None or ttl <= 0:
            return
        try:
            self.cache.set(msisdn, value, ttl)
        except Exception:
            log.warning("subscriber-lookup cache write failed", exc_info=True)


def _decode(body: Any) -> SubscriberInfo:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    raw_carrier = body.get("carrier")
    carrier: Carrier | None
    if raw_carrier is None or raw_carrier == "":
        carrier = None
    else:
        carrier = Carrier(str(raw_carrier).lower())     # ValueError on an unknown carrier name
        if carrier is Carrier.UNKNOWN:
            carrier = None
    province = body.get("province")
    city = body.get("city")
    return SubscriberInfo(
        carrier=carrier,
        ported=bool(body.get("ported", False)),
        province=canonical_province(str(province)) if province else None,
        city=str(city) if city else None,
        not_subscriber=str(body.get("not_subscriber") or ""),
    )
