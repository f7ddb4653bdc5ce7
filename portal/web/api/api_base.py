"""The JSON API's shared machinery: bearer-token auth, scopes, errors, bodies, OpenAPI.

A resource module declares each endpoint once::

    @operation("/plans/{plan_id}", "GET", scope="read", tag="plans", summary="One plan",
               response=PLAN_SCHEMA, errors=(404,))
    def get_plan(plan_id: str) -> Any: ...

and gets, from that one declaration, the Flask route, the token and scope check, JSON
serialisation and its entry in the OpenAPI document served at ``/api/v1/openapi.json``
(tests compare both ways: every route documented, every documented path routed, and
responses validated against the documented schema).

Errors are always ``{"error": {"code", "message", "message_zh"}}`` with a 4xx status for bad
input; nothing a client sends may produce a 500.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jsonschema
from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.admin.apitokens import SCOPES, ApiToken, ApiTokenStore
from portal.admin.audit import AuditLog
from portal.errors import CitywifiError, NotFound, ValidationError
from portal.text import first_problem
from portal.venues.content_quotas import ContentRefused
from portal.web.api.texts import (
    BODY_NOT_JSON,
    BODY_NOT_OBJECT,
    BODY_TOO_DEEP,
    CANNOT_DO,
    INTERNAL,
    INVALID_INPUT,
    NOT_FOUND,
    OTHER_STATUS,
    STATUS_TEXTS,
    TOKEN_INVALID,
    VENUE_TOKEN,
    en_zh,
    text_problem,
)
from portal.web.client_address import client_address
from portal.web.wiring import services

__all__ = [
    "ApiError",
    "Operation",
    "api_audit",
    "api_token",
    "body_error",
    "bp",
    "document",
    "http_error",
    "internal_error",
    "json_body",
    "operation",
    "path_param",
    "query",
]

log = logging.getLogger("citywifi.api")
bp = Blueprint("api", __name__, url_prefix="/api/v1")
PREFIX = "/api/v1"
_F = TypeVar("_F", bound=Callable[..., Any])

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "message_zh"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "message_zh": {"type": "string"}}}},
}


class ApiError(Exception):
    """Raise in a view: becomes the JSON error body with ``status``."""

    def __init__(self, status: int, code: str, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.message_zh = status, code, message, message_zh

    def response(self) -> Response:
        response = jsonify({"error": {"code": self.code, "message": self.message,
                                      "message_zh": self.message_zh}})
        response.status_code = self.status
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="citywifi"'
        return response


def _standard(status: int, message: str | None = None, message_zh: str | None = None) -> ApiError:
    code, zh, en = STATUS_TEXTS.get(status, OTHER_STATUS)
    return ApiError(status, code, message or en, message_zh or zh)


# -- OpenAPI registry -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Operation:
    path: str                # OpenAPI form, relative to /api/v1: "/plans/{plan_id}"
    method: str
    scope: str
    tag: str
    summary: str
    response: Mapping[str, Any]
    request: Mapping[str, Any] | None = None
    parameters: tuple[Mapping[str, Any], ...] = ()
    errors: tuple[int, ...] = ()
    status: int = 200
    description: str = ""
    response_media: str = "application/json"
    extra: Mapping[str, Any] = field(default_factory=dict)
    venue_scoped: bool = False     # a venue account's token may call it (for its own venues)


OPERATIONS: list[Operation] = []


def query(name: str, type_: str = "string", description: str = "", *, required: bool = False,
          enum: Sequence[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_}
    if enum:
        schema["enum"] = list(enum)
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _flask_rule(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def operation(path: str, method: str, *, scope: str, tag: str, summary: str,
              response: Mapping[str, Any], request: Mapping[str, Any] | None = None,
              parameters: Iterable[Mapping[str, Any]] = (), errors: Iterable[int] = (), status: int = 200,
              description: str = "", response_media: str = "application/json",
              venue_scoped: bool = False, content_write: bool = False) -> Callable[[_F], _F]:
    """Declare, route, guard and document one API operation (see module doc).

    ``venue_scoped``: tokens of venue accounts may call it too; the view must confine what it
    returns to ``api_token().venues`` (every other operation answers such a token 403).

    Path parameters are added to ``parameters`` automatically. A view returns a JSON-able
    value (→ ``status``), a ``(value, status)`` tuple, or a ``Response`` (streams, CSV).
    ``content_write``: the operation saves venue content; it counts against the write rate of
    the account that created the token (``[content] writes_per_*``, 429 beyond it), shared
    with that account's console saves."""
    if scope not in SCOPES:
        raise ValueError(f"scope is one of {', '.join(SCOPES)}")
    params = list(parameters)
    named = {p["name"] for p in params}
    for name in re.findall(r"\{(\w+)\}", path):
        if name not in named:
            params.append(path_param(name))
    op = Operation(path, method.upper(), scope, tag, summary, response, request, tuple(params),
                   tuple(sorted(set(errors) | {400, 401, 403, 503}
                                | ({429} if content_write else set())
                                | ({415} if request is not None else set()))),
                   status, description, response_media, venue_scoped=venue_scoped)
    OPERATIONS.append(op)

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _authenticate()
            if not token.allows(op.scope):
                raise _standard(403)
            if token.venues is not None and not op.venue_scoped:
                raise _standard(403, *en_zh(VENUE_TOKEN))
            g.api_token = token
            if content_write:
                services().content_writes.take(token.created_by.removeprefix("user:"))
            result = view(*args, **kwargs)
            if isinstance(result, Response):
                return result
            body, code = (result if isinstance(result, tuple) else (result, op.status))
            out = Response(json.dumps(body, ensure_ascii=False, default=str), status=code,
                           mimetype="application/json")
            return out

        endpoint = f"{tag}_{view.__name__}"
        bp.add_url_rule(_flask_rule(path), endpoint=endpoint, view_func=wrapper, methods=[op.method])
        return view
    return decorate


def _authenticate() -> ApiToken:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _standard(401)
    token = api_tokens().verify(secret.strip())
    if token is None:
        raise _standard(401, *en_zh(TOKEN_INVALID))
    return token


def api_tokens() -> ApiTokenStore:
    return services().api_tokens


def api_token() -> ApiToken:
    """The token of the current request (inside an operation)."""
    return g.api_token


def api_actor() -> tuple[str, str]:
    """How the audit log names the current token: by id (names need not be unique), with its
    name and creator kept for people reading the log."""
    token = api_token()
    return token.actor, f"{token.name} ({token.created_by})"


def api_audit(action: str, target: str, before: Any = None, after: Any = None) -> None:
    """Record a change made through the API (after it succeeded)."""
    actor, actor_name = api_actor()
    AuditLog(services().redis).record(
        actor, "api", action, target, before, after, client_address(), actor_name=actor_name)


def body_error(message: str, message_zh: str, code: str = "invalid") -> ApiError:
    return ApiError(400, code, message, message_zh)


def json_body(schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The request's JSON object, validated against ``schema`` (400 naming the bad field)."""
    if not request.is_json:
        raise _standard(415)
    too_deep = body_error(*en_zh(BODY_TOO_DEEP))
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise body_error(*en_zh(BODY_NOT_JSON)) from None
    except RecursionError:      # "[[[[…" within the size limit: the parser's stack, not a 500
        raise too_deep from None
    if not isinstance(data, dict):
        raise body_error(*en_zh(BODY_NOT_OBJECT))
    # Before anything looks at the values: a lone surrogate ("\ud800" is valid JSON) cannot be
    # encoded to store or answer, and control characters are never text (portal/text.py).
    problem = first_problem(data)
    if problem is not None:
        zh, en = text_problem(problem.where, problem.zh, problem.en)
        raise body_error(en, zh, "invalid_text")
    if schema is not None:
        try:
            error = jsonschema.exceptions.best_match(
                jsonschema.Draft202012Validator(schema).iter_errors(data))
        except RecursionError:
            raise too_deep from None
        if error is not None:
            path = "/".join(str(p) for p in error.absolute_path)[:80]
            # The message quotes the offending value: keep an echo of a 60 KB field short.
            message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
            from portal.web.api.api_schema_texts import schema_problem, schema_reason_zh

            reason_zh = schema_reason_zh(error)
            reason_zh = reason_zh if len(reason_zh) <= 300 else reason_zh[:300] + "…"
            zh, en = schema_problem(path, message, reason_zh)
            raise body_error(en, zh)
    return data


# -- the document -------------------------------------------------------------------------------

def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared operation."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {
            str(op.status): {"description": "OK",
                             "content": {op.response_media: {"schema": dict(op.response)}}},
        }
        error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for code in op.errors:
            responses[str(code)] = {"description": STATUS_TEXTS.get(code, ("", "", "Error"))[2],
                                    "content": error_content}
        slug = re.sub(r"[^a-z0-9]+", "_", op.path.lower()).strip("_")
        entry: dict[str, Any] = {
            "operationId": f"{op.tag}_{op.method.lower()}_{slug}",
            "summary": op.summary, "tags": [op.tag], "parameters": [dict(p) for p in op.parameters],
            "responses": responses, "security": [{"bearer": []}], "x-scope": op.scope,
        }
        if op.venue_scoped:
            entry["x-venue-scoped"] = True
        if op.description:
            entry["description"] = op.description
        if op.request is not None:
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": dict(op.request)}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "citywifi NOC API", "version": "1",
                 "description": (
                     "Tokens: `Authorization: Bearer cw_…`. Each operation names the scope it needs "
                     "in `x-scope`: `read` (queries), `write` (read + changes), `admin` (write + "
                     "console accounts and tokens) or `export` (read + the legal-log exports of "
                     "`/logs/{stream}`, i.e. personal data; no other scope includes it). A token "
                     "never grants more than its creator's current console role and stops working "
                     "when its creator is deleted or disabled. A venue account's token (`read`, "
                     "made in the venue console) calls only the operations marked "
                     "`x-venue-scoped`, for that account's venues (anything else: 403). Audit "
                     "entries name tokens by id.")},
        "servers": [{"url": PREFIX}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": ERROR_SCHEMA},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(json.dumps(document(), ensure_ascii=False), mimetype="application/json")


# -- errors (called by the app's one error dispatcher) -------------------------------------------

def http_error(exc: HTTPException) -> Response:
    return _standard(exc.code or 400).response()


def internal_error(exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, ContentRefused):     # a quota (409), the write rate (429), the watermark (507)
        response = ApiError(exc.status, exc.code, exc.message_en, exc.message_zh).response()
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", *en_zh(NOT_FOUND, exc=exc)).response()
    if isinstance(exc, ValidationError):
        return ApiError(400, "invalid", *en_zh(INVALID_INPUT, exc=exc)).response()
    if isinstance(exc, CitywifiError):
        return ApiError(409, exc.code, *en_zh(CANNOT_DO, exc=exc)).response()
    from portal.state import STATE_ERRORS

    if isinstance(exc, STATE_ERRORS):
        log.error("Redis unavailable serving %s: %s", request.path, exc)
        return _standard(503).response()
    log.exception("unexpected error serving %s", request.path)
    return ApiError(500, "internal", *en_zh(INTERNAL)).response()
