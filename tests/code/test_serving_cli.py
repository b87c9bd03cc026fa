"""serving.cli: the serve command line and the OpenAPI document written to a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.cli import build_serve_command, write_openapi


def test_openapi_is_written_with_every_route_and_error(tmp_path: Path) -> None:
    path = write_openapi(tmp_path / "docs" / "openapi.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert {"/score", "/score/batch", "/opportunities/win", "/events", "/model", "/readyz",
            "/livez", "/metrics"} <= set(spec["paths"])
    score = spec["paths"]["/score"]["post"]
    assert {"200", "401", "413", "415", "422", "503"} <= set(score["responses"])
    assert "401" not in spec["paths"]["/livez"]["get"]["responses"]
    assert set(spec["paths"]["/model"]["get"]["responses"]) >= {"200", "401"}
    schemas = spec["components"]["schemas"]
    assert {"ScoreRequest", "ScoreResponse", "ErrorResponse", "FieldError"} <= set(schemas)
    assert schemas["CompanyIn"]["properties"]["employees"]["anyOf"][0]["maximum"] == 5_000_000


def test_serve_command_targets_the_service() -> None:
    command = build_serve_command("127.0.0.1", 3123)
    assert command[1:] == ["serve", "serving.service:LeadScoring", "--host", "127.0.0.1",
                           "--port", "3123"]
    assert Path(command[0]).name == "bentoml"


@pytest.mark.parametrize("port", [0, 70000])
def test_bad_ports_are_named(port: int) -> None:
    with pytest.raises(ValueError, match=f"port must be between 1 and 65535, got {port}"):
        build_serve_command(port=port)
