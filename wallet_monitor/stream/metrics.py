"""A detector's Prometheus metrics (`detect_anomalies.py --metrics-port`): rows scored and
flagged, messages waiting in the consumers, append-to-scored latency (a message's publish time
to its row's detection written), and alerts waiting in the spool."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Publish-to-scored latency buckets (s): micro-batches take 0.05-1 s; backlogs take longer.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DetectorMetrics:
    """The metrics of one detector process, served at http://HOST:PORT/metrics."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", shard: str = "0/1"):
        self.registry = CollectorRegistry()
        labels = {"labelnames": ["shard"], "registry": self.registry}
        self.scored = Counter("wallet_monitor_rows_scored", "Transactions scored", **labels).labels(shard)
        self.flagged = Counter("wallet_monitor_rows_flagged",
                               "Transactions flagged on arrival or raised by an episode",
                               **labels).labels(shard)
        self.pending = Gauge("wallet_monitor_consumer_pending",
                             "Messages waiting for this shard in its consumers",
                             **labels).labels(shard)
        self.latency = Histogram("wallet_monitor_append_to_scored_seconds",
                                 "From a transaction's publish to its detection written",
                                 buckets=LATENCY_BUCKETS, **labels).labels(shard)
        self.spool = Gauge("wallet_monitor_spool_depth", "Alerts waiting in the spool",
                           **labels).labels(shard)
        self.server = None
        if port is not None:
            self.server, _ = start_http_server(port, addr=host, registry=self.registry)

    def observe_spool(self, spool: Path | None) -> None:
        depth = 0
        if spool is not None and spool.exists():
            with spool.open("rb") as f:
                depth = sum(1 for line in f if line.strip())
        self.spool.set(depth)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
