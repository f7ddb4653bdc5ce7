"""API: a read-only list of API tokens (names, scopes, last use — never secrets).

Creating and revoking tokens is deliberately not in the API: administrators do it in the console
(``/noc/tokens``), so a token cannot mint or extend tokens. Listing needs a write token: the
inventory is administrative, a read-only monitoring token has no need for it.
"""

from __future__ import annotations

from typing import Any

from portal.web.api.accounts import TOKEN_SCHEMA
from portal.web.api.base import api_tokens, operation

__all__: list[str] = []


@operation("/tokens", "GET", scope="write", tag="tokens", summary="API tokens (no secrets)",
           response={"type": "object", "required": ["tokens"],
                     "properties": {"tokens": {"type": "array", "items": TOKEN_SCHEMA}}})
def list_tokens() -> Any:
    return {"tokens": [t.as_dict() for t in api_tokens().all()]}
