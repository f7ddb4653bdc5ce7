"""NumberPolicy: every branch, and the messages a phone user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms_gateway.errors import InvalidNumber, LookupFailed, NumberRefused
from sms_gateway.lookup import SubscriberInfo
from sms_gateway.policy import NumberPolicy
from sms_gateway.regions import RegionTable
from sms_gateway.segments import Carrier

CSV = """prefix,province,city,province_en,city_en
1330800,四川,成都,Sichuan,Chengdu
1380800,四川,成都,Sichuan,Chengdu
1890830,四川,绵阳,Sichuan,Mianyang
1330230,重庆,重庆,Chongqing,Chongqing
1330100,北京,北京,Beijing,Beijing
"""


@pytest.fixture
def regions(tmp_path: Path) -> RegionTable:
    path = tmp_path / "regions.csv"
    path.write_text(CSV, encoding="utf-8")
    return RegionTable(path)


class FakeLookup:
    """A lookup hook stand-in (the HTTP client itself is tested against a real server)."""

    def __init__(self, answers: dict[str, SubscriberInfo | None], fail: bool = False) -> None:
        self.answers = answers
        self.fail = fail
        self.calls: list[str] = []

    def lookup(self, msisdn: str) -> SubscriberInfo | None:
        self.calls.append(msisdn)
        if self.fail:
            raise LookupFailed("down", code="lookup_timeout")
        return self.answers.get(msisdn)


def refused(policy: NumberPolicy, number: str) -> NumberRefused:
    with pytest.raises(NumberRefused) as info:
        policy.check(number)
    err = info.value
    assert err.message_zh and err.message_en
    return err


def test_default_allows_telecom_regular_and_data() -> None:
    policy = NumberPolicy()
    ok = policy.check("+86 189 1234 5678")
    assert (ok.carrier, ok.source, ok.ported) == (Carrier.TELECOM, "table", False)
    assert policy.check("14912345678").number.kind.value == "data"


def test_other_carrier_refused_with_reason() -> None:
    err = refused(NumberPolicy(), "13812345678")
    assert err.code == "carrier_not_allowed"
    assert err.message_zh == "仅限中国电信号码使用本 Wi-Fi，该号码属于中国移动。"
    assert err.message_en == (
        "Only China Telecom numbers can use this Wi-Fi; this number belongs to China Mobile."
    )


def test_unknown_segment_refused() -> None:
    err = refused(NumberPolicy(), "13490123456")
    assert err.code == "carrier_unknown"
    assert "unknown" in err.message_en


def test_several_carriers_allowed() -> None:
    policy = NumberPolicy(allowed_carriers=["telecom", "mobile"])
    assert policy.check("13812345678").carrier is Carrier.MOBILE
    err = refused(policy, "13012345678")
    assert "China Telecom or China Mobile" in err.message_en and "中国电信或中国移动" in err.message_zh


@pytest.mark.parametrize(
    ("number", "word"), [("16212345678", "Virtual-operator"), ("13492123456", "Satellite")]
)
def test_virtual_and_satellite_refused_by_default(number: str, word: str) -> None:
    err = refused(NumberPolicy(), number)
    assert err.code == "kind_not_allowed"
    assert err.message_en.startswith(word)


def test_kinds_can_be_allowed() -> None:
    policy = NumberPolicy(allowed_kinds=["regular", "virtual", "satellite"])
    assert policy.check("16212345678").number.kind.value == "virtual"
    assert policy.check("13492123456").number.kind.value == "satellite"
    assert refused(policy, "14912345678").code == "kind_not_allowed"    # data not in this list


def test_invalid_number_is_not_a_refusal() -> None:
    with pytest.raises(InvalidNumber):
        NumberPolicy().check("12345")


def test_province_restriction(regions: RegionTable) -> None:
    policy = NumberPolicy(allowed_provinces=["四川省"], regions=regions)
    ok = policy.check("13308001234")
    assert ok.number.city == "成都"
    err = refused(policy, "13302301234")
    assert err.code == "region_not_allowed"
    assert err.message_en == (
        "Only China Telecom numbers of Sichuan can use this Wi-Fi; this number is from Chongqing, Chongqing."
    )
    assert err.message_zh == "仅限四川中国电信号码使用本 Wi-Fi，该号码归属重庆重庆。"


def test_city_restriction(regions: RegionTable) -> None:
    policy = NumberPolicy(allowed_cities=["成都市"], regions=regions)
    assert policy.check("13308009999").number.city == "成都"
    err = refused(policy, "18908301234")
    assert err.code == "region_not_allowed"
    assert "China Telecom numbers of Chengdu" in err.message_en and "绵阳" in err.message_zh


def test_province_or_city(regions: RegionTable) -> None:
    policy = NumberPolicy(allowed_provinces=["Chongqing"], allowed_cities=["成都"], regions=regions)
    policy.check("13302301234")
    policy.check("13308001234")
    assert refused(policy, "13301001234").code == "region_not_allowed"


def test_unknown_region_refused_or_allowed(regions: RegionTable) -> None:
    err = refused(NumberPolicy(allowed_provinces=["四川"], regions=regions), "13399991234")
    assert err.code == "region_unknown"
    assert "Sichuan" in err.message_en
    NumberPolicy(allowed_provinces=["四川"], regions=regions, unknown_region="allow").check("13399991234")
    with pytest.raises(ValueError):
        NumberPolicy(unknown_region="maybe")


def test_no_region_rule_means_region_unneeded() -> None:
    assert NumberPolicy().check("13399991234").number.province is None


def test_deny_list_beats_everything() -> None:
    policy = NumberPolicy(deny_list=["+86 189-1234-5678"], allow_list=["18912345678"])
    assert refused(policy, "18912345678").code == "denied"


def test_allow_list_skips_carrier_kind_region(regions: RegionTable) -> None:
    lookup = FakeLookup({})
    policy = NumberPolicy(allow_list=["13812345678", "16512345678"], allowed_provinces=["北京"],
                          regions=regions, lookup=lookup)
    assert policy.check("13812345678").source == "allow_list"
    assert policy.check("16512345678").source == "allow_list"
    assert lookup.calls == []


def test_lookup_ported_in_is_allowed(regions: RegionTable) -> None:
    lookup = FakeLookup({"13808001234": SubscriberInfo(Carrier.TELECOM, ported=True)})
    policy = NumberPolicy(lookup=lookup, allowed_provinces=["四川"], regions=regions)
    ok = policy.check("13808001234")
    assert (ok.carrier, ok.source, ok.ported) == (Carrier.TELECOM, "lookup", True)
    assert ok.number.carrier is Carrier.MOBILE       # the prefix still says what it says


def test_lookup_ported_out_is_refused() -> None:
    lookup = FakeLookup({"18912345678": SubscriberInfo(Carrier.MOBILE, ported=True)})
    err = refused(NumberPolicy(lookup=lookup), "18912345678")
    assert err.code == "carrier_not_allowed" and "China Mobile" in err.message_en


def test_lookup_region_overrides_table(regions: RegionTable) -> None:
    lookup = FakeLookup({"13308001234": SubscriberInfo(Carrier.TELECOM, province="重庆", city="重庆")})
    policy = NumberPolicy(lookup=lookup, allowed_provinces=["四川"], regions=regions)
    assert refused(policy, "13308001234").code == "region_not_allowed"


def test_lookup_without_answer_uses_table() -> None:
    lookup = FakeLookup({"18912345678": None, "13312345678": SubscriberInfo(None)})
    policy = NumberPolicy(lookup=lookup)
    assert policy.check("18912345678").source == "table"
    assert policy.check("13312345678").source == "table"
    assert refused(policy, "13812345678").code == "carrier_not_allowed"


def test_lookup_failure_falls_back_to_table_and_says_so() -> None:
    policy = NumberPolicy(lookup=FakeLookup({}, fail=True))
    ok = policy.check("18912345678")
    assert ok.source == "table" and ok.lookup_error.startswith("lookup_timeout")
    assert refused(policy, "13812345678").code == "carrier_not_allowed"
