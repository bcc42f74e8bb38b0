"""What every request passes on its way in and out: one access-log line and its metrics, and
the deadline a client has to send its request line and headers.

The log line is ours, not uvicorn's, because it names the key (its id, never the secret) and
the route template: `INFO ledger.http GET /v1/learners/L1/state route=/v1/learners/{learner_id}/state
status=200 ms=3.1 key=k1a2b3`. The path is logged as sent (still percent-encoded, cut at 200
characters), so a client cannot write a line of its own into the log."""

from __future__ import annotations

import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.guard import Receive, Scope, Send
from api.metrics import Metrics

log = logging.getLogger("ledger.http")

# A client has this long to send a request line and its headers, from the connection's start
# or the end of its previous response; uvicorn itself waits for them for ever.
HEADER_TIMEOUT_SECONDS = 10.0


class RequestLog:
    """ASGI middleware, outermost: times each HTTP request, logs it, counts it in `metrics`."""

    def __init__(self, app: Any, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            state = scope.get("state") or {}
            refusal = state.get("refusal")
            self.metrics.observe(scope["method"], route, status, seconds, refusal)
            raw = scope.get("raw_path") or scope["path"].encode()
            path = raw.decode("latin-1")[:200]
            log.info("%s %s route=%s status=%d ms=%.1f key=%s%s", scope["method"][:10], path, route, status,
                     seconds * 1000, _key_id(scope) or "-", f" refused={refusal}" if refusal else "")


def _key_id(scope: Scope) -> str | None:
    app = scope.get("app")
    service = getattr(getattr(app, "state", None), "service", None)
    if service is None:
        return None
    secret = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-api-key"), None)
    return service.key_id_for(secret)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request line and headers: a connection that
    has not sent a whole request head within HEADER_TIMEOUT_SECONDS is closed (slow clients
    sending a byte at a time held connections for ever). The body has its deadline in BodyGuard."""

    header_timeout = HEADER_TIMEOUT_SECONDS

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline = None
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_overdue)

    def _head_overdue(self) -> None:
        self._head_deadline = None
        # Still waiting for the request line or headers (h11's IDLE: no Request event yet)?
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("- - route=- status=408 ms=%.0f key=- refused=slow_headers", self.header_timeout * 1000)
            self.transport.close()
