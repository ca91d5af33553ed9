"""Prometheus metrics of the alert API, served at ``GET /metrics`` (prometheus-client).

Each app counts in its own registry: alerts received, stored, ignored as duplicates (identical
repeats: retries, or another worker's copy) and refused as conflicts, store errors (answered
503), and a latency histogram of every request by method, route and status. With several
worker processes (``alert_api.py --workers N``) the parent sets ``PROMETHEUS_MULTIPROC_DIR``
before forking, every worker writes its values there, and ``/metrics`` in any worker sums the
files of all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a single insert on the event loop (~0.1 ms) to a full batch on PostgreSQL under load
# (hundreds of ms) and the 5 s SQLite busy timeout.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)


class ApiMetrics:
    """The API's counters and latency histogram, and their exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("alert_api_alerts_received", "Alerts in valid POST /alert bodies "
                                "(each alert of a batch counts)", registry=r)
        self.stored = Counter("alert_api_alerts_stored", "Alerts stored (new transactions)",
                              registry=r)
        self.duplicates = Counter("alert_api_alerts_duplicate", "Alerts ignored: the transaction "
                                  "was stored before with the same content (a retry)", registry=r)
        self.conflicts = Counter("alert_api_alerts_conflict", "Alerts refused with 409: stored "
                                 "before with other content", registry=r)
        self.store_errors = Counter("alert_api_store_errors", "Requests the database failed "
                                    "(answered 503 with Retry-After)", registry=r)
        self.latency = Histogram("alert_api_request_duration_seconds", "Time from a request's "
                                 "arrival at the app to its answer", ["method", "route", "status"],
                                 buckets=LATENCY_BUCKETS, registry=r)

    def exposition(self) -> bytes:
        """The text format of every metric: this process's, or every worker's summed."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request (pure ASGI: nothing buffered, nothing copied)."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # unless an answer starts

        async def timed_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            # The route's template (/alerts/{alert_id}), never the raw path: labels stay few.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - start)
