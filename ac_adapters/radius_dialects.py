"""RADIUS reply dialects as data: which vendor attributes carry a plan's limits, in which unit,
and which identifiers a NAS of that family matches a Disconnect/CoA on.

This is the one table of RADIUS vendor facts. ``ac_adapters.profiles`` names a dialect per Portal
vendor, ``portal.aaa.acs`` validates an AC's explicit choice against ``DIALECTS``, ``radius.dialects``
renders Access-Accepts and CoAs from it, ``radius.enforcement`` picks Disconnect identifiers from
it, and a test checks every attribute against Debian's FreeRADIUS dictionaries (names and
numbers). Facts and their sources: ``docs/protocols/radius.md`` §2.2 and
``docs/integration/README.md``. Pure data, no imports from the rest of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "DEFAULT_DISCONNECT_IDS",
    "DIALECTS",
    "IDENTIFIERS",
    "RadiusDialect",
    "RateFormat",
    "VendorAttr",
    "get_dialect",
]


class RateFormat(Enum):
    """How a rate (the plan's kbit/s) is written into the dialect's attributes."""

    BPS = "integer, bit/s"
    KBPS = "integer, kbit/s"
    MIKROTIK = 'string "<up>k/<down>k" (rx/tx seen from the router: rx = upload)'
    ROLE = "no rate attribute: the plan's name names a role the NAS shapes"


@dataclass(frozen=True, slots=True)
class VendorAttr:
    """One vendor-specific attribute: FreeRADIUS dictionary name, SMI enterprise number, type."""

    name: str
    vendor: int
    number: int


# RFC 5176 §3 session identification attributes we can echo, with their RFC 2865/2866 numbers.
IDENTIFIERS: dict[str, int] = {
    "User-Name": 1,
    "NAS-IP-Address": 4,
    "Framed-IP-Address": 8,
    "Calling-Station-Id": 31,
    "NAS-Identifier": 32,
    "Acct-Session-Id": 44,
}

# What citywifi always sent before dialects said otherwise (RFC 5176 §3 names them all; a NAS
# that compares strings needs each exactly as it sent it in accounting).
DEFAULT_DISCONNECT_IDS = (
    "User-Name", "Acct-Session-Id", "Framed-IP-Address", "Calling-Station-Id", "NAS-IP-Address",
)


@dataclass(frozen=True, slots=True)
class RadiusDialect:
    """One reply dialect. Every dialect also gets Session-Timeout, Idle-Timeout,
    Acct-Interim-Interval and Class (standard attributes).

    ``up`` / ``down``: the first attribute carries the average rate, any further ones the
    peak/burst ceiling (average × ``radius.dialects.PEAK_FACTOR``). ``combined``: one attribute
    for both directions (MikroTik). ``role``: the plan's name as a role/profile name (Aruba).
    ``terminate_time``: WISPr Session-Terminate-Time with the plan's absolute end.
    ``disconnect_ids``: the RFC 5176 identifiers to send, each echoed as the NAS sent it in
    accounting. ``verified``: False where the unit or the NAS's use is not confirmed by a
    vendor document (the integration guide says what to check on the device).
    """

    name: str
    description: str
    rate_format: RateFormat = RateFormat.BPS
    up: tuple[VendorAttr, ...] = ()
    down: tuple[VendorAttr, ...] = ()
    combined: VendorAttr | None = None
    role: VendorAttr | None = None
    terminate_time: VendorAttr | None = None
    disconnect_ids: tuple[str, ...] = DEFAULT_DISCONNECT_IDS
    verified: bool = True

    @property
    def attributes(self) -> tuple[VendorAttr, ...]:
        """Every vendor attribute this dialect may send."""
        extra = (self.combined, self.role, self.terminate_time)
        return (*self.up, *self.down, *(a for a in extra if a is not None))

    @property
    def sends_rates(self) -> bool:
        return bool(self.up or self.down or self.combined)


HUAWEI, ZTE, CISCO, WISPR, AIRESPACE, CHILLISPOT, ARUBA, MIKROTIK, RUCKUS, H3C = (
    2011, 3902, 9, 14122, 14179, 14559, 14823, 14988, 25053, 25506)
RUIJIE = 4881          # declared in our dictionary only: no attribute list is public


def _wispr(number: int, name: str) -> VendorAttr:
    return VendorAttr(f"WISPr-{name}", WISPR, number)


_WISPR_UP = (_wispr(7, "Bandwidth-Max-Up"),)
_WISPR_DOWN = (_wispr(8, "Bandwidth-Max-Down"),)

_DIALECT_LIST = (
    RadiusDialect(
        "huawei", "Huawei (2011): Input/Output-Average-Rate 2/5 + Peak 3/6, bit/s",
        up=(VendorAttr("Huawei-Input-Average-Rate", HUAWEI, 2),
            VendorAttr("Huawei-Input-Peak-Rate", HUAWEI, 3)),
        down=(VendorAttr("Huawei-Output-Average-Rate", HUAWEI, 5),
              VendorAttr("Huawei-Output-Peak-Rate", HUAWEI, 6)),
    ),
    RadiusDialect(
        # Numbered differently from Huawei: 1/4 are the peaks here (docs/protocols/radius.md §2.2).
        "h3c", "H3C (25506): Input/Output-Average-Rate 2/5 + Peak 1/4, bit/s",
        up=(VendorAttr("H3C-Input-Average-Rate", H3C, 2), VendorAttr("H3C-Input-Peak-Rate", H3C, 1)),
        down=(VendorAttr("H3C-Output-Average-Rate", H3C, 5),
              VendorAttr("H3C-Output-Peak-Rate", H3C, 4)),
    ),
    RadiusDialect(
        "wispr", "WISPr (14122): Bandwidth-Max-Up/Down 7/8 bit/s + Session-Terminate-Time 9",
        up=_WISPR_UP, down=_WISPR_DOWN, terminate_time=_wispr(9, "Session-Terminate-Time"),
    ),
    RadiusDialect(
        # Coova multiplies these by 1000 (docs/protocols/radius.md §2.2).
        "chillispot", "ChilliSpot/CoovaChilli (14559): Bandwidth-Max-Up/Down 4/5, kbit/s",
        rate_format=RateFormat.KBPS,
        up=(VendorAttr("ChilliSpot-Bandwidth-Max-Up", CHILLISPOT, 4),),
        down=(VendorAttr("ChilliSpot-Bandwidth-Max-Down", CHILLISPOT, 5),),
    ),
    RadiusDialect(
        "mikrotik", 'MikroTik (14988): Rate-Limit 8 = "<up>k/<down>k"',
        rate_format=RateFormat.MIKROTIK, combined=VendorAttr("Mikrotik-Rate-Limit", MIKROTIK, 8),
    ),
    RadiusDialect(
        "zte", "ZTE (3902): Rate-Ctrl-SCR-Up/Down 89/83, bit/s (unit: check on the device)",
        up=(VendorAttr("ZTE-Rate-Ctrl-SCR-Up", ZTE, 89),),
        down=(VendorAttr("ZTE-Rate-Ctrl-SCR-Down", ZTE, 83),), verified=False,
    ),
    RadiusDialect(
        # No Ruijie attribute list is public (docs/protocols/radius.md §2.2), so no Ruijie VSA is
        # sent: rates go out as WISPr, which the AC may or may not honour — check on the device
        # (or set the rate on the AC's web-auth template). A dialect of its own so that Ruijie
        # ACs can change without touching other WISPr NASes.
        "ruijie", "Ruijie (4881, no public attributes): WISPr Bandwidth-Max-Up/Down 7/8, bit/s",
        up=_WISPR_UP, down=_WISPR_DOWN, verified=False,
    ),
    RadiusDialect(
        # Cisco AireOS WLC AAA override: Airespace data bandwidth contracts, per user, in kbit/s
        # (the WLC's QoS-role "Average/Burst Data Rate" unit). ISE's Disconnect to a WLC names
        # the session by NAS-IP-Address, Calling-Station-Id and Acct-Session-Id; Cisco answers
        # a NAK when several identifiers are present and one does not match, so nothing else.
        "cisco", "Cisco WLC / Airespace (14179): Data-Bandwidth-Average/Burst-Contract, kbit/s",
        rate_format=RateFormat.KBPS,
        up=(VendorAttr("Airespace-Data-Bandwidth-Average-Contract-Upstream", AIRESPACE, 13),
            VendorAttr("Airespace-Data-Bandwidth-Burst-Contract-Upstream", AIRESPACE, 15)),
        down=(VendorAttr("Airespace-Data-Bandwidth-Average-Contract", AIRESPACE, 7),
              VendorAttr("Airespace-Data-Bandwidth-Burst-Contract", AIRESPACE, 9)),
        disconnect_ids=("NAS-IP-Address", "Calling-Station-Id", "Acct-Session-Id"), verified=False,
    ),
    RadiusDialect(
        # ArubaOS has no per-user rate attribute (none in Debian's dictionary.aruba): bandwidth
        # contracts hang on user roles. The plan's name is sent as Aruba-User-Role; define a role
        # of that name with its bw-contracts on the controller. ArubaOS identifies an RFC 3576
        # session by user-name, framed-ip-address, calling-station-id, accounting-session-id.
        "aruba", "Aruba (14823): Aruba-User-Role 1 = plan name (role carries the bandwidth)",
        rate_format=RateFormat.ROLE, role=VendorAttr("Aruba-User-Role", ARUBA, 1),
        disconnect_ids=("User-Name", "Acct-Session-Id", "Framed-IP-Address", "Calling-Station-Id"),
    ),
    RadiusDialect(
        # Debian's dictionary.ruckus has no rate attribute; Ruckus honours WISPr bandwidth
        # (docs/protocols/radius.md §2.2, per a PacketFence issue).
        "ruckus", "Ruckus (25053): WISPr Bandwidth-Max-Up/Down 7/8, bit/s",
        up=_WISPR_UP, down=_WISPR_DOWN, verified=False,
    ),
)

DIALECTS: dict[str, RadiusDialect] = {d.name: d for d in _DIALECT_LIST}


def get_dialect(name: str) -> RadiusDialect:
    """The dialect called ``name``; KeyError names the known ones."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise KeyError(f"unknown RADIUS dialect {name!r}; known: {', '.join(DIALECTS)}") from None
