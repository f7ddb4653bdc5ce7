"""Which delivery-report statuses mean "this number is not a subscriber we can reach".

A failed delivery usually says nothing about the number (phone off, inbox full, network busy),
but some failures do: the number is vacant, or it was ported to another carrier, or it exists
but cannot take SMS. For those the portal remembers the number as refused for a while, so the
next code request for it is answered at once instead of paying for another SMS that cannot
arrive (portal/phone/phone_policy.py writes that into the subscriber-lookup cache).

Mapping (first matching row wins; anything not listed is NOT a number fault):

=========  ====================  ========  ===================  ===========================================
protocol   stat                  err       fault                reference
=========  ====================  ========  ===================  ===========================================
smgp       UNDELIV, REJECTD      004       unknown_subscriber   SMGP 3.0.3 status report, err 004 "illegal
                                                                user" (not a subscriber of the SMGW)
smgp       UNDELIV, REJECTD      008       no_sms_service       SMGP 3.0.3 err 008 "not a short-message
                                                                terminal"
cmpp       MI:/MK:/MN:0001       —         unknown_subscriber   CMPP 3.0 Stat "XX:xxxx" (element + code); in
                                                                China Mobile's receipts xxxx is the GSM MAP
                                                                error: 1 unknownSubscriber (3GPP TS 29.002
                                                                MAP-Errors)
cmpp       MI:/MK:/MN:0005       —         unknown_subscriber   MAP 5 unidentifiedSubscriber
cmpp       MI:/MK:/MN:0044       —         unknown_subscriber   MAP 44 numberChanged (ported / re-numbered)
cmpp       MI:/MK:/MN:0011       —         no_sms_service       MAP 11 teleserviceNotProvisioned
smpp       (network_error_code   —         as the MAP row       SMPP 3.4 §5.3.2.31 network_error_code TLV,
           TLV, type 3 = GSM,                                   network type 3 (GSM): the code is the MAP
           code 1/5/44/11)                                      error above
smpp       UNDELIV, REJECTD      001/005/  as the MAP row       SMPP 3.4 Appendix B: ``err`` is "network
                                 044/011                        specific"; SMSCs put the GSM MAP error there
=========  ====================  ========  ===================  ===========================================

Not listed on purpose: EXPIRED, DELETED, UNKNOWN and plain UNDELIV without one of these codes
(phone off, out of coverage, barred for an unpaid bill — all temporary); MAP 6/27
absentSubscriber, 13 callBarred. ``MA:``/``MB:``/``MC:`` and the other element prefixes carry the
elements' own codes, not MAP errors (e.g. China Mobile's MA:0001 is a blacklist hit).

Gateways add vendor codes of their own; the operator lists them per gateway
(``sms.gateways[].not_subscriber_codes``: ``"STAT"`` or ``"STAT/ERR"``, e.g. ``"UNDELIV/012"``,
``"MK:0029"``), and those count as ``unknown_subscriber`` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["NumberFault", "classify_report", "parse_extra_codes"]


class NumberFault(StrEnum):
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"   # vacant number, or no longer on this network
    NO_SMS_SERVICE = "no_sms_service"           # the number exists but cannot receive SMS


# GSM MAP error codes (3GPP TS 29.002, MAP-Errors ASN.1 module, local values) that describe the
# number rather than the moment.
MAP_FAULTS: dict[int, NumberFault] = {
    1: NumberFault.UNKNOWN_SUBSCRIBER,     # unknownSubscriber
    5: NumberFault.UNKNOWN_SUBSCRIBER,     # unidentifiedSubscriber
    44: NumberFault.UNKNOWN_SUBSCRIBER,    # numberChanged
    11: NumberFault.NO_SMS_SERVICE,        # teleserviceNotProvisioned
}
_FAILED = frozenset({"UNDELIV", "REJECTD"})
_SMGP_ERR = {"004": NumberFault.UNKNOWN_SUBSCRIBER, "008": NumberFault.NO_SMS_SERVICE}
_CMPP_MAP_ELEMENTS = ("MI", "MK", "MN")
GSM_NETWORK = 3          # SMPP 3.4 §5.3.2.31 network type 3 = GSM


def parse_extra_codes(codes: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``"STAT"`` / ``"STAT/ERR"`` settings entries → {(STAT, ERR or "")} (upper case)."""
    out: set[tuple[str, str]] = set()
    for code in codes:
        stat, _, err = code.strip().upper().partition("/")
        out.add((stat.strip(), err.strip()))
    return frozenset(out)


def _map_code(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else None


def classify_report(protocol: str, stat: str, err: str = "", *,
                    network_error: tuple[int, int] | None = None,
                    extra: frozenset[tuple[str, str]] = frozenset()) -> NumberFault | None:
    """The number fault a delivery report states, or None (see the table in the module doc).

    ``network_error`` is SMPP's network_error_code TLV as (network type, error code)."""
    stat = stat.strip().upper()
    err = err.strip().upper()
    if (stat, "") in extra or (stat, err) in extra:
        return NumberFault.UNKNOWN_SUBSCRIBER
    if protocol == "smgp":
        return _SMGP_ERR.get(err) if stat in _FAILED else None
    if protocol == "cmpp":
        element, sep, code = stat.partition(":")
        if sep and element in _CMPP_MAP_ELEMENTS and len(code) == 4:
            number = _map_code(code)
            return MAP_FAULTS.get(number) if number is not None else None
        return None
    if protocol == "smpp":
        if network_error is not None and network_error[0] == GSM_NETWORK:
            fault = MAP_FAULTS.get(network_error[1])
            if fault is not None and stat in _FAILED:
                return fault
        if stat in _FAILED:
            number = _map_code(err)
            return MAP_FAULTS.get(number) if number is not None else None
    return None
