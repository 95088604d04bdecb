"""Start ``shadowpeft serve`` as a child process on loopback: the demo's ``--offload local`` and the tests' server.

The server runs in its own process (as on a workstation), so killing it is a real outage and
its model never competes with the robot's process for the GIL.

``shadowpeft dog --offload local`` is meant to do, before the nodes start::

    server = start_local_server(EngineOptions(engine="generate", adapter=attached_adapter, backbone=backbone))
    interpreter_params.update(offload_url=server.url, offload_token=server.token)
    try: ... run the dog ...
    finally: server.stop()

The token is random per run and reaches the child through its environment only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

from .engine import EngineOptions
from .server import DEBUG_DELAY_ENV, TOKEN_ENV

logger = logging.getLogger("shadowpeft_ros")


class LocalServerError(RuntimeError):
    """The child server exited or did not become ready in time."""


class LocalServer:
    """A running child ``shadowpeft serve``; unpacks as ``url, token, stop``."""

    def __init__(self, process: subprocess.Popen, url: str, token: str, workdir: tempfile.TemporaryDirectory,
                 log_path: Path, model: dict):
        self.process = process
        self.url = url
        self.token = token
        self.model = model
        self.log_path = log_path
        self._workdir = workdir

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.process.pid

    def __iter__(self) -> Iterator:
        return iter((self.url, self.token, self.stop))

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): an abrupt outage, as when a workstation loses power."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._workdir.cleanup()

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _engine_args(engine: Union[EngineOptions, dict, None]) -> list:
    if engine is None:
        engine = EngineOptions()
    values = dataclasses.asdict(engine) if isinstance(engine, EngineOptions) else dict(engine)
    EngineOptions(**values)  # validate here, not after a slow process start
    args = []
    for name, value in values.items():
        if value is None or value == "":
            continue
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


def start_local_server(engine: Union[EngineOptions, dict, None] = None, port: int = 0, token: Optional[str] = None,
                       host: str = "127.0.0.1", server_args: Sequence[str] = (), debug_delay_s: float = 0.0,
                       ready_timeout_s: float = 180.0) -> LocalServer:
    """Start ``shadowpeft serve`` on loopback and wait until it is ready; return the running LocalServer.

    ``engine`` holds EngineOptions (or their dict); ``token`` defaults to a fresh random one and is
    passed through the environment, never on the command line. ``debug_delay_s`` is the server's
    TEST-ONLY stall. ``server_args`` are further ``shadowpeft serve`` flags (e.g. ``--max-queue 4``).
    """
    token = token or secrets.token_urlsafe(24)
    workdir = tempfile.TemporaryDirectory(prefix="shadowpeft-serve-")
    ready_file = Path(workdir.name) / "ready.json"
    log_path = Path(workdir.name) / "server.log"
    cmd = [sys.executable, "-m", "shadowpeft_ros", "serve", "--host", host, "--port", str(port),
           "--ready-file", str(ready_file), *_engine_args(engine), *server_args]
    env = dict(os.environ, **{TOKEN_ENV: token})
    if debug_delay_s:
        env[DEBUG_DELAY_ENV] = str(debug_delay_s)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = LocalServer(process, "", token, workdir, log_path, {})
    deadline = time.monotonic() + ready_timeout_s
    while not ready_file.is_file():
        if process.poll() is not None:
            tail = server.log_tail()
            workdir.cleanup()
            raise LocalServerError(f"shadowpeft serve exited with status {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise LocalServerError(f"shadowpeft serve was not ready within {ready_timeout_s:g} s:\n{tail}")
        time.sleep(0.05)
    info = json.loads(ready_file.read_text())
    server.url, server.model = info["url"], info.get("model", {})
    logger.info("local offload server ready at %s (pid %d)", server.url, process.pid)
    return server
