"""What reaches the handlers has already been checked for size, type and shape: a hostile
body is answered here with a clear 4xx and never touches the ledger."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

MAX_BODY_BYTES = 1_048_576  # 1 MiB: a batch of 1,000 ordinary events fits with room to spare
MAX_DEPTH = 16  # an event nests five levels deep at most; anything far deeper is an attack
MAX_BATCH = 1_000

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyGuard:
    """ASGI middleware: JSON bodies only, and no bigger than the limit, counted as they arrive
    (a lying or missing Content-Length does not get past it)."""

    def __init__(self, app: Any, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _refuse(send, 413, f"the body is larger than {self.limit} bytes")
            return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _refuse(send, 413, f"the body is larger than {self.limit} bytes")
                return
            if not message.get("more_body"):
                break
        if body and media != "application/json":
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


async def _refuse(send: Send, status: int, reason: str) -> None:
    payload = json.dumps({"error": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
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
