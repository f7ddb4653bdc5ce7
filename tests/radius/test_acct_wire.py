"""radius/acct_wire.py: the pre-encoded accounting commands are byte for byte what hiredis's
encoder sends for the same keys and arguments, so Redis sees the same commands as before."""

from __future__ import annotations

import dataclasses

import hiredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.aaa.sessions import deadline_member
from portal.state import keys, keys_outbox
from radius.acct_log import log_fields
from radius.acct_record import AcctRecord
from radius.acct_wire import FIXED, VARIABLE, AcctWire, bulk_values, script_call

SHA = b"0123456789abcdef0123456789abcdef01234567"
TEXT = st.text(max_size=40)
NUMBER = st.integers(min_value=0, max_value=2**53 - 1)
SESSION = st.tuples(TEXT.filter(bool), TEXT.filter(bool), TEXT.filter(bool), TEXT,
                    st.sampled_from(["start", "interim", "stop"]), TEXT, TEXT, NUMBER, TEXT, TEXT,
                    TEXT, TEXT, NUMBER, NUMBER, TEXT)
# A loaded shared machine stretches single examples past hypothesis's default 200 ms deadline.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
VARIABLES = st.tuples(NUMBER, TEXT, NUMBER, NUMBER, NUMBER, st.sampled_from([0, 1]),
                      st.sampled_from([0, 1]), NUMBER, NUMBER)


def test_the_argument_layout_is_the_scripts() -> None:
    assert len(FIXED) + len(VARIABLE) == 22
    session = ("ac", "s1", "13800138000", "lg", "stop", "m", "ip", 300, "basic", "u", "ss", "v", 1, 2,
               "{}")
    script_keys, args = script_call(session, tuple(range(len(VARIABLE))))
    assert script_keys == [keys.phone_sessions("13800138000"), keys.usage("13800138000"),
                           keys.session_tombstone("13800138000", "ac", "s1"),
                           keys.login_claim("13800138000", "lg"),
                           keys_outbox.session_logout_pending("13800138000", "ac", "s1")]
    assert dict(zip(FIXED, args, strict=False)) == {
        "field": "ac|s1", "kind": "stop", "mac": "m", "ip": "ip", "interim": 300, "plan": "basic",
        "user name": "u", "ssid": "ss", "venue": "v", "login": "lg", "rate in": 1, "rate out": 2,
        "nas ids": "{}"}
    assert args[len(FIXED):] == list(range(len(VARIABLE)))
    no_login, _ = script_call(("ac", "s1", "p", "", "interim", *session[5:]), ())
    assert no_login[3] == keys.login_claim("p", "-") and len(no_login) == 4


@RELAXED
@given(SESSION, VARIABLES, VARIABLES)
def test_script_bytes_are_pack_command(session: tuple, first: tuple, second: tuple) -> None:
    wire = AcctWire(SHA)
    for variable in (first, second, first):    # the second call of a session uses the memo
        script_keys, args = script_call(session, variable)
        encoded = wire.script(session, variable)
        assert encoded.payload == hiredis.pack_command(("EVALSHA", SHA, len(script_keys), *script_keys,
                                                        *args))
        assert encoded.script == SHA      # a NOSCRIPT reply reloads this script


@RELAXED
@given(TEXT.filter(bool), TEXT.filter(bool), TEXT.filter(bool),
       st.integers(min_value=0, max_value=2**40) | st.floats(min_value=0, max_value=2e12))
def test_index_bytes_are_pack_command(ac: str, sid: str, phone: str, deadline: float) -> None:
    wire = AcctWire(SHA)
    for score in (deadline, deadline + 1, deadline):
        hset, zadd = wire.index(ac, sid, phone, score)
        assert hset == hiredis.pack_command(("HSET", keys.ac_sessions(ac), sid, phone))
        assert zadd == hiredis.pack_command(
            ("ZADD", keys.session_deadlines(), score, deadline_member(phone, ac, sid)))


def test_bulk_values_examples() -> None:
    assert bulk_values((0, "城", 1765147412.0, 2**53 - 1)) == hiredis.pack_command(
        (0, "城", 1765147412.0, 2**53 - 1))[len(b"*4\r\n"):]


def test_a_missing_argument_is_refused_as_before() -> None:
    """None (a record without User-Name) fails as RespPipeline fails it: redis-py's DataError."""
    wire = AcctWire(SHA)
    session = ("ac", "s1", "p", "", "interim", "", "", 300, "", None, "", "", 0, 0, "")
    with pytest.raises(redis.DataError):
        wire.script(session, (1, "20261208", 1, 1, 1, 0, 0, 1, 1))   # type: ignore[arg-type]


OPTIONAL_TEXT = st.none() | st.text(max_size=30)
OPTIONAL_NUMBER = st.none() | st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def records(draw: st.DrawFn) -> AcctRecord:
    return AcctRecord(
        status=draw(st.sampled_from([1, 2, 3])), session_id=draw(st.text(min_size=1, max_size=20)),
        user_name=draw(OPTIONAL_TEXT), calling_station_id=draw(OPTIONAL_TEXT),
        called_station_id=draw(OPTIONAL_TEXT), framed_ip=draw(st.none() | st.just("10.0.0.1")),
        nas_ip=draw(st.none() | st.just("127.0.0.1")), nas_identifier=draw(OPTIONAL_TEXT),
        session_time=draw(OPTIONAL_NUMBER), input_octets=draw(OPTIONAL_NUMBER),
        output_octets=draw(OPTIONAL_NUMBER), input_gigawords=draw(OPTIONAL_NUMBER),
        output_gigawords=draw(OPTIONAL_NUMBER), input_packets=draw(OPTIONAL_NUMBER),
        output_packets=draw(OPTIONAL_NUMBER), terminate_cause=draw(OPTIONAL_NUMBER),
        class_=draw(st.none() | st.binary(max_size=40)), event_timestamp=draw(OPTIONAL_NUMBER),
        delay_time=draw(OPTIONAL_NUMBER))


@RELAXED
@given(records(), records(), st.text(max_size=12), st.text(max_size=15),
       st.floats(min_value=0, max_value=2e9))
def test_log_entry_bytes_are_log_fields(first: AcctRecord, second: AcctRecord, ac: str, phone: str,
                                        at: float) -> None:
    """The same fields, values (escaped alike: control characters, backslashes) and order as
    radius.acct_log.log_fields, also when a session's next record reuses the memo."""
    wire = AcctWire(SHA)
    later = dataclasses.replace(first, session_time=second.session_time,
                                input_octets=second.input_octets, delay_time=second.delay_time)
    for record in (first, second, later, first):
        expected = log_fields("acct", ac, at, record, phone)
        assert wire.log_entry(ac, at, record, phone) == hiredis.pack_command(
            ("XADD", keys.acct_log(), "*", *[x for pair in expected.items() for x in pair]))


def test_log_entry_escapes_what_the_ac_sent() -> None:
    record = AcctRecord(status=3, session_id="s\x1b[31m", user_name="a\\b", input_octets=5)
    wire = AcctWire(SHA)
    fields = [x for pair in log_fields("acct", "ac", 1.5, record, "p").items() for x in pair]
    assert "s\\x1b[31m" in fields and "a\\\\b" in fields
    assert wire.log_entry("ac", 1.5, record, "p") == hiredis.pack_command(
        ("XADD", keys.acct_log(), "*", *fields))


def test_from_first_puts_every_attribute_in_its_field() -> None:
    """AcctRecord.from_first builds the record positionally: each attribute type lands in the
    field of its name (RFC 2865/2866/2869 types)."""
    import struct

    ints = {40: "status", 46: "session_time", 42: "input_octets", 43: "output_octets",
            52: "input_gigawords", 53: "output_gigawords", 47: "input_packets",
            48: "output_packets", 49: "terminate_cause", 55: "event_timestamp", 41: "delay_time"}
    texts = {44: "session_id", 1: "user_name", 31: "calling_station_id", 30: "called_station_id",
             32: "nas_identifier"}
    first: dict[int, bytes] = {t: struct.pack("!I", 1000 + t) for t in ints}
    first.update({t: f"v{t}".encode() for t in texts})
    first.update({8: bytes((10, 0, 0, 8)), 4: bytes((10, 0, 0, 4)), 25: b"class"})
    record = AcctRecord.from_first(first.get)
    assert {name: getattr(record, name) for name in ints.values()} == {
        name: 1000 + t for t, name in ints.items()}
    assert {name: getattr(record, name) for name in texts.values()} == {
        name: f"v{t}" for t, name in texts.items()}
    assert (record.framed_ip, record.nas_ip, record.class_) == ("10.0.0.8", "10.0.0.4", b"class")


@pytest.mark.parametrize("value", [None, "", "AA-BB-CC-DD-EE-FF:CityWiFi", "aa:bb:cc:dd:ee:ff:城市",
                                   "aabbccddeeff:x:y", "AA-BB-CC-DD-EE-FF", "just-an-ssid", "a:b"])
def test_called_station_of_is_split_called_station_id(value: str | None) -> None:
    from radius.acct_record import called_station_of
    from radius.called_station import split_called_station_id

    assert called_station_of(value) == split_called_station_id(value)
    assert called_station_of(value) == split_called_station_id(value)    # from the memo


def test_the_memos_stay_bounded_and_right_after_a_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    import radius.acct_wire as acct_wire

    monkeypatch.setattr(acct_wire, "_MAX_ENTRIES", 4)
    wire = AcctWire(SHA)
    variable = (1, "20261208", 2, 3, 4, 0, 0, 5, 6)
    for n in range(10):
        session = ("ac", f"s{n}", "p", "", "interim", "", "", 300, "", "", "", "", 0, 0, "")
        script_keys, args = script_call(session, variable)
        assert wire.script(session, variable).payload == hiredis.pack_command(
            ("EVALSHA", SHA, len(script_keys), *script_keys, *args))
        record = AcctRecord(status=3, session_id=f"s{n}", input_octets=n)
        assert wire.log_entry("ac", 1.0, record, "p") == hiredis.pack_command(
            ("XADD", keys.acct_log(), "*",
             *[x for pair in log_fields("acct", "ac", 1.0, record, "p").items() for x in pair]))
        wire.index("ac", f"s{n}", "p", 1.0)
        assert max(len(wire._scripts), len(wire._logs), len(wire._indexes)) <= 4
