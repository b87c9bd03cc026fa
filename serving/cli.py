"""Plain functions behind ``leadscore serve`` and ``leadscore openapi`` (wired in the CLI).

``serve`` runs ``bentoml serve serving.service:LeadScoring`` (the same command as from the
project root) so BentoML's process management, ``/livez``, ``/readyz`` and ``/metrics`` are
exactly those of a plain ``bentoml serve``. Settings travel as ``LEADSCORE_*`` variables.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

logger = logging.getLogger(__name__)

SERVICE = "serving.service:LeadScoring"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def build_serve_command(host: str = "127.0.0.1", port: int = 3000) -> list[str]:
    """The ``bentoml serve`` command line for the scoring service.

    Raises:
        ValueError: a port outside 1..65535.
    """
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {port}")
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or "bentoml"
    return [bentoml, "serve", SERVICE, "--host", host, "--port", str(port)]


def serve(host: str = "127.0.0.1", port: int = 3000,
          env: Mapping[str, str] | None = None) -> int:
    """Run the scoring service until it is stopped (Ctrl-C); return its exit code.

    Args:
        host: interface to listen on (127.0.0.1: this machine only).
        port: TCP port.
        env: extra environment variables, e.g. ``{"LEADSCORE_SERVING_POLL_SECONDS": "5"}``.
    """
    command = build_serve_command(host, port)
    logger.info("starting %s", " ".join(command))
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})})
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


def openapi_document() -> dict:
    """The service's OpenAPI document (the one served at ``/docs.json``)."""
    from serving.openapi import augment_openapi
    from serving.service import LeadScoring

    return augment_openapi(LeadScoring.openapi_spec.asdict())


def write_openapi(path: Path | str) -> Path:
    """Write the OpenAPI document to ``path`` as JSON (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(openapi_document(), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
    return path
