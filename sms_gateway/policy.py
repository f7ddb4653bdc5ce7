"""Which numbers may receive a login code: carrier, kind, region, allow/deny lists, lookup hook.

``NumberPolicy.check(text)`` returns ``Allowed`` or raises ``InvalidNumber`` / ``NumberRefused``;
every refusal carries a ``code`` and a message in Chinese and English (sms_gateway/texts.py) that
tells the user what *is* allowed ("Only China Telecom numbers of Sichuan can use this Wi-Fi.").
Rules, in order (docs/protocols/sms.md §3.6):

1. deny list → ``denied``;  2. allow list → allowed (no further checks);
3. subscriber lookup, if configured: an answer recorded from a delivery report that the number
   is not a subscriber (vacant, ported out, no SMS service) → ``not_subscriber``, without
   sending anything; otherwise its carrier overrides the prefix (number portability); when
   the endpoint fails, fall back to the prefix and say so in ``Allowed.lookup_error`` (audit);
4. carrier in ``allowed_carriers`` → else ``carrier_not_allowed`` (``carrier_unknown`` for an
   unallocated segment);  5. kind in ``allowed_kinds`` → else ``kind_not_allowed``;
6. when provinces/cities are configured: home region among them → else ``region_not_allowed``,
   or ``region_unknown`` when no region is known and ``unknown_region`` is "refuse".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sms_gateway.errors import LookupFailed, NumberRefused
from sms_gateway.lookup import SubscriberInfo
from sms_gateway.numbers import MobileNumber, normalise, parse_number
from sms_gateway.regions import CITY_SUFFIX, RegionTable, canonical_province, province_en
from sms_gateway.segments import Carrier, Kind, SegmentTable
from sms_gateway.texts import (
    ANY_CARRIER,
    CARRIER_NAMES,
    CARRIER_OR,
    KIND_NAMES,
    PLACE_LIST,
    REFUSALS,
    SCOPE,
    SCOPE_ANYWHERE,
)

__all__ = ["Allowed", "CarrierLookup", "NumberPolicy"]


class CarrierLookup(Protocol):
    """What the policy needs from a subscriber-lookup hook (``SubscriberLookup`` fits)."""

    def lookup(self, msisdn: str) -> SubscriberInfo | None: ...


@dataclass(frozen=True, slots=True)
class Allowed:
    number: MobileNumber
    carrier: Carrier          # effective carrier (lookup answer if any, else the prefix's)
    source: str               # "table", "lookup" or "allow_list"
    ported: bool = False
    lookup_error: str = ""    # lookup failed and the prefix decided; worth an audit line


def _city_key(city: str) -> str:
    return city.strip().removesuffix(CITY_SUFFIX)


class NumberPolicy:
    """The operator's number policy; immutable configuration, safe to share between threads."""

    def __init__(
        self,
        *,
        allowed_carriers: Iterable[Carrier | str] = (Carrier.TELECOM,),
        allowed_kinds: Iterable[Kind | str] = (Kind.REGULAR, Kind.DATA),
        allowed_provinces: Iterable[str] = (),
        allowed_cities: Iterable[str] = (),
        allow_list: Iterable[str] = (),
        deny_list: Iterable[str] = (),
        unknown_region: str = "refuse",
        lookup: CarrierLookup | None = None,
        segments: SegmentTable | None = None,
        regions: RegionTable | None = None,
    ) -> None:
        self.allowed_carriers = tuple(Carrier(c) for c in allowed_carriers)
        self.allowed_kinds = frozenset(Kind(k) for k in allowed_kinds)
        self.allowed_provinces = tuple(dict.fromkeys(canonical_province(p) for p in allowed_provinces))
        self.allowed_cities = tuple(dict.fromkeys(_city_key(c) for c in allowed_cities))
        self.allow_list = frozenset(normalise(n) for n in allow_list)
        self.deny_list = frozenset(normalise(n) for n in deny_list)
        if unknown_region not in ("refuse", "allow"):
            raise ValueError(f"unknown_region must be 'refuse' or 'allow', got {unknown_region!r}")
        self.unknown_region = unknown_region
        self.lookup = lookup
        self.segments = segments
        self.regions = regions

    # --- the decision --------------------------------------------------------------------

    def parse(self, text: str) -> MobileNumber:
        """Normalise ``text`` with this policy's tables (``InvalidNumber`` if it is no number)."""
        return parse_number(text, segments=self.segments, regions=self.regions)

    def check(self, number: str | MobileNumber) -> Allowed:
        num = number if isinstance(number, MobileNumber) else self.parse(number)
        if num.national in self.deny_list:
            raise NumberRefused(
                f"{num.national} is on the deny list",
                code="denied",
                message_zh=REFUSALS["denied"][0],
                message_en=REFUSALS["denied"][1],
            )
        if num.national in self.allow_list:
            return Allowed(num, num.carrier, "allow_list")

        carrier, source, ported, lookup_error = num.carrier, "table", False, ""
        province, city = num.province, num.city
        if self.lookup is not None:
            try:
                info = self.lookup.lookup(num.national)
            except LookupFailed as exc:
                lookup_error = f"{exc.code}: {exc}"
                info = None
            if info is not None and info.not_subscriber:
                raise self._not_subscriber(num, info.not_subscriber)
            if info is not None and info.carrier is not None:
                carrier, source, ported = info.carrier, "lookup", info.ported or info.carrier != num.carrier
            if info is not None and info.province:
                province, city = info.province, info.city or city

        if carrier not in self.allowed_carriers:
            zh, en = CARRIER_NAMES[carrier]
            code = "carrier_unknown" if carrier is Carrier.UNKNOWN else "carrier_not_allowed"
            raise NumberRefused(
                f"{num.national}: carrier {carrier.value} not allowed",
                code=code,
                message_zh=REFUSALS[code][0].format(scope=self._scope_zh(), carrier=zh),
                message_en=REFUSALS[code][1].format(scope=self._scope_en(), carrier=en),
            )
        if num.kind not in self.allowed_kinds:
            kzh, ken = KIND_NAMES[num.kind]
            zh, en = REFUSALS["kind_not_allowed"]
            raise NumberRefused(
                f"{num.national}: kind {num.kind.value} not allowed",
                code="kind_not_allowed",
                message_zh=zh.format(kind=kzh, scope=self._scope_zh()),
                message_en=en.format(kind=ken, scope=self._scope_en()),
            )
        if self.allowed_provinces or self.allowed_cities:
            self._check_region(num, province, city)
        return Allowed(num, carrier, source, ported, lookup_error)

    def _not_subscriber(self, num: MobileNumber, fault: str) -> NumberRefused:
        zh, en = REFUSALS["no_sms_service" if fault == "no_sms_service" else "not_subscriber"]
        return NumberRefused(f"{num.national}: a delivery report said {fault}", code="not_subscriber",
                             message_zh=zh.format(scope=self._scope_zh()),
                             message_en=en.format(scope=self._scope_en()))

    def _check_region(self, num: MobileNumber, province: str | None, city: str | None) -> None:
        if province is None and city is None:
            if self.unknown_region == "allow":
                return
            raise NumberRefused(
                f"{num.national}: home region unknown",
                code="region_unknown",
                message_zh=REFUSALS["region_unknown"][0].format(scope=self._scope_zh()),
                message_en=REFUSALS["region_unknown"][1].format(scope=self._scope_en()),
            )
        if province is not None and canonical_province(province) in self.allowed_provinces:
            return
        if city is not None and _city_key(city) in self.allowed_cities:
            return
        where_zh = f"{province or ''}{city or ''}"
        names_en = (self._city_en(city) if city else "", province_en(province or ""))
        where_en = ", ".join(x for x in names_en if x)
        raise NumberRefused(
            f"{num.national}: region {province}/{city} not allowed",
            code="region_not_allowed",
            message_zh=REFUSALS["region_not_allowed"][0].format(scope=self._scope_zh(), where=where_zh),
            message_en=REFUSALS["region_not_allowed"][1].format(scope=self._scope_en(), where=where_en),
        )

    # --- messages ------------------------------------------------------------------------

    def _scope_zh(self) -> str:
        """What the policy admits ("Sichuan and Chongqing China Telecom numbers"), for refusal messages."""
        carriers = CARRIER_OR[0].join(CARRIER_NAMES[c][0] for c in self.allowed_carriers) or ANY_CARRIER[0]
        where = PLACE_LIST[0].join([*self.allowed_provinces, *self.allowed_cities])
        return SCOPE[0].format(where=where, carriers=carriers) if where else SCOPE_ANYWHERE[0].format(
            carriers=carriers)

    def _scope_en(self) -> str:
        carriers = CARRIER_OR[1].join(CARRIER_NAMES[c][1] for c in self.allowed_carriers) or ANY_CARRIER[1]
        where = PLACE_LIST[1].join(
            [*(province_en(p) for p in self.allowed_provinces),
             *(self._city_en(c) for c in self.allowed_cities)]
        )
        return SCOPE[1].format(where=where, carriers=carriers) if where else SCOPE_ANYWHERE[1].format(
            carriers=carriers)

    def _city_en(self, city: str) -> str:
        """English city name from the region table when it has one, else the name as given."""
        if self.regions is not None:
            key = _city_key(city)
            for region in self.regions.index.regions:
                if region is not None and region.city_en and _city_key(region.city) == key:
                    return region.city_en
        return city
