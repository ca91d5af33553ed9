"""Score new transactions with the trained model, report, and send alerts to the alert API.

Features come only from `feature_engineering.build_features`, with the training period's
transactions as history, so scoring sees what training saw. `fraud_score` is in [0, 1],
higher is more suspicious; `is_anomaly` is `fraud_score >= threshold` of the model.

Delivery: every flagged transaction is POSTed to `/alert` in batches over one
`requests.Session` that retries connection errors and 5xx with backoff (safe: `/alert` is
idempotent by `transaction_id`). Alerts the API does not take are kept in
`data/undelivered_alerts.jsonl` and sent first on the next run; the spool is rewritten
only after a 2xx, so an alert is never lost between runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent
DEFAULT_API_URL = "http://127.0.0.1:8000"
SPOOL_NAME = "undelivered_alerts.jsonl"
ALERT_BATCH_SIZE = 500
HTTP_RETRIES = 3
HTTP_BACKOFF = 0.5
HTTP_TIMEOUT = (3.05, 30.0)  # connect, read (seconds)
TOP_SHARE = 0.02  # evaluation: recall among the top 2% by score
MAX_REASONS_CHARS = 2000  # the API's limit on `reasons`
DETECTION_COLUMNS = [
    "transaction_id",
    "wallet_id",
    "timestamp",
    "fraud_score",
    "is_anomaly",
    "reasons",
]
ALERT_FIELDS = [
    "transaction_id",
    "wallet_id",
    "fraud_score",
    "timestamp",
    "amount",
    "type",
    "reasons",
    "model_version",
]


class DeliveryError(Exception):
    """The alert API refused the alerts for a reason a retry will not fix (e.g. auth)."""


@dataclass
class DeliveryResult:
    sent: int  # alerts the API answered 2xx for
    created: int
    existing: int
    spooled: int  # alerts waiting in the spool file after this call


# ------------------------------------------------------------------------------- scoring


def detect(
    bundle: dict, targets: pd.DataFrame, history=None, wallets=None, logins=None
) -> pd.DataFrame:
    """Score one batch of transactions; returns the detections.csv columns.

    `targets` are loaded transactions (timestamp as datetime64 UTC); `history` the earlier
    ones that give the look-back context. Reusable per batch (the streaming path calls it).
    """
    from feature_engineering import build_features
    from train_model import BundleError, score

    features = build_features(targets, history=history, wallets=wallets, logins=logins)
    got = [c for c in features.columns if c != "transaction_id"]
    if got != list(bundle["feature_names"]):
        missing = [c for c in bundle["feature_names"] if c not in got]
        extra = [c for c in got if c not in bundle["feature_names"]]
        raise BundleError(
            f"the model was trained on other features than feature_engineering computes now "
            f"(missing {missing[:5]}, unexpected {extra[:5]}); retrain with train_model.py"
        )
    scored = score(bundle, features)
    out = pd.DataFrame(
        {
            "transaction_id": targets["transaction_id"].to_numpy(),
            "wallet_id": targets["wallet_id"].to_numpy(),
            "timestamp": targets["timestamp"].to_numpy(),
            "fraud_score": scored["fraud_score"].to_numpy(),
            "is_anomaly": scored["is_anomaly"].to_numpy(),
            "reasons": scored["reasons"].to_numpy(),
        }
    )
    return out


def wallet_scores(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per wallet: the max score of its transactions, counts, worst reasons."""
    worst = detections.loc[detections.groupby("wallet_id", sort=False)["fraud_score"].idxmax()]
    grouped = detections.groupby("wallet_id", sort=False)
    out = pd.DataFrame(
        {
            "wallet_id": worst["wallet_id"].to_numpy(),
            "wallet_score": worst["fraud_score"].to_numpy(),
            "n_transactions": grouped.size().loc[worst["wallet_id"]].to_numpy(),
            "n_anomalies": grouped["is_anomaly"]
            .sum()
            .loc[worst["wallet_id"]]
            .to_numpy()
            .astype(int),
            "reasons": worst["reasons"].to_numpy(),
        }
    )
    return out.sort_values(
        ["wallet_score", "wallet_id"], ascending=[False, True], ignore_index=True
    )


# ---------------------------------------------------------------------------- evaluation


def evaluate(detections: pd.DataFrame, labels: pd.DataFrame, top_share: float = TOP_SHARE) -> dict:
    """Compare detections with ground truth (labels: transaction_id, scenario).

    Labels of transactions not in `detections` are ignored; every detection not labelled
    is legitimate.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    scenario = detections["transaction_id"].map(labels.set_index("transaction_id")["scenario"])
    y = scenario.notna().to_numpy()
    s = detections["fraud_score"].to_numpy(dtype=float)
    flag = detections["is_anomaly"].to_numpy(dtype=bool)
    n, n_pos, n_flag = len(y), int(y.sum()), int(flag.sum())
    n_top = math.ceil(top_share * n)
    top = np.zeros(n, dtype=bool)
    top[np.argsort(-s, kind="stable")[:n_top]] = True
    both = n_pos > 0 and n_pos < n

    def _ratio(a, b):
        return a / b if b else None

    per_scenario = {}
    for name, mask in scenario.groupby(scenario, sort=True).groups.items():
        idx = detections.index.get_indexer(mask)
        per_scenario[name] = {
            "n": len(idx),
            "recall": float(flag[idx].mean()),
            "recall_top": float(top[idx].mean()),
        }
    return {
        "rows": n,
        "frauds": n_pos,
        "fraud_prevalence": _ratio(n_pos, n),
        "average_precision": float(average_precision_score(y, s)) if both else None,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "flagged": n_flag,
        "alert_rate": _ratio(n_flag, n),
        "precision": _ratio(int((flag & y).sum()), n_flag),
        "recall": _ratio(int((flag & y).sum()), n_pos),
        "top_share": top_share,
        "recall_top": _ratio(int((top & y).sum()), n_pos),
        "scenarios": per_scenario,
    }


def format_metrics(m: dict, title: str = "") -> str:
    """A plain-text table of evaluate()'s numbers."""

    def _f(v):
        return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    rows = [
        ("rows", m["rows"]),
        ("fraud prevalence", m["fraud_prevalence"]),
        ("average precision", m["average_precision"]),
        ("ROC-AUC", m["roc_auc"]),
        ("alert rate", m["alert_rate"]),
        ("precision of flags", m["precision"]),
        ("recall of flags", m["recall"]),
        (f"recall in top {m['top_share']:.0%}", m["recall_top"]),
    ]
    rows += [
        (f"  {k} (n={v['n']}) recall / top", f"{v['recall']:.4f} / {v['recall_top']:.4f}")
        for k, v in m["scenarios"].items()
    ]
    width = max(len(r[0]) for r in rows)
    lines = [title] if title else []
    lines += [f"{k.ljust(width)}  {_f(v)}" for k, v in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ delivery


def _session(api_key: str | None, retries: int, backoff: float):
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(500, 502, 503, 504),
        # POST is retried because /alert is idempotent by transaction_id.
        allowed_methods=frozenset({"GET", "POST"}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    if api_key:
        session.headers["X-API-Key"] = api_key
    return session


def alert_records(detections: pd.DataFrame, model_version: str | None) -> list[dict]:
    """Alert bodies for /alert from flagged detections (with `amount` and `type` columns)."""
    df = detections.loc[detections["is_anomaly"].astype(bool)]
    ts = pd.to_datetime(df["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = pd.DataFrame(
        {
            "transaction_id": df["transaction_id"].astype(str),
            "wallet_id": df["wallet_id"].astype(str),
            "fraud_score": df["fraud_score"].astype(float),
            "timestamp": ts,
            "amount": df["amount"].astype(float) if "amount" in df else None,
            "type": df["type"].astype(str) if "type" in df else None,
            "reasons": df["reasons"].fillna("").astype(str).str.slice(0, MAX_REASONS_CHARS),
            "model_version": model_version,
        }
    )
    return body[ALERT_FIELDS].to_dict(orient="records")


def _read_spool(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning(
                    "%s line %d is not JSON; skipped (left in %s.bad)", path, n, path.name
                )
                with path.with_suffix(".bad").open("a") as bad:
                    bad.write(line + "\n")
    return records


def _write_spool(path: Path, records: list[dict]) -> None:
    if not records:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def send_alerts(
    alerts,
    api_url: str,
    spool_path,
    api_key: str | None = None,
    batch_size: int = ALERT_BATCH_SIZE,
    session=None,
    retries: int = HTTP_RETRIES,
    backoff: float = HTTP_BACKOFF,
    timeout=HTTP_TIMEOUT,
) -> DeliveryResult:
    """POST the spooled alerts, then `alerts`, to `{api_url}/alert` in batches.

    `alerts` is a list of alert bodies (see `alert_records`) or a frame of them. When a
    batch fails after the retries, it and every later alert go to the spool file; the
    spool is rewritten only with what is still undelivered. Raises DeliveryError on 4xx
    (after spooling), since retrying will not help.
    """
    import requests

    if isinstance(alerts, pd.DataFrame):
        alerts = alerts.to_dict(orient="records")
    spool_path = Path(spool_path)
    pending, seen = [], set()
    for rec in [*_read_spool(spool_path), *alerts]:
        if rec["transaction_id"] not in seen:
            seen.add(rec["transaction_id"])
            pending.append(rec)
    own = session is None
    session = session or _session(api_key, retries, backoff)
    url = api_url.rstrip("/") + "/alert"
    sent = created = existing = 0
    problem = None
    try:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            try:
                resp = session.post(url, json=batch, timeout=timeout)
            except requests.RequestException as exc:
                problem = f"alert API unreachable at {api_url} ({type(exc).__name__})"
            else:
                if resp.ok:
                    body = resp.json()
                    sent += len(batch)
                    created += len(body.get("created", []))
                    existing += len(body.get("existing", []))
                    continue
                problem = f"alert API at {api_url} answered {resp.status_code}: {resp.text[:200]}"
                if 400 <= resp.status_code < 500:
                    _write_spool(spool_path, pending[start:])
                    raise DeliveryError(
                        f"{problem}; {len(pending) - start} alerts wait in {spool_path}"
                    )
            break
    finally:
        if own:
            session.close()
    undelivered = pending[sent:]
    _write_spool(spool_path, undelivered)
    if problem:
        logger.warning("%s; %d alerts wait in %s", problem, len(undelivered), spool_path)
    return DeliveryResult(sent=sent, created=created, existing=existing, spooled=len(undelivered))


# ------------------------------------------------------------------------------- figures


def _figures(
    detections: pd.DataFrame, threshold: float, metrics: dict | None, out_dir: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(detections["fraud_score"], bins=100, range=(0, 1), color="#4c72b0")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(yscale="log", xlabel="fraud_score", ylabel="transactions", title="Score distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "score_distribution.png", dpi=100)
    plt.close(fig)

    flagged = detections.loc[detections["is_anomaly"], "timestamp"]
    per_hour = pd.to_datetime(flagged, utc=True).dt.floor("h").value_counts().sort_index()
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(per_hour.index, per_hour.to_numpy(), width=1 / 24, color="#dd8452")
    ax.set(xlabel="hour (UTC)", ylabel="alerts", title="Alerts per hour")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out_dir / "alerts_per_hour.png", dpi=100)
    plt.close(fig)

    if metrics and metrics["scenarios"]:
        names = list(metrics["scenarios"])
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(x - 0.2, [metrics["scenarios"][k]["recall"] for k in names], 0.4, label="flags")
        ax.bar(
            x + 0.2,
            [metrics["scenarios"][k]["recall_top"] for k in names],
            0.4,
            label=f"top {metrics['top_share']:.0%}",
        )
        ax.set_xticks(x, names, rotation=15)
        ax.set(ylim=(0, 1.05), ylabel="recall", title="Recall per fraud scenario")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "scenario_recall.png", dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------------------------- main


def _parse(argv):
    p = argparse.ArgumentParser(
        description="Score new transactions and send alerts for the flagged ones."
    )
    p.add_argument("--data-dir", type=Path, default=ROOT / "data")
    p.add_argument("--models-dir", type=Path, default=ROOT / "models")
    p.add_argument("--reports-dir", type=Path, default=ROOT / "reports")
    p.add_argument(
        "--transactions",
        type=Path,
        default=None,
        help="transactions to score (default: DATA_DIR/new_transactions.csv)",
    )
    p.add_argument("--api-url", default=os.environ.get("ALERT_API_URL", DEFAULT_API_URL))
    p.add_argument(
        "--api-key",
        default=os.environ.get("ALERT_API_KEY"),
        help="X-API-Key for the alert API (default: env ALERT_API_KEY)",
    )
    p.add_argument("--no-alerts", action="store_true", help="do not send alerts")
    p.add_argument("--no-figures", action="store_true", help="skip reports/figures/*.png")
    p.add_argument("--follow", action="store_true", help="keep scoring new rows as they arrive")
    return p.parse_args(argv)


def _time_iso(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.follow:
        print("detect_anomalies.py: error: --follow is not implemented yet", file=sys.stderr)
        return 2
    import feature_engineering as fe
    from train_model import BundleError, load_bundle

    t0 = time.perf_counter()
    try:
        bundle = load_bundle(args.models_dir / "fraud_model.pkl")
        new_path = args.transactions or args.data_dir / "new_transactions.csv"
        if not new_path.exists():
            raise fe.InputError(f"{new_path}: not found")
        targets = fe.load_transactions(new_path)
        history_path = fe.transactions_file(args.data_dir)
        history = fe.load_transactions(history_path) if history_path.exists() else None
        if history is not None and history_path.resolve() == new_path.resolve():
            history = None
        wallets_path = args.data_dir / "wallets.csv"
        wallets = fe.load_wallets(wallets_path) if wallets_path.exists() else None
        logins = fe.load_logins(args.data_dir / "logins.csv")
        detections = detect(bundle, targets, history, wallets, logins)
    except (fe.InputError, BundleError) as exc:
        print(f"detect_anomalies.py: error: {exc}", file=sys.stderr)
        return 1
    t1 = time.perf_counter()

    wallets_out = wallet_scores(detections)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    detections.assign(timestamp=_time_iso(detections["timestamp"])).to_csv(
        args.data_dir / "detections.csv", index=False
    )
    wallets_out.to_csv(args.data_dir / "wallet_scores.csv", index=False)
    n_flag = int(detections["is_anomaly"].sum())
    logger.info(
        "scored %d transactions in %.1fs: %d flagged (%.2f%%); wrote %s and %s",
        len(detections),
        t1 - t0,
        n_flag,
        100 * n_flag / max(len(detections), 1),
        args.data_dir / "detections.csv",
        args.data_dir / "wallet_scores.csv",
    )
    for r in wallets_out.head(5).itertuples():
        logger.info(
            "top wallet %s score %.4f (%d of %d flagged): %s",
            r.wallet_id,
            r.wallet_score,
            r.n_anomalies,
            r.n_transactions,
            r.reasons,
        )

    metrics = None
    labels_path = args.data_dir / "labels.csv"
    report_path = args.reports_dir / "metrics.json"
    if labels_path.exists():
        labels = pd.read_csv(labels_path, dtype=str)
        metrics = evaluate(detections, labels)
        print(format_metrics(metrics, title=f"Evaluation of {bundle['metadata']['model_version']}"))
    report = {}
    if report_path.exists():
        try:
            report = json.loads(report_path.read_text())
        except json.JSONDecodeError:
            report = {}
    report["detection"] = {
        "transactions": str(new_path),
        "model_version": bundle["metadata"]["model_version"],
        "rows": len(detections),
        "flagged": n_flag,
        "threshold": bundle["threshold"],
        "seconds": round(t1 - t0, 2),
    }
    report["evaluation"] = metrics
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    if not args.no_figures:
        _figures(detections, bundle["threshold"], metrics, args.reports_dir / "figures")

    if args.no_alerts:
        return 0
    extra = targets[["amount", "type"]].reset_index(drop=True)
    records = alert_records(
        pd.concat([detections, extra], axis=1), bundle["metadata"]["model_version"]
    )
    spool = args.data_dir / SPOOL_NAME
    try:
        result = send_alerts(records, args.api_url, spool, api_key=args.api_key)
    except DeliveryError as exc:
        print(f"detect_anomalies.py: error: {exc}", file=sys.stderr)
        return 1
    logger.info(
        "alerts: %d sent (%d new, %d already stored), %d waiting in %s",
        result.sent,
        result.created,
        result.existing,
        result.spooled,
        spool,
    )
    if result.spooled:
        print(
            f"detect_anomalies.py: error: alert API at {args.api_url} unreachable; "
            f"{result.spooled} alerts wait in {spool} and are sent first on the next run",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
