"""``normalise_mac`` returns a MAC already in canonical form as it is (a login normalises the same
MAC about eight times) and every other spelling as before; what is no MAC is still refused."""

from __future__ import annotations

import pytest

from portal.aaa.blocklist import normalise_mac
from portal.errors import ValidationError


@pytest.mark.parametrize(("given", "expected"), [
    ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"), ("AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"),
    ("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"), ("aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"),
    ("AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff"), (" 02:00:0a:40:01:64 ", "02:00:0a:40:01:64"),
    ("02:00:0a:40:01:64", "02:00:0a:40:01:64"), ("0:2:0:0:0a:40:01:64", "02:00:0a:40:01:64"),
])
def test_spellings_of_one_mac(given: str, expected: str) -> None:
    assert normalise_mac(given) == expected


@pytest.mark.parametrize("given", [
    "", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff\n",
    "aa:bb:cc:dd:ee:f", "ａａ:bb:cc:dd:ee:ff", "aa;bb;cc;dd;ee;ff",
])
def test_what_is_no_mac_is_refused(given: str) -> None:
    with pytest.raises(ValidationError):
        normalise_mac(given)
