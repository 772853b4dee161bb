"""Shared by the route modules: versioned paths (unversioned and /vX.Y/path) and JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from ketch.errors import InvalidParameter

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def versioned(table: web.RouteTableDef, method: str,
              path: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        table.route(method, path)(handler)
        table.route(method, "/v{version}" + path)(handler)
        return handler
    return wrap


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with exactly "application/json": the docker CLI reads error bodies only then."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        content_type="application/json")


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """`filters=` in both the CLI's {"label": {"k=v": true}} and docker-py's
    {"label": ["k=v"]} forms."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid filters: {raw}") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter("invalid filters: must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in parsed.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:  # Docker reads only these two forms
            raise InvalidParameter(f"invalid filter '{key}': must be an object or a list")
    return out
