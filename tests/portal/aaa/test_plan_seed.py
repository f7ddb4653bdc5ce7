"""``[[plans]]`` / ``[[plan_rules]]`` in the TOML file: typed and validated settings (errors name
the key), seeded into real Redis without ever undoing what the NOC changed there since."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.plans import Plan, PlanStore, plan_from_seed, seed_plans
from portal.runtime.settings import PlanRuleSeed, PlanSeed, Settings, SettingsError, load_settings
from portal.state import keys
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parents[3]

TOML = """
[[plans]]
name = "basic"
title_zh = "基础套餐"
title_en = "Basic"
up_kbps = 2000
down_kbps = 8000
daily_time = 14400
max_sessions = 2
interim_interval = 300
valid_until = 4102444800

[[plans]]
name = "vip"
down_kbps = 50000

[[plan_rules]]
scope = "default"
plan = "basic"

[[plan_rules]]
scope = "venue"
key = "library"
plan = "vip"
"""


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "citywifi.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def test_plans_are_typed_and_zero_means_unset(tmp_path: Path) -> None:
    settings = _load(tmp_path, TOML)
    assert [p.name for p in settings.plans] == ["basic", "vip"]
    assert settings.plan_rules == (PlanRuleSeed("default", "", "basic"),
                                   PlanRuleSeed("venue", "library", "vip"))
    basic = plan_from_seed(settings.plans[0])
    assert basic == Plan(name="basic", title_zh="基础套餐", title_en="Basic", up_kbps=2000, down_kbps=8000,
                         daily_time=14400, max_sessions=2, interim_interval=300, valid_until=4102444800.0)
    assert plan_from_seed(settings.plans[1]).up_kbps is None
    # Every Plan field can be seeded.
    assert {f.name for f in dataclasses.fields(PlanSeed)} == {f.name for f in dataclasses.fields(Plan)}


@pytest.mark.parametrize(("text", "key"), [
    ('[[plans]]\nname = "a"\ndown_kbps = -1\n', "plans[0].down_kbps"),
    ('[[plans]]\nname = "a"\ndown_kbps = "fast"\n', "plans[0].down_kbps"),
    ('[[plans]]\nname = "a"\ndownload_kbps = 1\n', "plans[0].download_kbps"),
    ('[[plans]]\nname = "a"\ninterim_interval = 30\n', "plans[0].interim_interval"),
    ('[[plans]]\nname = "a"\n[[plans]]\nname = "bad name"\n', "plans[1].name"),
    ('[[plans]]\ntitle_zh = "无名"\n', "plans[0].name"),
    ('[[plans]]\nname = "a"\n[[plans]]\nname = "a"\n', "plans[1].name"),
    ('[[plan_rules]]\nscope = "city"\nplan = "a"\n', "plan_rules[0].scope"),
    ('[[plan_rules]]\nscope = "ssid"\nplan = "a"\n', "plan_rules[0].key"),
    ('[[plan_rules]]\nscope = "default"\nkey = "x"\nplan = "a"\n', "plan_rules[0].key"),
    ('[[plan_rules]]\nscope = "ac"\nkey = "ac1"\n', "plan_rules[0].plan"),
    ('[[plan_rules]]\nplan = "a"\n[[plan_rules]]\nplan = "b"\n', "plan_rules[1]"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(SettingsError) as err:
        _load(tmp_path, text)
    assert err.value.key == key, str(err.value)
    assert str(err.value).startswith(key + ": ")


def test_seed_writes_then_never_undoes_noc_work(redis_client: Any, tmp_path: Path) -> None:
    settings = _load(tmp_path, TOML)
    store = PlanStore(redis_client, cache_ttl=0.0)
    written = seed_plans(store, settings.plans, settings.plan_rules)
    assert written == ["plan:basic", "plan:vip", "rule:*", "rule:venue:library"]
    assert store.resolve("18900000001", "ac1", "S").name == "basic"
    assert store.resolve("18900000001", "ac1", "S", venue="library").name == "vip"
    assert seed_plans(store, settings.plans, settings.plan_rules) == []      # a restart: nothing to do

    # The NOC edits "vip" and moves the default; the TOML then changes both plans and the default.
    store.put(dataclasses.replace(store.get("vip"), down_kbps=99999))
    store.put(Plan(name="noc-plan"))
    store.assign("default", "", "noc-plan")
    changed = (dataclasses.replace(settings.plans[0], down_kbps=10000),
               dataclasses.replace(settings.plans[1], down_kbps=1))
    written = seed_plans(store, changed, (PlanRuleSeed("default", "", "vip"), *settings.plan_rules[1:]))
    assert written == ["plan:basic"]                   # untouched since the seed: the TOML applies
    assert store.get("basic").down_kbps == 10000
    assert store.get("vip").down_kbps == 99999         # NOC edit kept
    assert store.rules()["*"] == "noc-plan"            # NOC rule kept

    # What the NOC deleted (a rule unassigned, a plan removed) does not come back on restart.
    store.unassign("venue", "library")
    redis_client.hdel(keys.plan_defs(), "basic")
    assert seed_plans(store, changed, settings.plan_rules) == []
    assert "venue:library" not in store.rules() and store.get_or_none("basic") is None

    # A plan the NOC created before it appeared in the TOML is theirs: never overwritten.
    store.put(Plan(name="night", down_kbps=1000))
    assert seed_plans(store, (PlanSeed(name="night", down_kbps=5),), ()) == []
    assert store.get("night").down_kbps == 1000


def test_rules_may_name_redis_plans_and_unknown_plans_are_skipped(
        redis_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    store = PlanStore(redis_client, cache_ttl=0.0)
    store.put(Plan(name="console-made"))
    rules = (PlanRuleSeed("ssid", "CityWiFi", "console-made"), PlanRuleSeed("ac", "ac9", "ghost"))
    with caplog.at_level("WARNING", logger="portal.aaa.plans"):
        assert seed_plans(store, (), rules) == ["rule:ssid:CityWiFi"]
    assert store.rules() == {"ssid:CityWiFi": "console-made"}
    assert any("ghost" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_ac_listener_start_seeds_plans(redis_client: Any, redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "citywifi.toml"
    config.write_text(TOML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(PYTHONPATH=str(ROOT), CITYWIFI_REDIS_URL=redis_url, CITYWIFI_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(config), "ac-listener", "--host", "127.0.0.1",
         "--port", str(free_udp_port())], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        store = PlanStore(redis_client, cache_ttl=0.0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and store.rules().get("venue:library") != "vip":
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        assert store.get("basic").down_kbps == 8000 and store.rules()["*"] == "basic"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
