"""An SMS gateway kind is declared once, in sms_gateway/kinds.py: the settings, the sms-worker's
factory and the example settings file all follow that table, so a kind registered there (and
nowhere else) is accepted, checked and built."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.commands.config import render_example
from portal.commands.sms_worker import build_backend, build_backends
from portal.runtime.settings import Settings, SettingsError, SmsGatewaySettings, load_settings
from sms_gateway.backend import SendResult, SmsBackend, SmsMessage
from sms_gateway.kinds import EVERY_KIND, KINDS, GatewayKind, Options


class EchoBackend(SmsBackend):
    """A throwaway backend: keeps what it was built from and what it was asked to send."""

    def __init__(self, options: Options) -> None:
        super().__init__(options["name"])
        self.options = dict(options)
        self.sent: list[SmsMessage] = []

    async def send(self, message: SmsMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(self.name, f"echo-{len(self.sent)}", (f"echo-{len(self.sent)}",), 1)

    async def close(self) -> None:
        return None


@pytest.fixture
def echo_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The one edit a new backend needs: its entry. It reads url and templates, and needs url.
    monkeypatch.setitem(KINDS, "echo", GatewayKind(EchoBackend, frozenset({"url", "templates"}),
                                                   required=frozenset({"url"})))
    yield


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "citywifi.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


ECHO = '[[sms.gateways]]\nname = "e"\nkind = "echo"\nurl = "https://sms.example/send"\n'


@pytest.mark.usefixtures("echo_kind")
def test_a_registered_kind_is_accepted_and_built_by_the_worker(tmp_path: Path) -> None:
    s = load(tmp_path, ECHO + 'templates = ["otp=T1"]\npriority = 5\n')
    (g,) = s.sms.gateways
    backend = build_backend(g, s)
    assert isinstance(backend, EchoBackend)
    assert (backend.name, backend.options["url"], backend.options["templates"]) == (
        "e", "https://sms.example/send", ("otp=T1",))
    failover = build_backends(s)
    (only,) = failover.backends
    assert isinstance(only, EchoBackend)
    result = asyncio.run(failover.send(SmsMessage("18900000001", "code 123456", "r1")))
    assert result == SendResult("e", "echo-1", ("echo-1",), 1)
    assert [m.phone for m in only.sent] == ["18900000001"]


@pytest.mark.usefixtures("echo_kind")
@pytest.mark.parametrize(("extra", "key", "fragment"), [
    ('host = "gw.example"\n', "sms.gateways[0].host", "not used by kind 'echo' (only by cmpp, smgp, smpp)"),
    ('templates = ["otp"]\n', "sms.gateways[0].templates[0]", "template=CODE"),
])
def test_a_registered_kind_gets_the_checks_of_the_options_it_reads(
        tmp_path: Path, extra: str, key: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, ECHO + extra)
    assert caught.value.key == key and fragment in str(caught.value)


@pytest.mark.usefixtures("echo_kind")
def test_a_registered_kind_needs_its_required_options_and_is_listed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, '[[sms.gateways]]\nname = "e"\nkind = "echo"\n')
    assert caught.value.key == "sms.gateways[0].url" and "endpoint is required" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, '[[sms.gateways]]\nname = "e"\nkind = "ehco"\n')
    assert "did you mean 'echo'" in str(caught.value) and "smpp, echo" in str(caught.value)
    assert '# kind = "file"  # file, http, aliyun, tencent, smgp, cmpp, smpp, echo\n' in render_example()


def test_the_kinds_read_exactly_the_gateway_options() -> None:
    """A kind naming an option the settings do not have (a typo) would fail only when built;
    an option no kind reads would be refused for every kind."""
    fields = {f.name for f in dataclasses.fields(SmsGatewaySettings)}
    read = set().union(*(kind.options | kind.required for kind in KINDS.values()))
    assert read <= fields - EVERY_KIND, read - fields
    assert fields - EVERY_KIND <= read, (fields - EVERY_KIND) - read
