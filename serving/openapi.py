"""The OpenAPI document: BentoML's, plus the error answers our middleware and handlers give.

BentoML documents each API with its generic 400/404/500 answers; this adds, per route, the
statuses the service really uses (401 without the API key, 413 over a size limit, 415 for a
body that is not JSON, 422 naming each bad field, 503 when the store is down), all with the
``ErrorResponse`` body, and a ``securitySchemes`` entry for the key.
"""

from __future__ import annotations

import copy
from typing import Any

from serving.middleware import API_PATHS, PROTECTED_PATHS
from serving.schemas import ErrorResponse

_ERRORS = {
    "401": "Missing or invalid API key (only when LEADSCORE_API_KEY is set).",
    "413": "Body or batch larger than the configured limit.",
    "415": "The body is not application/json.",
    "422": "Invalid request: one entry per bad field (dotted path, message, type).",
    "503": "The CRM store is unavailable; try again.",
}


def augment_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the service's error answers and API-key scheme documented."""
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}")
    defs = schemas["ErrorResponse"].pop("$defs", {})
    schemas.update(defs)
    spec["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    error = {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            codes = (["401"] if path in PROTECTED_PATHS else []) + (
                ["413", "415", "422", "503"] if path in API_PATHS else [])
            for code in codes:
                operation.setdefault("responses", {})[code] = {
                    "description": _ERRORS[code], **error}
            if path in PROTECTED_PATHS:
                operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]
    return spec
