"""A local server subprocess on 127.0.0.1: start, wait until ready, stop by PID.

Used by the HTTP tests and the serving benchmark to run ``bentoml serve`` (and, as the peer,
``mlflow models serve``) exactly as an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``command`` (with ``{port}`` filled in) running on a free port, output to ``log_path``.

    Args:
        command: the command line; ``{port}`` in any part is replaced by the chosen port.
        env: the complete environment of the process.
        log_path: where stdout and stderr go.
        ready_path: GET path that answers 200 once the server is ready.
    """

    def __init__(self, command: list[str], env: Mapping[str, str], log_path: Path,
                 ready_path: str = "/readyz", cwd: Path = PROJECT_ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.ready_path = ready_path
        self._log = open(log_path, "wb")
        # BentoML wipes $BENTOML_HOME/prometheus_multiproc_dir when a server starts, so servers
        # sharing a home lose each other's metrics: each server here gets its own home
        env = {"BENTOML_HOME": str(log_path.parent / f"bentoml-home-{self.port}"), **env}
        self.process = subprocess.Popen(
            [part.replace("{port}", str(self.port)) for part in command], cwd=cwd,
            env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 120) -> None:
        """Poll ``ready_path`` until it answers 200.

        Raises:
            RuntimeError: the process exited, or was not ready within ``timeout`` seconds
                (the message ends with the server's last output).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-3000:]}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        """Terminate by PID (kill after 30 s) and close the log."""
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


def leadscore_server(settings: Mapping[str, str], log_path: Path) -> ServerProcess:
    """``bentoml serve serving.service:LeadScoring`` on 127.0.0.1 with exactly the given
    ``LEADSCORE_*`` settings (the caller's own ``LEADSCORE_*`` variables are dropped)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    bentoml = str(Path(sys.executable).parent / "bentoml")
    return ServerProcess([bentoml, "serve", "serving.service:LeadScoring", "--host",
                          "127.0.0.1", "--port", "{port}"], {**clean, **settings}, log_path)


class ServiceProcess(ServerProcess):
    """``bentoml serve`` of the scoring service on a free port with only the given
    ``LEADSCORE_*`` settings (none inherited from this process), plus an HTTP client."""

    def __init__(self, env: Mapping[str, str], log_path: Path):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
        bentoml = str(Path(sys.executable).parent / "bentoml")
        super().__init__([bentoml, "serve", "serving.service:LeadScoring", "--host",
                          "127.0.0.1", "--port", "{port}"], {**clean, **env}, log_path)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        """Close the client, then stop the server."""
        self.client.close()
        super().stop()
