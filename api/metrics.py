"""`/metrics` in the Prometheus text format: what one `ledger serve` has served, and how far the
parts of the ledger have got.

Every label takes a bounded set of values: routes are templates (`/v1/learners/{learner_id}/state`,
never the learner's id), statuses are numbers, refusal reasons one of REFUSALS. Nothing a client
sends can grow the number of series, and no id of a school, learner, advisor or key appears."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

disable_created_metrics()  # a `_created` sample per series doubles the page and tells an operator nothing

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Why a request was refused before a handler ran or by the access rules: a fixed vocabulary.
REFUSALS = ("missing_key", "bad_key", "forbidden", "too_large", "unsupported_media", "slow_body")
EVENT_OUTCOMES = ("accepted", "duplicate", "conflict", "rejected")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, positions: Callable[[], dict[str, float]], events: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ledger_http_requests", "HTTP requests answered, by route template and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("ledger_http_request_duration_seconds",
                                 "Time from the request's arrival to the end of its response.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.refusals = Counter("ledger_http_refusals", "Requests refused before or by the access rules, by kind.",
                                ["status", "reason"], registry=self.registry)
        self.registry.register(_Ledger(positions, events))

    def observe(self, method: str, route: str, status: int, seconds: float, refusal: str | None) -> None:
        labels = (method if method in METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        if refusal in REFUSALS:
            self.refusals.labels(str(status), refusal).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Ledger:
    """Positions and posting outcomes, asked for when Prometheus scrapes."""

    def __init__(self, positions: Callable[[], dict[str, float]], events: Callable[[], dict[str, int]]) -> None:
        self.positions, self.events = positions, events

    def describe(self) -> list:
        return []  # computed at scrape time; nothing to register up front

    def collect(self) -> Any:
        outcomes = CounterMetricFamily("ledger_events_posted", "Events posted over HTTP, by outcome.",
                                       labels=["outcome"])
        counts = self.events()
        for outcome in EVENT_OUTCOMES:
            outcomes.add_metric([outcome], counts.get(outcome, 0))
        yield outcomes
        for name, value in self.positions().items():
            help_text, _ = GAUGES[name]
            yield GaugeMetricFamily(f"ledger_{name}", help_text, value=value)


GAUGES = {
    "store_head_position": ("The store's highest notification position.", "store"),
    "projection_position": ("The position this server's read models have applied.", "store"),
    "projection_lag_events": ("Store head minus projection position.", "store"),
    "projector_up": ("1 if this server's background projector's last round succeeded.", "store"),
    "kafka_up": ("1 if Kafka answered the last look at it.", "kafka"),
    "relay_position": ("The highest position committed to ledger.events.", "kafka"),
    "relay_lag_events": ("Store head minus relay position.", "kafka"),
    "ingest_lag_messages": ("Messages on evidence.submissions not yet committed by the ingest.", "kafka"),
}


class Cached:
    """A value computed at most every `seconds`, one caller at a time (scrapes must stay cheap, and
    Kafka's answer costs a scan of each partition's tail)."""

    def __init__(self, compute: Callable[[], dict[str, float]], seconds: float) -> None:
        self.compute, self.seconds = compute, seconds
        self.value: dict[str, float] = {}
        self.at = -float("inf")
        self.lock = threading.Lock()

    def get(self) -> dict[str, float]:
        with self.lock:
            if time.monotonic() - self.at > self.seconds:
                self.value, self.at = self.compute(), time.monotonic()
            return self.value


def metrics_token_ok(authorization: str | None) -> bool:
    """`Authorization: Bearer TOKEN` matching LEDGER_METRICS_TOKEN (unset: no token opens /metrics),
    so a Prometheus server can scrape without holding a key that may also read or decide."""
    import hmac
    import os

    token = os.environ.get("LEDGER_METRICS_TOKEN", "")
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer "):].strip().encode(), token.encode())
