"""Parse and normalise mainland-China mobile numbers (docs/protocols/sms.md §3.3, §3.6).

``parse_number("+86 133-1234-5678")`` → ``MobileNumber(national="13312345678", …)``. Anything that
is not a mainland mobile number raises ``InvalidNumber`` — never another exception, whatever the
input (a property test holds us to that).

Validity: the 11-digit form ``1[3-9]xxxxxxxxx`` and either a segment from our shipped MIIT table
or ``phonenumbers`` judging it a valid CN mobile number. Both are needed because phonenumbers'
metadata lags the allocation (it rejects real Telecom 149 data cards and the 1749 satellite
segment), while our table does not know every future segment that phonenumbers may learn first.
phonenumbers also does the input clean-up: +86 / 0086 / 86 prefixes, spaces (also the ideographic
one), dashes, brackets, dots, full-width digits and plus (as Chinese input methods type them). A
number of another country is refused with its own code (``not_mainland``), not as a typo.
Carrier and region never come from phonenumbers (wrong for 173, 16x, 19x).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from sms_gateway.errors import InvalidNumber
from sms_gateway.regions import RegionTable
from sms_gateway.segments import Carrier, Kind, SegmentTable, default_segments
from sms_gateway.texts import ERRORS

__all__ = ["MobileNumber", "normalise", "parse_number"]

_NATIONAL = re.compile(r"1[3-9][0-9]{9}")
_MAX_INPUT = 64         # longer text is not a phone number someone typed; refuse before parsing
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True, slots=True)
class MobileNumber:
    e164: str              # +8613312345678
    national: str          # 13312345678
    segment: str           # matched table prefix (3–5 digits), or the first 3 digits if unknown
    carrier: Carrier       # by original allocation; portability may have changed it (§3.2)
    kind: Kind
    province: str | None   # short Chinese name from the region table, None if unknown
    city: str | None
    province_en: str | None = None
    city_en: str | None = None


def normalise(text: str) -> str:
    """The 11-digit national form of a mainland mobile number; ``InvalidNumber`` otherwise."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise InvalidNumber(f"not a phone number: {str(text)[:_MAX_INPUT]!r}")
    return _normalise(text)


@functools.lru_cache(maxsize=4096)
def _normalise(text: str) -> str:
    # A login normalises its number several times (code request, policy, verify), and
    # phonenumbers.parse is the costly part: the last few thousand answers are kept (a pure
    # function of the text; a refusal raises and is not kept).
    stripped = text.strip()
    if not stripped:
        raise InvalidNumber("empty phone number")
    try:
        parsed = phonenumbers.parse(stripped, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number: {stripped!r}") from exc
    except Exception as exc:  # phonenumbers on hostile input: keep the typed-error promise
        raise InvalidNumber(f"not a phone number: {stripped!r}") from exc
    if parsed.country_code != 86:
        # Another country's number (+1 415…, +852…): not mistyped, just not one we serve.
        raise InvalidNumber(f"not a mainland China number: {stripped!r}", code="not_mainland",
                            message_zh=ERRORS["not_mainland"][0], message_en=ERRORS["not_mainland"][1])
    if parsed.italian_leading_zero:
        raise InvalidNumber(f"not a mainland China number: {stripped!r}")
    national = str(parsed.national_number)
    if not _NATIONAL.fullmatch(national):
        raise InvalidNumber(f"not a mainland China mobile number: {stripped!r}")
    return national


def parse_number(
    text: str,
    *,
    segments: SegmentTable | None = None,
    regions: RegionTable | None = None,
) -> MobileNumber:
    """Normalise ``text`` and attach carrier, kind and (if a region table is given) region."""
    national = normalise(text)
    table = segments if segments is not None else default_segments()
    seg = table.lookup(national)
    if seg is None:
        parsed = phonenumbers.parse(national, "CN")
        if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
            raise InvalidNumber(f"{national} is not an allocated mobile number segment")
        segment, carrier, kind = national[:3], Carrier.UNKNOWN, Kind.REGULAR
    else:
        segment, carrier, kind = seg.prefix, seg.carrier, seg.kind
    region = regions.lookup(national) if regions is not None else None
    return MobileNumber(
        e164="+86" + national,
        national=national,
        segment=segment,
        carrier=carrier,
        kind=kind,
        province=region.province if region else None,
        city=region.city if region else None,
        province_en=(region.province_en or None) if region else None,
        city_en=(region.city_en or None) if region else None,
    )
