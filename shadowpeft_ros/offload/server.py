"""The offload server: the attached model behind HTTP, for robots that cannot run it themselves.

Endpoints::

    POST /v1/plan   {"text", "request_id", "detached_output"?, "deadline_s"?}
                    (detached_output is validated and accepted for logging and future engines; the
                    attached model reads the text itself)
                    -> {"request_id", "plan" (v1 dict, or null with "error"), "route": "remote",
                        "timing": {...}, "model": {...}}
    GET  /healthz   the process is alive (200 even while the model loads)
    GET  /readyz    200 only once the engine has loaded and answered a warm-up request
    GET  /metrics   Prometheus text format: requests by endpoint and status, latency histograms

Bearer-token authentication guards ``/v1/plan`` (probes and metrics stay open for load balancers
and scrapers). Without a token the server only starts on loopback, or with ``insecure``.
Requests are bounded: body size (413), text length (422), queue length (503 with Retry-After),
concurrent connections (503 from uvicorn), and each request's deadline (504 once it has passed;
queued work past its deadline is skipped). Memory therefore stays bounded under any load.

Requests that arrive within ``batch_window_s`` of each other share one engine call (up to
``max_batch``): on a GPU a batch of 8 costs little more than one, so one server serves a fleet.

Scaling: the server keeps no state between requests (no sessions, no per-robot memory; the
robot owns command ids and de-duplication). Several replicas therefore sit behind any HTTP load
balancer (nginx, HAProxy, a Kubernetes Service) with no affinity; point the balancer's health
check at ``/readyz`` so a replica only gets traffic once its model is warm, and give every
replica the same token. Past one machine, add replicas; within one, raise ``max_batch``.
"""


import asyncio
import hmac
import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .. import __version__
from ..interpreter.engine import WARMUP_COMMAND
from ..plan import REMOTE_MARKER
from .batching import DeadlineExpired, MicroBatcher, QueueFull
from .metrics import CONTENT_TYPE, Metrics

logger = logging.getLogger("shadowpeft_ros")

TOKEN_ENV = "SHADOWPEFT_TOKEN"
# Test-only stall: every batch sleeps this long first, so tests can make a live server miss deadlines.
DEBUG_DELAY_ENV = "SHADOWPEFT_DEBUG_DELAY_S"


class ServerConfigError(ValueError):
    """The server refuses to start with these options."""


def is_loopback(host: str) -> bool:
    """Return True if ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerOptions:
    """Where the server listens, who may call it, and how much load it accepts."""

    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind; 0.0.0.0 for all interfaces."})
    port: int = field(default=8080, metadata={"help": "TCP port; 0 picks a free one."})
    token: Optional[str] = field(default=None, metadata={
        "help": f"Bearer token clients must send (also from ${TOKEN_ENV}); required unless loopback or insecure."})
    insecure: bool = field(default=False, metadata={
        "help": "Allow a non-loopback server without a token (trusted networks only)."})
    max_body_bytes: int = field(default=16384, metadata={"help": "Larger request bodies get 413."})
    max_text_chars: int = field(default=500, metadata={"help": "Longer texts get 422."})
    max_queue: int = field(default=32, metadata={"help": "Requests waiting for a batch; beyond this 503."})
    max_batch: int = field(default=8, metadata={"help": "Most requests per engine call."})
    max_connections: int = field(default=256, metadata={
        "help": "Concurrent connections uvicorn serves; beyond this it answers 503 without reading the request."})
    batch_window_s: float = field(default=0.01, metadata={
        "help": "How long the first request of a batch waits for others to join it."})
    max_deadline_s: float = field(default=30.0, metadata={
        "help": "Longest a request may wait for its answer (also the default when it names no deadline_s)."})
    debug_delay_s: float = field(default=0.0, metadata={
        "help": f"TEST ONLY: stall every batch this many seconds (also ${DEBUG_DELAY_ENV}) to simulate a hung server."})

    def __post_init__(self):
        if self.token == "":
            self.token = None
        if not 0 <= int(self.port) <= 65535:
            raise ServerConfigError(f"port must be 0..65535, got {self.port}")
        for name in ("max_body_bytes", "max_text_chars", "max_queue", "max_batch", "max_connections"):
            if int(getattr(self, name)) < 1:
                raise ServerConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("batch_window_s", "debug_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 60):
                raise ServerConfigError(f"{name} must be in [0, 60] s, got {value}")
        if not (math.isfinite(self.max_deadline_s) and self.max_deadline_s > 0):
            raise ServerConfigError(f"max_deadline_s must be > 0, got {self.max_deadline_s}")
        if self.token is None and not self.insecure and not is_loopback(self.host):
            raise ServerConfigError(
                f"refusing to listen on {self.host} without a token: pass --token (or set ${TOKEN_ENV}), "
                "listen on 127.0.0.1, or pass --insecure on a trusted network")


class _Reply(Exception):
    """Leave the request handler with this status and JSON body."""

    def __init__(self, status: int, error: str, detail: Any = "", headers: Optional[dict] = None):
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


class OffloadService:
    """Engine loading, readiness, batching and metrics; the FastAPI app is a thin layer over this."""

    def __init__(self, engine_loader: Callable[[], Any], options: ServerOptions,
                 on_ready: Optional[Callable[["OffloadService"], None]] = None,
                 on_fatal: Optional[Callable[[str], None]] = None):
        self.options = options
        self.engine_loader = engine_loader
        self.on_ready = on_ready
        self.on_fatal = on_fatal
        self.metrics = Metrics()
        self.engine = None
        self.batcher: Optional[MicroBatcher] = None
        self.state = "loading"
        self.load_error = ""
        self.started = time.monotonic()
        self.debug_delay_s = options.debug_delay_s or float(os.environ.get(DEBUG_DELAY_ENV, "0") or 0)
        if self.debug_delay_s:
            logger.warning("TEST OPTION: every batch stalls %.3f s (debug delay)", self.debug_delay_s)

    @property
    def model_info(self) -> dict:
        info = {"server_version": __version__, "schema": "command-language-v1"}
        if self.engine is not None:
            info.update(self.engine.model_info)
        return info

    def start_loading(self) -> threading.Thread:
        """Load and warm up the engine in a background thread, so /healthz answers meanwhile."""
        thread = threading.Thread(target=self._load, name="offload-loader", daemon=True)
        thread.start()
        return thread

    def _load(self) -> None:
        started = time.monotonic()
        try:
            engine = self.engine_loader()
            warm = time.monotonic()
            # Warm-up: the first forward pass pays for lazy allocations; a robot's first request must not.
            answer = engine.plan_batch([WARMUP_COMMAND], ["warmup"])[0]
            if isinstance(answer, Exception):
                raise answer
            self.engine = engine
            self.batcher = MicroBatcher(self._run_batch, self.options.max_batch, self.options.batch_window_s,
                                        self.options.max_queue).start()
            self.state = "ready"
            logger.info("engine loaded in %.2f s, warm-up %.2f s", warm - started, time.monotonic() - warm)
            if self.on_ready:
                self.on_ready(self)
        except Exception as exc:
            self.state = "failed"
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.error("engine failed to load: %s", self.load_error)
            if self.on_fatal:
                self.on_fatal(self.load_error)

    def _run_batch(self, payloads):
        if self.debug_delay_s:
            time.sleep(self.debug_delay_s)
        started = time.monotonic()
        answers = self.engine.plan_batch([p["text"] for p in payloads], [p["request_id"] for p in payloads])
        self.metrics.observe_batch(len(payloads), time.monotonic() - started)
        return answers

    def stop(self) -> None:
        """Stop the batcher; waiting requests fail."""
        if self.batcher is not None:
            self.batcher.stop()

    def check_auth(self, header: Optional[str]) -> None:
        """Raise a 401 reply unless the Authorization header carries the server's token."""
        if self.options.token is None:
            return
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.options.token.encode()):
            raise _Reply(401, "unauthorized", "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    def parse_request(self, body: bytes) -> dict:
        """Validate a /v1/plan body; raise a 422 reply naming the first problem."""
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Reply(422, "malformed_json", str(exc)) from None
        if not isinstance(data, dict):
            raise _Reply(422, "invalid_request", "body must be a JSON object")
        unknown = sorted(set(data) - {"text", "request_id", "detached_output", "deadline_s"})
        if unknown:
            raise _Reply(422, "invalid_request", f"unknown fields {unknown}")
        text, request_id = data.get("text"), data.get("request_id")
        if not isinstance(text, str) or not text.strip():
            raise _Reply(422, "invalid_request", "text must be a non-empty string")
        if len(text) > self.options.max_text_chars:
            raise _Reply(422, "text_too_long", f"text has {len(text)} characters, over {self.options.max_text_chars}")
        if not isinstance(request_id, str) or not 1 <= len(request_id) <= 128:
            raise _Reply(422, "invalid_request", "request_id must be a string of 1..128 characters")
        deadline = data.get("deadline_s")
        if deadline is not None:
            if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not (
                    math.isfinite(deadline) and 0 < deadline):
                raise _Reply(422, "invalid_request", "deadline_s must be a positive number of seconds")
        detached = data.get("detached_output")
        if detached is not None and not isinstance(detached, (str, dict)):
            raise _Reply(422, "invalid_request", "detached_output must be a string or an object")
        return {"text": text, "request_id": request_id, "detached_output": detached,
                "deadline_s": min(float(deadline or self.options.max_deadline_s), self.options.max_deadline_s)}

    async def plan(self, request) -> dict:
        """Serve one /v1/plan request; raise _Reply for every non-200 outcome."""
        arrived = time.monotonic()
        self.check_auth(request.headers.get("authorization"))
        if self.state != "ready":
            raise _Reply(503, "not_ready", self.load_error or "model is loading", {"Retry-After": "1"})
        body = await self._read_body(request)
        payload = self.parse_request(body)
        wait_s = payload["deadline_s"]
        try:
            future = self.batcher.submit(payload, deadline=arrived + wait_s)
        except QueueFull as exc:
            raise _Reply(503, "queue_full", str(exc), {"Retry-After": "1"}) from None
        except RuntimeError as exc:
            raise _Reply(503, "shutting_down", str(exc)) from None
        try:
            left = max(0.0, arrived + wait_s - time.monotonic())
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout=left)
        except (asyncio.TimeoutError, DeadlineExpired):
            future.cancel()
            raise _Reply(504, "deadline_exceeded", f"no answer within deadline_s={wait_s:g}") from None
        except Exception as exc:
            logger.error("[%s] engine error: %r", payload["request_id"], exc)
            raise _Reply(500, "engine_error", f"{type(exc).__name__}: {exc}") from None
        answer = result.value
        plan = answer.plan.with_route("remote") if answer.plan is not None else None
        error = answer.error
        if plan is not None and plan.is_escalation:
            # The attached model is the last resort: escalating again would leave the robot with nothing.
            plan, error = None, f"attached model answered {REMOTE_MARKER}"
        return {
            "request_id": payload["request_id"],
            "plan": plan.to_dict() if plan is not None else None,
            "route": "remote",
            "error": error or None,
            "raw_text": answer.raw_text,
            "confidence": answer.confidence,
            "timing": {"queue_s": round(result.queue_s, 6), "inference_s": round(result.run_s, 6),
                       "batch_size": result.batch_size, "server_s": round(time.monotonic() - arrived, 6)},
            "model": self.model_info,
        }

    async def _read_body(self, request) -> bytes:
        limit = self.options.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _Reply(400, "bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                raise _Reply(413, "body_too_large", f"body of {declared} bytes is over {limit}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _Reply(413, "body_too_large", f"body is over {limit} bytes")
        return bytes(body)

    def update_gauges(self) -> None:
        """Refresh the gauges rendered on /metrics."""
        g = self.metrics.gauges
        g["ready"] = ("1 once the engine has loaded and warmed up.", 1.0 if self.state == "ready" else 0.0)
        g["queue_depth"] = ("Requests waiting for a batch.", float(self.batcher.depth if self.batcher else 0))
        g["queue_capacity"] = ("Bound of the request queue.", float(self.options.max_queue))
        g["expired_total"] = ("Queued requests dropped because their deadline passed.",
                              float(self.batcher.expired if self.batcher else 0))


def create_app(service: OffloadService):
    """Build the FastAPI app around a service; the engine starts loading when the app starts."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    @asynccontextmanager
    async def lifespan(app):
        service.start_loading()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="shadowpeft offload server", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    def reply(endpoint: str, arrived: float, status: int, body: dict, headers=None):
        service.metrics.count_request(endpoint, status, time.monotonic() - arrived)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.post("/v1/plan")
    async def plan_endpoint(request: Request):
        arrived = time.monotonic()
        try:
            return reply("/v1/plan", arrived, 200, await service.plan(request))
        except _Reply as r:
            if r.status >= 500 and r.error not in ("queue_full", "not_ready"):
                logger.warning("/v1/plan %d %s: %s", r.status, r.error, r.detail)
            return reply("/v1/plan", arrived, r.status, {"error": r.error, "detail": r.detail}, r.headers)

    @app.get("/healthz")
    async def healthz():
        arrived = time.monotonic()
        return reply("/healthz", arrived, 200, {"status": "alive", "state": service.state,
                                               "uptime_s": round(time.monotonic() - service.started, 3)})

    @app.get("/readyz")
    async def readyz():
        arrived = time.monotonic()
        ready = service.state == "ready"
        body = {"ready": ready, "state": service.state, "model": service.model_info}
        if service.load_error:
            body["error"] = service.load_error
        if ready and service.batcher is not None:
            body["queue_depth"] = service.batcher.depth
        return reply("/readyz", arrived, 200 if ready else 503, body)

    @app.get("/metrics")
    async def metrics():
        service.update_gauges()
        return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so port 0 gives a known free port before uvicorn starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def url_for(host: str, port: int) -> str:
    """Return the base URL clients use for a bound host and port."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _nodelay_h11_protocol():
    """Return uvicorn's h11 protocol with TCP_NODELAY on every connection.

    uvicorn writes a response's headers and body separately. On a kept-alive connection, Nagle's
    algorithm then holds the body until the client's delayed ACK: measured +40 ms on every loopback
    request after the first. The robot's latency budget cannot spare that.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class NoDelayH11Protocol(H11Protocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelayH11Protocol


def serve(options: ServerOptions, engine_loader: Callable[[], Any], ready_file: Optional[str] = None,
          on_listening: Optional[Callable[[str], None]] = None, log_level: str = "warning") -> int:
    """Run the server until interrupted; return 0, or 1 if the engine failed to load."""
    import uvicorn

    sock = bind_socket(options.host, options.port)
    url = url_for(options.host, sock.getsockname()[1])
    if options.token is None:
        logger.warning("serving WITHOUT authentication on %s (%s)", url,
                       "loopback only" if is_loopback(options.host) else "--insecure")
    holder = {}

    def on_ready(service: OffloadService) -> None:
        if ready_file:
            tmp = Path(str(ready_file) + ".tmp")
            tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "model": service.model_info}))
            tmp.replace(ready_file)

    def on_fatal(error: str) -> None:
        holder["server"].should_exit = True

    service = OffloadService(engine_loader, options, on_ready=on_ready, on_fatal=on_fatal)
    config = uvicorn.Config(create_app(service), http=_nodelay_h11_protocol(), log_level=log_level,
                            access_log=False, lifespan="on",
                            timeout_keep_alive=5, timeout_graceful_shutdown=3,
                            limit_concurrency=options.max_connections)
    server = uvicorn.Server(config)
    holder["server"] = server
    if on_listening:
        on_listening(url)
    server.run(sockets=[sock])
    return 1 if service.state == "failed" else 0
