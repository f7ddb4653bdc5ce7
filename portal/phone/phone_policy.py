"""Portal-side wiring of the number policy: build ``NumberPolicy`` from settings, with a Redis cache
for the subscriber-lookup hook (the sms_gateway library stays free of portal imports).

The sms-worker writes into the same cache when a delivery report says a number is not a
subscriber (:func:`remember_not_subscriber`); the policy then refuses that number without
sending until the entry expires (``number_policy.not_subscriber_ttl``). The hook is wired even
without a lookup endpoint, reading only those cached verdicts."""

from __future__ import annotations

from typing import Any

from portal.runtime.settings import NumberPolicySettings
from portal.state import keys
from sms_gateway.lookup import CachedAnswers, HttpSession, SubscriberInfo, SubscriberLookup, encode_answer
from sms_gateway.policy import NumberPolicy
from sms_gateway.regions import RegionTable
from sms_gateway.segments import SegmentTable

__all__ = ["RedisLookupCache", "build_number_policy", "remember_not_subscriber"]


class RedisLookupCache:
    """``sms_gateway.lookup.LookupCache`` on Redis: one string per phone, under the phone's slot."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def get(self, msisdn: str) -> str | None:
        raw = self.redis.get(keys.carrier_lookup(msisdn))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def set(self, msisdn: str, value: str, ttl: int) -> None:
        self.redis.set(keys.carrier_lookup(msisdn), value.encode(), ex=ttl)


def remember_not_subscriber(redis: Any, msisdn: str, fault: str, ttl: int) -> None:
    """Record that a delivery report said ``msisdn`` (11 digits) is not a subscriber we can reach
    (``fault``: a ``sms_gateway.delivery_reports.NumberFault`` value), for ``ttl`` seconds. It replaces a
    cached endpoint answer: the report is the newer evidence."""
    if ttl <= 0:
        return
    RedisLookupCache(redis).set(msisdn, encode_answer(SubscriberInfo(None, not_subscriber=fault)), ttl)


def build_number_policy(
    cfg: NumberPolicySettings, redis: Any, *, session: HttpSession | None = None
) -> NumberPolicy:
    """The policy the settings describe. The region CSV is watched for changes (hot swap)."""
    lookup: SubscriberLookup | CachedAnswers = CachedAnswers(RedisLookupCache(redis))
    if cfg.lookup_url:
        lookup = SubscriberLookup(
            cfg.lookup_url,
            timeout=cfg.lookup_timeout,
            token=cfg.lookup_token,
            session=session,
            cache=RedisLookupCache(redis),
            cache_ttl=cfg.lookup_cache_ttl,
            negative_ttl=cfg.lookup_negative_ttl,
        )
    return NumberPolicy(
        allowed_carriers=cfg.allowed_carriers,
        allowed_kinds=cfg.allowed_kinds,
        allowed_provinces=cfg.allowed_provinces,
        allowed_cities=cfg.allowed_cities,
        allow_list=cfg.allow_list,
        deny_list=cfg.deny_list,
        unknown_region=cfg.unknown_region,
        lookup=lookup,
        segments=SegmentTable.load(cfg.segment_table) if cfg.segment_table else None,
        regions=RegionTable(cfg.region_table, check_interval=cfg.region_check_interval)
        if cfg.region_table
        else None,
    )
