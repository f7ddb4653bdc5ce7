import pytest
import redis

from portal.aaa.blocklist import Blocklist, normalise_mac
from portal.errors import ValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_block_phone_and_mac_with_expiry(redis_client: redis.Redis) -> None:
    clock = Clock()
    bl = Blocklist(redis_client, clock)
    bl.block("phone", "+86 133-0000-0001", "abuse", ttl=3600, by="noc1")
    bl.block("mac", "AA-BB-CC-DD-EE-FF", "stolen", by="noc1")
    assert bl.is_blocked_phone("13300000001")
    assert bl.is_blocked_mac("aabb.ccdd.eeff")
    assert not bl.is_blocked_phone("13300000002")
    clock.now += 3601
    assert not bl.is_blocked_phone("13300000001")      # expired
    assert bl.is_blocked_mac("aa:bb:cc:dd:ee:ff")        # no expiry
    assert [e.value for e in bl.entries("mac")] == ["aa:bb:cc:dd:ee:ff"]
    assert bl.unblock("mac", "AABBCCDDEEFF")
    assert not bl.is_blocked_mac("aa:bb:cc:dd:ee:ff")


@pytest.mark.parametrize("bad", ["", "aa:bb", "zz:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff:00"])
def test_bad_mac_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        normalise_mac(bad)
