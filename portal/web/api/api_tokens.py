"""API: the list of API tokens (names, scopes, last use — never secrets) and revocation.

Creating tokens is deliberately not in the API: administrators do it in the console
(``/noc/tokens``), so a token cannot mint or extend tokens. Revoking only takes access away, so
it is here too (an incident script can cut a leaked token off). Both need an ``admin`` token:
the inventory is administrative, and a ``write`` token must not be able to revoke its peers.
"""

from __future__ import annotations

from typing import Any

from portal.web.api.api_accounts import TOKEN_SCHEMA
from portal.web.api.api_base import api_audit, api_tokens, operation

__all__: list[str] = []


@operation("/tokens", "GET", scope="admin", tag="tokens", summary="API tokens (no secrets)",
           response={"type": "object", "required": ["tokens"],
                     "properties": {"tokens": {"type": "array", "items": TOKEN_SCHEMA}}})
def list_tokens() -> Any:
    return {"tokens": [t.as_dict() for t in api_tokens().all()]}


@operation("/tokens/{token_id}/revoke", "POST", scope="admin", tag="tokens",
           summary="Revoke an API token (it stops working at once; revoking twice is harmless)",
           response=TOKEN_SCHEMA, errors=(404,))
def revoke_token(token_id: str) -> Any:
    store = api_tokens()
    before = store.get(token_id)
    token = store.revoke(token_id)          # NotFound → 404
    api_audit("token.revoke", token_id, before.as_dict() if before else None, token.as_dict())
    return token.as_dict()
