"""Delivery-report codes that mean "not a subscriber" (sms_gateway.delivery_reports table)."""

from __future__ import annotations

import pytest

from sms_gateway.delivery_reports import NumberFault, classify_report, parse_extra_codes

U, N = NumberFault.UNKNOWN_SUBSCRIBER, NumberFault.NO_SMS_SERVICE


@pytest.mark.parametrize(("protocol", "stat", "err", "expected"), [
    ("smgp", "UNDELIV", "004", U), ("smgp", "REJECTD", "008", N), ("smgp", "UNDELIV", "001", None),
    ("smgp", "DELIVRD", "004", None), ("smgp", "EXPIRED", "004", None),
    ("cmpp", "MK:0001", "", U), ("cmpp", "MI:0005", "", U), ("cmpp", "MN:0044", "", U),
    ("cmpp", "MK:0011", "", N), ("cmpp", "MK:0013", "", None), ("cmpp", "MA:0001", "", None),
    ("cmpp", "UNDELIV", "", None), ("cmpp", "MK:00X1", "", None),
    ("smpp", "UNDELIV", "001", U), ("smpp", "REJECTD", "5", U), ("smpp", "UNDELIV", "027", None),
    ("smpp", "DELIVRD", "001", None), ("http", "UNDELIV", "001", None),
])
def test_builtin_table(protocol: str, stat: str, err: str, expected: NumberFault | None) -> None:
    assert classify_report(protocol, stat, err) == expected


def test_smpp_network_error_code_gsm() -> None:
    assert classify_report("smpp", "UNDELIV", "000", network_error=(3, 1)) == U
    assert classify_report("smpp", "UNDELIV", "000", network_error=(2, 1)) is None   # IS-95: not MAP
    assert classify_report("smpp", "DELIVRD", "000", network_error=(3, 1)) is None


def test_operator_codes_extend_the_table() -> None:
    extra = parse_extra_codes(["UNDELIV/012", "mk:0029 ", "ID:0076"])
    assert classify_report("smgp", "UNDELIV", "012", extra=extra) == U
    assert classify_report("cmpp", "MK:0029", extra=extra) == U
    assert classify_report("smpp", "ID:0076", "999", extra=extra) == U
    assert classify_report("smgp", "UNDELIV", "013", extra=extra) is None
