"""Bounded path labels: what BentoML's metrics, traces and access log see of a request path.

BentoML labels its HTTP metrics (``bentoml_service_request_total`` and friends) and writes its
access log with the raw request path, so every new path, even a 404, adds about twenty
Prometheus series for good (5,000 random paths: ``/metrics`` 14 KB -> 21.5 MB) and a path
with ``%0a`` or ``%1b`` forges access-log lines or sends terminal escapes.

``PathLabelMiddleware`` wraps the whole BentoML app (outside its metrics, tracing and access
log) and replaces the path by its route template: ``/score`` stays ``/score``, a static file is
``/static_content/{path}``, and anything no route answers is ``/{unmatched}``. The original path
travels in the scope under ``ORIGINAL_PATH`` and ``RestorePathMiddleware``, the first of the
service's own middlewares, puts it back before routing, so every route sees the real path.
``bound_path_labels(service)`` installs the outer wrapper on a BentoML service.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Awaitable, Callable, Sequence

from starlette.routing import BaseRoute, Mount, Route

ORIGINAL_PATH = "leadscore.original_path"
UNMATCHED = "/{unmatched}"

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def route_template(routes: Sequence[BaseRoute], path: str) -> str | None:
    """The template of the first route in ``routes`` that answers ``path`` (mounts searched
    inside), or None."""
    for route in routes:
        if isinstance(route, Route) and route.path_regex.match(path):
            return route.path
        if isinstance(route, Mount):
            match = route.path_regex.match(path)
            if match is None:
                continue
            inner = getattr(route.app, "routes", None)
            if inner is None:  # e.g. static files: the folder answers every path below it
                return route.path + "/{path}"
            found = route_template(inner, "/" + match.groupdict().get("path", ""))
            if found is not None:
                return route.path.rstrip("/") + found
    return None


class PathLabelMiddleware:
    """Outermost ASGI wrapper: the path becomes its route template (see the module)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] | None = None):
        self.app = app
        self.routes = routes if routes is not None else getattr(app, "routes", [])
        self.label = lru_cache(maxsize=4096)(self._label)

    def _label(self, path: str) -> str:
        return route_template(self.routes, path) or UNMATCHED

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            label = self.label(scope["path"])
            if label != scope["path"]:
                scope = {**scope, "path": label, ORIGINAL_PATH: scope["path"]}
        await self.app(scope, receive, send)


class RestorePathMiddleware:
    """Puts the real path back before routing (add it first among the service middlewares)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if ORIGINAL_PATH in scope:
            scope = {**scope, "path": scope[ORIGINAL_PATH]}
        await self.app(scope, receive, send)


def bound_path_labels(service: Any) -> None:
    """Make ``service`` (a ``@bentoml.service``) wrap its ASGI app in ``PathLabelMiddleware``
    and restore the path before its own middlewares.

    BentoML 1.4 has no hook outside its metrics middleware, so the service object's class is
    switched to a subclass whose ``to_asgi`` adds the wrapper (same slots, nothing else
    changes).
    """
    base = type(service)

    class BoundedPathService(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        def to_asgi(self, is_main: bool = True) -> ASGIApp:
            return PathLabelMiddleware(base.to_asgi(self, is_main))

    service.middlewares.insert(0, (RestorePathMiddleware, {}))
    service.__class__ = BoundedPathService
