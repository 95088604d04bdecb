"""Offload: serve the attached model over HTTP, and use it from the robot only when it is reachable and in time.

- ``server``: ``shadowpeft serve`` (FastAPI + uvicorn), stateless, bearer-token auth, bounded.
- ``batching``: the micro-batcher and bounded queue behind the server.
- ``engine``: what the server hosts (any text -> validated Plan engine).
- ``client``: the robot's HTTP client with health probes, backoff and deadlines.
- ``breaker``: the circuit breaker the client uses.
- the escalate / remote_first policies live in ``shadowpeft_ros.policy``, with every other decision rule.
- ``local``: ``start_local_server`` for ``shadowpeft dog --offload local`` and the tests.

Importing this package is cheap: FastAPI, uvicorn, httpx and torch load only where used.
"""
