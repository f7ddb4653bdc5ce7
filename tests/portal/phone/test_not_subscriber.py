"""Delivery-report verdicts in the number policy's lookup cache: a number a
report called "not a subscriber" is refused without sending until the entry expires — with or
without an operator lookup endpoint, over the real Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portal.phone.phone_policy import build_number_policy, remember_not_subscriber
from portal.runtime.settings import NumberPolicySettings
from portal.state import keys
from sms_gateway.errors import NumberRefused
from tests.sms_gateway.test_lookup import Operator, operator_url  # noqa: F401  (fixture)

NUMBER = "18900000001"


def wait_allowed(policy: Any, number: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            policy.check(number)
            return
        except NumberRefused:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_report_verdict_refuses_without_an_endpoint_until_it_expires(redis_client: Any) -> None:
    policy = build_number_policy(NumberPolicySettings(), redis_client)
    assert policy.check(NUMBER).source == "table"
    remember_not_subscriber(redis_client, NUMBER, "unknown_subscriber", 1)
    with pytest.raises(NumberRefused) as caught:
        policy.check("+86 189-0000-0001")
    err = caught.value
    assert err.code == "not_subscriber"
    assert "空号或已携号转网" in err.message_zh and "ported-out" in err.message_en
    assert "中国电信" in err.message_zh and "China Telecom" in err.message_en   # what IS allowed
    assert policy.check("18900000002").source == "table"                       # only that number
    wait_allowed(policy, NUMBER)          # the entry expired: allowed again, by the table
    assert redis_client.get(keys.carrier_lookup(NUMBER)) is None


def test_no_sms_service_has_its_own_words(redis_client: Any) -> None:
    policy = build_number_policy(NumberPolicySettings(), redis_client)
    remember_not_subscriber(redis_client, NUMBER, "no_sms_service", 60)
    with pytest.raises(NumberRefused) as caught:
        policy.check(NUMBER)
    assert caught.value.code == "not_subscriber"
    assert "无法接收短信" in caught.value.message_zh and "cannot receive SMS" in caught.value.message_en
    remember_not_subscriber(redis_client, "18900000003", "unknown_subscriber", 0)   # ttl 0 = off
    assert policy.check("18900000003")


def test_report_verdict_replaces_an_endpoint_answer_then_the_endpoint_is_asked_again(
        redis_client: Any, operator_url: str) -> None:  # noqa: F811
    number = "13812345678"           # the endpoint says: ported in to Telecom
    policy = build_number_policy(NumberPolicySettings(lookup_url=operator_url), redis_client)
    assert policy.check(number).source == "lookup"
    assert len(Operator.calls) == 1
    remember_not_subscriber(redis_client, number, "unknown_subscriber", 1)
    with pytest.raises(NumberRefused) as caught:
        policy.check(number)
    assert caught.value.code == "not_subscriber" and len(Operator.calls) == 1   # answered from Redis
    wait_allowed(policy, number)
    assert len(Operator.calls) == 2 and policy.check(number).source == "lookup"


def test_a_garbled_cache_entry_does_not_refuse(redis_client: Any) -> None:
    redis_client.set(keys.carrier_lookup(NUMBER), b"{not json", ex=60)
    assert build_number_policy(NumberPolicySettings(), redis_client).check(NUMBER).source == "table"
