"""The Chinese reason of a JSON-schema validation error, for the API's ``message_zh``: the
catalog of how an API client is told that a body fails its schema (zh, en).

Audience: API clients. jsonschema words its errors in English (``'fast' is not of type
'integer'``), which is the English ``message``; ``message_zh`` used to embed that text. Here
each keyword a request schema uses gets a Chinese sentence built from the error's parts (the
keyword, its schema value, the offending value) — never from the English message. The API's
other messages are ``portal/web/api/texts.py``; the other areas keep their own ``texts.py`` /
``*_texts.py`` catalogs (docs/architecture.md, "Where words live").
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["schema_problem", "schema_reason_zh"]

_TYPES = {"integer": "整数", "number": "数字", "string": "字符串", "boolean": "布尔值（true 或 false）",
          "object": "JSON 对象", "array": "数组", "null": "空值"}


def _value(value: Any, limit: int = 40) -> str:
    """A short rendering of a value the client sent (JSON, cut); JSON null reads as 空值."""
    if value is None:
        return "空值"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _names(items: Any) -> str:
    return "、".join(str(i) for i in items)


def schema_reason_zh(error: Any) -> str:
    """Why ``error`` (a ``jsonschema.ValidationError``) failed, in Chinese."""
    keyword, expected, got = error.validator, error.validator_value, error.instance
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return f"应为{'或'.join(_TYPES.get(k, str(k)) for k in kinds)}，收到 {_value(got)}"
    if keyword == "required":
        present = got if isinstance(got, dict) else {}
        return f"缺少必填字段：{_names(name for name in expected if name not in present)}"
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = [k for k in got if k not in known] if isinstance(got, dict) else []
        return f"不允许的字段：{_names(extra)}" if extra else "含有不允许的字段"
    if keyword == "enum":
        return f"应为以下值之一：{_names(_value(v) for v in expected)}；收到 {_value(got)}"
    if keyword == "const":
        return f"应为 {_value(expected)}"
    bounds = {"minimum": "不能小于 {}", "maximum": "不能大于 {}", "exclusiveMinimum": "必须大于 {}",
              "exclusiveMaximum": "必须小于 {}", "multipleOf": "应为 {} 的倍数",
              "minLength": "长度不能少于 {} 个字符", "maxLength": "长度不能超过 {} 个字符",
              "minItems": "至少应有 {} 项", "maxItems": "最多只能有 {} 项",
              "minProperties": "至少应有 {} 个字段", "maxProperties": "最多只能有 {} 个字段"}
    if keyword in bounds:
        numeric = keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        return bounds[keyword].format(expected) + (f"，收到 {_value(got)}" if numeric else "")
    if keyword == "uniqueItems":
        return "不能有重复项"
    if keyword == "pattern":
        return f"格式不正确：{_value(got)}"
    if keyword == "format":
        return f"不是有效的 {expected} 格式：{_value(got)}"
    if keyword in ("oneOf", "anyOf"):
        return "不符合任何允许的形式"
    if keyword == "not":
        return "该取值不允许"
    return "取值无效"


def schema_problem(path: str, message: str, reason_zh: str) -> tuple[str, str]:
    """(zh, en) of a body failing its schema at ``path`` ("" = the whole body, not a field):
    jsonschema's ``message`` in English, :func:`schema_reason_zh` in Chinese."""
    where = path or "(body)"
    where_zh = f"字段 {path} " if path else "请求体"
    return f"{where_zh}无效：{reason_zh}", f"{where}: {message}"
