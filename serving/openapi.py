"""The OpenAPI document: BentoML's, made the service's contract, plus its error answers.

BentoML documents each API with its generic 400/404/500 answers and flattens the request and
response models so that optional fields lose ``null`` (every rules answer, with
``probability: null``, broke its own schema). ``augment_openapi`` therefore:

* documents each route's body and 200 answer from the pydantic models themselves (nullable
  where the model takes ``None``, cross-field rules such as "lead_id or lead" as ``anyOf``);
* rewrites JSON-Schema 2020 constructs pydantic emits into OpenAPI 3.0 (the document's
  version): ``anyOf [X, null]`` -> ``nullable``, numeric ``exclusiveMinimum`` -> boolean,
  ``const`` -> ``enum``, ``patternProperties`` -> ``additionalProperties`` (the key pattern in
  the description), no ``propertyNames``;
* adds, per route, the statuses the service really uses (401 without the API key on every
  route the middleware does not declare public, 413 over a size limit, 415 for a body that is
  not JSON, 422 naming each bad field, 503 when the store is down), all with the
  ``ErrorResponse`` body, and a ``securitySchemes`` entry for the key, required by the same
  routes.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from pydantic import BaseModel

from serving.middleware import API_PATHS, is_public
from serving.schemas import ErrorResponse

_ERRORS = {
    "401": "Missing or invalid API key (only when LEADSCORE_API_KEY is set).",
    "413": "Body or batch larger than the configured limit.",
    "415": "The body is not application/json.",
    "422": "Invalid request: one entry per bad field (dotted path, message, type).",
    "503": "The CRM store is unavailable; try again.",
}


def augment_openapi(spec: dict[str, Any], apis: Mapping[str, Any] = {}) -> dict[str, Any]:
    """A copy of ``spec`` made the service's OpenAPI 3.0 contract (see the module).

    Args:
        spec: BentoML's document (``service.openapi_spec.asdict()``).
        apis: the service's APIs (``service.apis``): their bodies and answers are documented
            from their pydantic models.
    """
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = _model_schema(ErrorResponse, schemas)
    for api in apis.values():
        _document_models(spec["paths"].get(api.route, {}), api, schemas)
    spec["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    error = {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            protected = not is_public(path)
            codes = (["401"] if protected else []) + (
                ["413", "415", "422", "503"] if path in API_PATHS else [])
            for code in codes:
                operation.setdefault("responses", {})[code] = {
                    "description": _ERRORS[code], **error}
            if protected:
                operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]
    return to_openapi_30(spec)


def _model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON schema, its nested models added to ``schemas``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    return schema


def _document_models(item: dict[str, Any], api: Any, schemas: dict[str, Any]) -> None:
    operation = item.get("post")
    if operation is None:
        return
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    responses = operation.get("responses", {})  # BentoML's status keys are ints
    answer = (responses.get(200) or responses.get("200") or {}).get("content", {}).get(
        "application/json")
    for content, spec in ((body, api.input_spec), (answer, api.output_spec)):
        model = _own_model(spec)
        if content is not None and model is not None:
            content["schema"] = _model_schema(model, schemas)


def _own_model(spec: type) -> type[BaseModel] | None:
    """The service's pydantic model behind a BentoML IO descriptor (whose own schema drops
    ``null`` from optional fields), or None (e.g. a plain ``dict`` answer)."""
    return next((base for base in spec.__mro__ if issubclass(base, BaseModel)
                 and base.__module__.startswith("serving.")), None)


_NULL = {"type": "null"}


def to_openapi_30(node: Any) -> Any:
    """``node`` (a document or schema) with JSON-Schema 2020 constructs in OpenAPI 3.0 form."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_openapi_30(value) for key, value in node.items()
            if key not in ("propertyNames", "$defs")}
    options = node.get("anyOf")
    if isinstance(options, list) and _NULL in options:
        rest = [option for option in options if option != _NULL]
        if len(rest) == 1 and "$ref" not in rest[0]:
            del node["anyOf"]
            node = {**rest[0], **node, "nullable": True}
            if isinstance(node.get("enum"), list):  # OpenAPI 3.0.3: null is listed too
                node["enum"] = [*node["enum"], None]
        else:  # nullable does not apply to a $ref: null is its own branch
            node["anyOf"] = [*rest, {"enum": [None], "nullable": True}]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[plain], node[bound] = node[bound], True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    patterns = node.pop("patternProperties", None)
    if isinstance(patterns, dict) and patterns:  # key rules go to the description
        node["additionalProperties"] = next(iter(patterns.values()))
        keys = " or ".join(f"`{pattern}`" for pattern in patterns)
        node["description"] = f"{node.get('description', '')} Keys match {keys}.".strip()
    return node
