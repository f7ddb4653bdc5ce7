"""User-Names with a realm or a country prefix, as Huawei/H3C "domain included"
formats and international-format ACs send them, reach the phone's credentials — with Debian's
radtest/radclient as the AC."""

from __future__ import annotations

from typing import Any

import pytest

from portal.aaa.credentials import CredentialStore
from radius.user_name import phone_of_user_name
from tests.radius.serverkit import HAVE_RADCLIENT, radclient, radtest, register, running_server

PHONE = "18900000015"
MAC = "02-11-22-33-44-55"


@pytest.mark.parametrize(("user_name", "strip", "phone"), [
    ("18900000015", True, PHONE),
    ("18900000015@default", True, PHONE),
    ("18900000015@isp.example@default", True, PHONE),      # nested realms: all of it goes
    ("8618900000015", True, PHONE),
    ("008618900000015", True, PHONE),
    ("+8618900000015", True, PHONE),
    ("+86 189-0000-0015", True, PHONE),
    ("8618900000015@default", True, PHONE),
    ("18900000015@default", False, None),                  # AC set not to strip: no phone
    ("861234", True, "861234"),                            # short test numbers stay as they are
    ("86189000000151", True, "86189000000151"),            # 86 + 12 digits is no mainland mobile
    ("hello@default", True, None),
    ("１８９００００００１５", True, None),                     # full-width digits are not ASCII
    ("1" * 80, True, None),
])
def test_phone_of_user_name(user_name: str, strip: bool, phone: str | None) -> None:
    assert phone_of_user_name(user_name, strip_realm=strip) == phone


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient/radtest not installed")
def test_radtest_realm_and_country_prefix_forms_log_in(redis_client: Any, redis_url: str) -> None:
    register(redis_client)
    store = CredentialStore(redis_client)
    with running_server(redis_url) as srv:
        for user_name, method in (("18900000015@default", "pap"), ("8618900000015", "pap"),
                                  ("008618900000015", "chap"), ("+8618900000015", "pap"),
                                  ("18900000015@default", "chap"), (PHONE, "pap")):
            token = store.mint_login_token(PHONE)
            out = radtest(srv.auth_port, user_name, token.password, method=method)
            assert "Received Access-Accept" in out, (user_name, method, out)
        # a returning device's per-MAC credential through the same forms
        password = store.bind_mac(MAC, PHONE, days=1).password
        out = radclient(srv.auth_port, "auth", f'User-Name="8618900000015@default", '
                        f'User-Password="{password}", Calling-Station-Id="{MAC}", Message-Authenticator=0x00')
        assert "Received Access-Accept" in out, out
        assert srv.metrics.get("auth.accept") == 7


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient/radtest not installed")
def test_an_ac_that_keeps_realms_is_not_stripped(redis_client: Any, redis_url: str) -> None:
    register(redis_client, strip_realm=False)
    token = CredentialStore(redis_client).mint_login_token(PHONE)
    with running_server(redis_url) as srv:
        out = radtest(srv.auth_port, "18900000015@default", token.password)
        assert "Received Access-Reject" in out and "Invalid or expired" in out
        assert srv.metrics.get("reject.invalid_credential") == 1
        assert "Received Access-Accept" in radtest(srv.auth_port, "8618900000015", token.password)
