"""API ``message_zh`` for a body that fails its JSON schema is Chinese, not jsonschema's English
(``'fast' is not of type 'integer'`` must not reach a Chinese-speaking operator)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask

from portal.web.api.api_schema_texts import schema_reason_zh
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import make_app

SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name"], "additionalProperties": False, "minProperties": 1,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
        "speed": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.25},
        "role": {"enum": ["read", "write"]}, "fixed": {"const": "yes"},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": True},
        "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    },
}
ENGLISH = re.compile(r"is not|of type|required property|too (long|short|many|few)|does not match|"
                     r"Additional properties|valid under|less than|greater than|non-unique|null|\(body\)")


@pytest.mark.parametrize(("body", "expected"), [
    ({"name": "ab", "speed": "fast"}, "应为整数或空值，收到 \"fast\""),
    ({"name": "ab", "ratio": None}, "应为数字，收到 空值"),
    ({"speed": 5}, "缺少必填字段：name"),
    ({"name": "ab", "colour": "red"}, "不允许的字段：colour"),
    ({"name": "ab", "role": "boss"}, "应为以下值之一"),
    ({"name": "ab", "fixed": "no"}, "应为 \"yes\""),
    ({"name": "ab", "speed": 0}, "不能小于 1"),
    ({"name": "ab", "speed": 101}, "不能大于 100"),
    ({"name": "ab", "ratio": 0}, "必须大于 0"),
    ({"name": "ab", "ratio": 1}, "必须小于 1"),
    ({"name": "ab", "ratio": 0.3}, "应为 0.25 的倍数"),
    ({"name": "a"}, "长度不能少于 2 个字符"),
    ({"name": "abcdef"}, "长度不能超过 5 个字符"),
    ({"name": "AB"}, "格式不正确"),
    ({"name": "ab", "tags": []}, "至少应有 1 项"),
    ({"name": "ab", "tags": [1, 2, 3]}, "最多只能有 2 项"),
    ({"name": "ab", "tags": [1, 1]}, "不能有重复项"),
    ({"name": "ab", "either": 1.5}, "不符合任何允许的形式"),
])
def test_every_keyword_reads_in_chinese(body: dict[str, Any], expected: str) -> None:
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(body))
    assert error is not None
    reason = schema_reason_zh(error)
    assert expected in reason and not ENGLISH.search(reason), (reason, error.message)


def test_object_size_and_unknown_keywords() -> None:
    patch = {"type": "object", "minProperties": 1, "maxProperties": 1}
    for body, expected in (({}, "至少应有 1 个字段"), ({"a": 1, "b": 2}, "最多只能有 1 个字段")):
        error = next(jsonschema.Draft202012Validator(patch).iter_errors(body))
        assert schema_reason_zh(error) == expected
    error = next(jsonschema.Draft202012Validator({"not": {"type": "string"}}).iter_errors("x"))
    assert schema_reason_zh(error) == "该取值不允许"


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_the_api_error_carries_the_chinese_reason(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.post("/api/v1/plans", json={"name": "fastplan", "up_kbps": "fast"},
                       headers=auth(token(redis_client, "write")))
    error = resp.get_json()["error"]
    assert resp.status_code == 400 and error["code"] == "invalid"
    assert error["message"] == "up_kbps: 'fast' is not of type 'integer', 'null'"
    assert error["message_zh"] == '字段 up_kbps 无效：应为整数或空值，收到 "fast"'


def test_a_body_level_error_names_the_body_in_chinese(app: Flask, redis_client: Any) -> None:
    """An error about the whole body (a missing field) has no field path: English says
    "(body)", Chinese says 请求体 — no English word in message_zh."""
    resp = app.test_client().post("/api/v1/plans", json={"up_kbps": 5},
                                  headers=auth(token(redis_client, "write")))
    error = resp.get_json()["error"]
    assert resp.status_code == 400
    assert error["message"] == "(body): 'name' is a required property"
    assert error["message_zh"] == "请求体无效：缺少必填字段：name"
    assert not ENGLISH.search(error["message_zh"])


def test_a_bad_field_name_is_named_in_chinese(app: Flask, redis_client: Any) -> None:
    """A key that is not text (a control character) is not echoed; message_zh says 某个字段名
    where the English says "(a field name)"."""
    resp = app.test_client().post("/api/v1/plans", json={"name": "ok", "bad\u0007key": 1},
                                  headers=auth(token(redis_client, "write")))
    error = resp.get_json()["error"]
    assert resp.status_code == 400 and error["message"].startswith("(a field name): ")
    assert error["message_zh"].startswith("某个字段名 ") and "field" not in error["message_zh"]
