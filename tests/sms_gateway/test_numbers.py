"""Number normalisation, validity and the shipped segment table (docs/protocols/sms.md §3.1, §3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway.errors import InvalidNumber, SmsError
from sms_gateway.numbers import normalise, parse_number
from sms_gateway.regions import RegionTable
from sms_gateway.segments import Carrier, Kind, SegmentTable, SegmentTableError, default_segments


@pytest.mark.parametrize(
    "text",
    [
        "13312345678", "+8613312345678", "+86 133 1234 5678", "+86-133-1234-5678", "0086 13312345678",
        "8613312345678", "86 133 1234 5678", "(+86) 133 1234 5678", "133.1234.5678", " 133 1234 5678 ",
        "１３３１２３４５６７８",  # full-width digits, as typed on Chinese keyboards
    ],
)
def test_formats_normalise_to_11_digits(text: str) -> None:
    num = parse_number(text)
    assert num.national == "13312345678"
    assert num.e164 == "+8613312345678"


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "hello", "1331234567", "133123456789",
        "02112345678",            # Shanghai landline
        "12312345678",            # 12x is not mobile
        "14112345678",            # unallocated, phonenumbers also rejects
        "1440123456789",          # 13-digit IoT number: refused outright
        "1" * 500,
    ],
)
def test_invalid_inputs_raise_invalid_number(text: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        parse_number(text)
    assert info.value.code == "invalid_number"
    assert info.value.message_zh and info.value.message_en


@pytest.mark.parametrize("text", ["+85261234567", "+1 415 555 0100", "+886 912 345 678", "001 415 555 0100"])
def test_another_countrys_number_is_refused_as_not_mainland(text: str) -> None:
    # Not a typo: the user gets "only mainland China numbers", not "not a valid number".
    with pytest.raises(InvalidNumber) as info:
        parse_number(text)
    assert info.value.code == "not_mainland"
    assert "中国大陆" in info.value.message_zh and "mainland China" in info.value.message_en


@pytest.mark.parametrize("text", ["+86 189-0000-0001", "+86 18900000001", "１８９" + "０" * 7 + "１",
                                  "＋８６ １８９－００００－０００１", "189\u30000000\u30000001"])
def test_autofill_and_input_method_formats(text: str) -> None:
    assert normalise(text) == "18900000001"


@pytest.mark.parametrize(
    ("number", "carrier", "kind", "segment"),
    [
        ("18912345678", Carrier.TELECOM, Kind.REGULAR, "189"),
        ("17312345678", Carrier.TELECOM, Kind.REGULAR, "173"),
        ("19912345678", Carrier.TELECOM, Kind.REGULAR, "199"),
        ("14912345678", Carrier.TELECOM, Kind.DATA, "149"),     # phonenumbers calls it invalid; MIIT does not
        ("16212345678", Carrier.TELECOM, Kind.VIRTUAL, "162"),
        ("17001234567", Carrier.TELECOM, Kind.VIRTUAL, "1700"),
        ("17031234567", Carrier.MOBILE, Kind.VIRTUAL, "1703"),
        ("17041234567", Carrier.UNICOM, Kind.VIRTUAL, "1704"),
        ("13492123456", Carrier.TELECOM, Kind.SATELLITE, "13492"),
        ("13481234567", Carrier.MOBILE, Kind.REGULAR, "1348"),
        ("17400123456", Carrier.TELECOM, Kind.SATELLITE, "17400"),
        ("17406123456", Carrier.OTHER, Kind.SATELLITE, "17406"),
        ("17491234567", Carrier.OTHER, Kind.SATELLITE, "1749"),
        ("16191234567", Carrier.SATNET, Kind.SATELLITE, "1619"),
        ("13812345678", Carrier.MOBILE, Kind.REGULAR, "138"),
        ("17212345678", Carrier.MOBILE, Kind.IOT, "172"),
        ("13012345678", Carrier.UNICOM, Kind.REGULAR, "130"),
        ("19212345678", Carrier.BROADNET, Kind.REGULAR, "192"),
    ],
)
def test_carrier_and_kind_from_table(number: str, carrier: Carrier, kind: Kind, segment: str) -> None:
    num = parse_number(number)
    assert (num.carrier, num.kind, num.segment) == (carrier, kind, segment)


def test_unallocated_but_phonenumbers_valid_is_unknown_carrier() -> None:
    # 13490 is not in the MIIT table (only 1349[2,3,9] are), phonenumbers still calls it valid.
    num = parse_number("13490123456")
    assert num.carrier is Carrier.UNKNOWN
    assert num.segment == "134"


def test_shipped_table_is_versioned() -> None:
    table = default_segments()
    assert table.version and table.as_of == "2023-03-31"
    assert "MIIT" in table.source
    assert len(table.by_prefix) > 80


def test_region_attached_when_table_given(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "regions.csv"
    csv = "prefix,province,city,province_en,city_en\n1331234,四川省,成都,,Chengdu\n"
    path.write_text(csv, encoding="utf-8")
    num = parse_number("133-1234-5678", regions=RegionTable(path))
    assert (num.province, num.city, num.province_en, num.city_en) == ("四川", "成都", "Sichuan", "Chengdu")
    assert parse_number("13312345678").province is None


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ('[telecom]\nregular=["133"]', "version"),
        ('version="1"\n[martian]\nregular=["133"]', "unknown carrier"),
        ('version="1"\n[telecom]\nmagic=["133"]', "unknown kind"),
        ('version="1"\n[telecom]\nregular=["13"]', "bad prefix"),
        ('version="1"\n[telecom]\nregular=["133"]\n[mobile]\nregular=["133"]', "twice"),
        ('version="1"', "no prefixes"),
        ("version=", "TOML"),
    ],
)
def test_bad_segment_tables_are_refused(doc: str, needle: str) -> None:
    with pytest.raises(SegmentTableError, match=needle):
        SegmentTable.loads(doc)


def test_custom_table_longest_prefix_wins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "seg.toml"
    doc = 'version="x"\n[telecom]\nregular=["138"]\n[mobile]\nvirtual=["13899"]\n'
    path.write_text(doc, encoding="utf-8")
    table = SegmentTable.load(path)
    assert parse_number("13812345678", segments=table).carrier is Carrier.TELECOM
    assert parse_number("13899123456", segments=table).carrier is Carrier.MOBILE


# --- properties ------------------------------------------------------------------------------

_PREFIXES = sorted(p for p in default_segments().by_prefix)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(_PREFIXES))
    rest = draw(st.text("0123456789", min_size=11 - len(prefix), max_size=11 - len(prefix)))
    return prefix + rest


@st.composite
def formatted(draw: st.DrawFn) -> tuple[str, str]:
    national = draw(valid_numbers())
    seps = st.sampled_from(["", " ", "-", ".", "  ", " - "])
    groups = [national[:3], national[3:7], national[7:]]
    if draw(st.booleans()):
        groups = [national[:3], national[3:5], national[5:8], national[8:]]
    body = "".join(g + draw(seps) for g in groups).rstrip(" -.")
    prefix = draw(st.sampled_from(
        ["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "86 ", "(+86) ", "(+86)"]
    ))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return national, pad + prefix + body + pad


@settings(max_examples=300, deadline=None)
@given(formatted())
def test_any_formatting_normalises_to_the_same_digits(case: tuple[str, str]) -> None:
    national, text = case
    assert normalise(text) == national
    assert parse_number(text).national == national


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text("+0123456789 -()", max_size=30)))
def test_garbage_only_ever_raises_invalid_number(text: str) -> None:
    try:
        num = parse_number(text)
    except InvalidNumber:
        return
    assert len(num.national) == 11 and num.national.isdigit() and num.national[0] == "1"


def test_invalid_number_is_an_sms_error() -> None:
    assert issubclass(InvalidNumber, SmsError)
