from pathlib import Path
from typing import Any

import pytest
import redis

from portal.aaa.acs import AcRecord, AcRegistry
from portal.errors import NotFound, ValidationError
from portal.runtime.settings import AcSeed, RedisSettings, SettingsError
from portal.state import StateUnavailable, connect
from portal.state.embedded import EmbeddedRedis


def test_embedded_redis_on_unix_socket_persists_across_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data").start()
    assert server.url.startswith("unix://")
    client = connect(RedisSettings(), server.url)
    client.set("k", "v")
    server.stop()                      # SIGTERM: AOF flushed
    server.start()
    client = connect(RedisSettings(), server.url)
    assert client.get("k") == b"v"
    server.stop()


def test_embedded_redis_kill_keeps_fsynced_writes(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data", port=0).start()
    client = connect(RedisSettings(), server.url)
    client.set("durable", "yes")
    client.execute_command("BGREWRITEAOF")
    client.close()
    import time
    time.sleep(1.5)                     # appendfsync everysec
    server.kill()
    server.start()
    assert connect(RedisSettings(), server.url).get("durable") == b"yes"
    server.stop()


def test_connect_to_dead_redis_raises_state_unavailable() -> None:
    with pytest.raises(StateUnavailable, match="unreachable"):
        connect(RedisSettings(socket_timeout=0.2), "redis://127.0.0.1:1/0")


@pytest.mark.parametrize("url", ["http://x", "localhost:6379"])
def test_bad_url_names_the_key(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        connect(RedisSettings(), url)
    assert info.value.key == "redis.url"


def test_bad_sentinel_entry_names_the_key() -> None:
    with pytest.raises(SettingsError) as info:
        connect(RedisSettings(sentinels=("nocolon",)))
    assert info.value.key == "redis.sentinels"


def ac(name: str = "ac1", **kw: Any) -> AcRecord:
    values: dict[str, Any] = {"addresses": ("192.0.2.1",), "secret": "s3cret"}
    values.update(kw)
    return AcRecord(name=name, **values)


def test_registry_crud_and_address_index(redis_client: redis.Redis) -> None:
    reg = AcRegistry(redis_client)
    reg.put(ac(addresses=("192.0.2.1", "192.0.2.2"), bas_ip="198.51.100.1", vendor="h3c"))
    assert reg.get("ac1").vendor == "h3c"
    for addr in ("192.0.2.1", "192.0.2.2", "198.51.100.1"):
        found = reg.by_address(addr)
        assert found is not None and found.name == "ac1"
    assert reg.by_address("192.0.2.99") is None
    # Moving an address away frees it in the index.
    reg.put(ac(addresses=("192.0.2.2",)))
    assert reg.by_address("192.0.2.1") is None
    assert reg.by_address("198.51.100.1") is None
    assert reg.names() == ["ac1"]
    reg.delete("ac1")
    assert reg.by_address("192.0.2.2") is None
    with pytest.raises(NotFound):
        reg.get("ac1")


def test_registry_refuses_address_of_another_ac(redis_client: redis.Redis) -> None:
    reg = AcRegistry(redis_client)
    reg.put(ac("a"))
    with pytest.raises(ValidationError, match="already belongs to AC a"):
        reg.put(ac("b"))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"vendor": "acme"}, "unknown vendor profile"),
        ({"addresses": ("not-an-ip",)}, "not an IP address"),
        ({"addresses": ()}, "at least one address"),
        ({"secret": ""}, "shared secret"),
        ({"port": 70000}, "out of range"),
        ({"name": "bad name"}, "AC name"),
    ],
)
def test_record_validation(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ac(**kw)


def test_seed_does_not_overwrite_console_edits(redis_client: redis.Redis) -> None:
    reg = AcRegistry(redis_client)
    seed = AcSeed(name="ac1", addresses=("192.0.2.1",), secret="from-toml")
    assert reg.seed((seed,)) == ["ac1"]
    reg.put(ac(secret="from-console"))
    assert reg.seed((seed,)) == []
    assert reg.get("ac1").secret == "from-console"
    assert reg.seed((seed,), overwrite=True) == ["ac1"]
    assert reg.get("ac1").secret == "from-toml"
    assert reg.get("ac1").effective_radius_secret == "from-toml"
    # Deleted in the console (say its secret leaked): the next start does not bring it back.
    reg.delete("ac1")
    assert reg.seed((seed,)) == [] and reg.get_or_none("ac1") is None
    # A new AC added to the file later is still seeded.
    assert reg.seed((seed, AcSeed(name="ac2", addresses=("192.0.2.2",), secret="new-one"))) == ["ac2"]
