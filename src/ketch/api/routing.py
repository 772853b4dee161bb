"""Shared by the route modules: versioned paths (unversioned and /vX.Y/path) and JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

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
