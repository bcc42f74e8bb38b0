"""What reaches the handlers has already been checked for size, type and shape: a hostile
body is answered here with a clear 4xx and never touches the ledger."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

MAX_BODY_BYTES = 1_048_576  # 1 MiB: a batch of 1,000 ordinary events fits with room to spare
MAX_DEPTH = 16  # an event nests five levels deep at most; anything far deeper is an attack
MAX_BATCH = 1_000

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


BODY_TIMEOUT_SECONDS = 15.0  # 1 MiB at 70 KB/s; a client slower than that is holding a connection


class BodyGuard:
    """ASGI middleware: a writing request must carry a live key, checked before its body is read
    (a keyless 1 MiB POST was read whole before its 401); then JSON bodies only, no bigger than
    the limit, counted as they arrive (a lying or missing Content-Length does not get past it),
    and all of it within BODY_TIMEOUT_SECONDS."""

    def __init__(self, app: Any, *, limit: int = MAX_BODY_BYTES, body_timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app, self.limit, self.body_timeout = app, limit, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = await _key_refusal(scope, headers.get("x-api-key"))
        if refused is not None:
            _mark(scope, refused[0])
            await _refuse(send, 401, refused[1])
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            _mark(scope, "too_large")
            await _refuse(send, 413, f"the body is larger than {self.limit} bytes")
            return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - asyncio.get_running_loop().time(), 0))
            except asyncio.TimeoutError:
                _mark(scope, "slow_body")
                await _refuse(send, 408, f"the body did not arrive within {self.body_timeout:.0f} s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                _mark(scope, "too_large")
                await _refuse(send, 413, f"the body is larger than {self.limit} bytes")
                return
            if not message.get("more_body"):
                break
        if body and media != "application/json":
            _mark(scope, "unsupported_media")
            await _refuse(send, 415, f"send JSON with Content-Type: application/json, not {media or 'nothing'!r}")
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _key_refusal(scope: Scope, secret: str | None) -> tuple[str, str] | None:
    """(refusal kind, reason) if the request carries no live key; None if it does. Every writing
    route needs a key, so nothing is lost by asking before the body is read."""
    if not secret:
        return "missing_key", "send an API key in the X-API-Key header"
    service = getattr(getattr(scope.get("app"), "state", None), "service", None)
    if service is None:
        return None  # an app without a service (tests of the guard alone): the routes decide
    from starlette.concurrency import run_in_threadpool

    grant, reason = await run_in_threadpool(service.grant_for, secret)  # may re-read the keys
    return None if grant is not None else ("bad_key", reason)


def _mark(scope: Scope, refusal: str) -> None:
    """Name the refusal for the access log and /metrics (a word of api.metrics.REFUSALS)."""
    scope.setdefault("state", {})["refusal"] = refusal


async def _refuse(send: Send, status: int, reason: str) -> None:
    payload = json.dumps({"error": reason}).encode()
    # `connection: close`: the client may still be sending a body nobody will read.
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


class BadBody(ValueError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def json_documents(body: bytes) -> tuple[list[Any], bool]:
    """The posted documents and whether they came as a batch (a JSON array)."""
    if not body.strip():
        raise BadBody(400, "the body is empty; send one event object or an array of them")
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadBody(400, f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadBody(400, f"the body is not valid JSON: {error}") from None
    if _depth(data) > MAX_DEPTH:
        raise BadBody(400, f"the JSON is nested deeper than {MAX_DEPTH} levels")
    if isinstance(data, list):
        if not data:
            raise BadBody(400, "the batch is empty")
        if len(data) > MAX_BATCH:
            raise BadBody(413, f"a batch holds at most {MAX_BATCH} events, not {len(data)}")
        return data, True
    return [data], False


def _depth(value: Any) -> int:
    # Iterative, so a hostile document cannot exhaust the stack here either.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
