"""Templates per language + signature, and the one-SMS length rule (§1.7)."""

from __future__ import annotations

import pytest

from sms_gateway.encoding import ucs2_units
from sms_gateway.errors import MessageTooLong
from sms_gateway.messages import MessageCatalog, TemplateError


def test_default_otp_zh_and_en() -> None:
    cat = MessageCatalog("【无线城市】")
    assert cat.render("otp", {"code": "123456"}) == "【无线城市】您的上网验证码是 123456，5分钟内有效。"
    en = cat.render("otp", {"code": "123456", "minutes": "10"}, "en")
    assert en == "【无线城市】Your Wi-Fi code is 123456, valid for 10 min."
    assert cat.render("otp", {"code": "1"}, "fr").startswith("【无线城市】您的")  # falls back to zh


def test_template_that_cannot_fit_is_refused_at_construction() -> None:
    with pytest.raises(TemplateError) as err:
        MessageCatalog("【无线城市】", {"otp": {"zh": "验" * 60 + "{code}"}})
    assert err.value.code == "template_too_long"


def test_exactly_seventy_units_fit() -> None:
    sig = "【无线城市】"
    body = "验" * (70 - len(sig) - 8) + "{code}"
    cat = MessageCatalog(sig, {"otp": {"zh": body}})
    assert ucs2_units(cat.render("otp", {"code": "12345678"})) == 70


def test_render_refuses_overlong_parameter_values() -> None:
    cat = MessageCatalog("【无线城市】")
    with pytest.raises(MessageTooLong) as err:
        cat.render("otp", {"code": "9" * 60})
    assert err.value.message_zh and err.value.message_en


def test_long_signature_is_refused() -> None:
    with pytest.raises(TemplateError):
        MessageCatalog("【" + "长" * 40 + "】")


def test_unknown_template_and_missing_param() -> None:
    cat = MessageCatalog("【x】")
    with pytest.raises(TemplateError):
        cat.render("nope", {})
    with pytest.raises(TemplateError):
        cat.render("otp", {})
