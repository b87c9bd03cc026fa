"""Plain functions behind ``leadscore serve`` and ``leadscore openapi`` (wired in the CLI).

``serve`` runs ``bentoml serve serving.service:LeadScoring`` (the same command as from the
project root) so BentoML's process management, ``/livez``, ``/readyz`` and ``/metrics`` are
exactly those of a plain ``bentoml serve``. Settings travel as ``LEADSCORE_*`` variables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from crm.settings import API_KEY_VARIABLE, check_api_key

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
          env: Mapping[str, str] | None = None, stop_seconds: float = 30.0) -> int:
    """Run the scoring service until it is stopped; return its exit code.

    ``bentoml serve`` runs in its own process group. SIGTERM, SIGINT (Ctrl-C) and SIGHUP sent
    to this process are passed on to it; whatever of the group is still running
    ``stop_seconds`` later, or after it exited, is killed, so no worker is left answering.

    Args:
        host: interface to listen on (127.0.0.1: this machine only).
        port: TCP port.
        env: extra environment variables, e.g. ``{"LEADSCORE_SERVING_POLL_SECONDS": "5"}``.
        stop_seconds: how long a stopping service may take before it is killed.

    Raises:
        ValueError: ``LEADSCORE_API_KEY`` is set but empty.
    """
    command = build_serve_command(host, port)
    environment = {**os.environ, **(env or {})}
    check_api_key(environment.get(API_KEY_VARIABLE))  # an empty key stops here, named
    logger.info("starting %s", " ".join(command))
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment,
                               start_new_session=True)
    deadline: list[float] = []

    def forward(signum: int, _frame) -> None:
        deadline.append(time.monotonic() + stop_seconds)
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        while True:
            try:
                return process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if deadline and time.monotonic() > deadline[0]:
                    logger.warning("the service did not stop within %gs; killing it",
                                   stop_seconds)
                    _kill_group(process.pid, signal.SIGKILL)
    finally:
        _kill_group(process.pid, signal.SIGKILL)  # workers left behind by a crashed parent
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _kill_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def openapi_document() -> dict:
    """The service's OpenAPI document (the one served at ``/docs.json``)."""
    from serving.openapi import augment_openapi
    from serving.service import LeadScoring

    return augment_openapi(LeadScoring.openapi_spec.asdict(), LeadScoring.apis)


def write_openapi(path: Path | str) -> Path:
    """Write the OpenAPI document to ``path`` as JSON (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(openapi_document(), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
    return path
