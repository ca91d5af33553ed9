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

import csv
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
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
# Answers that refuse the alerts themselves (bad body, too large): retrying cannot help, and
# holding them in the spool would block every later alert; 401/403 stop delivery instead.
REJECTED_STATUSES = (400, 413, 422)
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


class _Refused(Exception):
    """A 4xx about the caller (auth, wrong URL), not about the alerts."""


@dataclass
class DeliveryResult:
    sent: int  # alerts the API answered 2xx for
    created: int
    existing: int
    spooled: int  # alerts waiting in the spool file after this call
    rejected: int = 0  # alerts the API refused as invalid (4xx), kept in the rejected file


# ------------------------------------------------------------------------------- scoring


# ------------------------------------------------------------------------------ episodes
#
# A fraud episode shows itself only part way through: the first transfers of a fan-out, the
# deposit that starts a mule chain and the first redemptions of a cash-out look ordinary when
# they happen. Once a row is flagged, the rows that led up to it are raised with it: the same
# wallet's earlier rows of the same type within EPISODE_WINDOW, and the inflow a flagged outflow
# sent on (the wallet's latest deposit or incoming transfer before it, if within
# EPISODE_FUNDING). The money goes on, too: the outflows that sent on a flagged inflow are
# raised with it (a pass-through's transfers out of a flagged deposit, a chain's next hop): a
# link from an earlier row, though that row may itself have been raised by a later one. Rows at
# the same time are not "before" each other. A linked row's
# evidence -log(1 - score) becomes EPISODE_WEIGHT of the flagged row's plus the rest of its own;
# rows that looked entirely ordinary themselves (score under EPISODE_MIN_SCORE, or
# EPISODE_FOLLOW_MIN_SCORE where the money is followed, below) are never raised.
# Two passes let a raised row raise its own predecessors (a chain's opening deposit). On both
# generators this lifted recall for the episodic scenarios at about the same precision
# (bench/bench_quality.py); it is the only step where a score depends on later rows. The
# forward link with a funding window of an hour (30 minutes before) raised average precision at
# seeds 0 / 1 from 0.772 / 0.713 to 0.773 / 0.716 on ours and from 0.524 / 0.497 to 0.541 /
# 0.507 on the independent data, pass-through recall from 0.56 / 0.62 to 0.72 / 0.77.
#
# Money followed: where the outflow of a funding link passes on most of its inflow
# (EPISODE_FOLLOW_SHARE to all of the amount) within EPISODE_FOLLOW_WITHIN, the two rows are one
# movement of the same money, and the raised row takes EPISODE_FOLLOW_WEIGHT of the flagged row's
# evidence (from EPISODE_FOLLOW_MIN_SCORE of its own). A mule chain's first hop, a deposit sent
# on in minutes to a wallet that sends it on again, looks like a top-up and a payment on its own
# (own score 0.6-0.9); the hop after it is what gives it away. Needs the rows' amounts. Means over
# model seeds 0-3 (experiment script): average precision 0.844 -> 0.855 on ours, rapid-transfer
# recall 0.874 -> 0.928 (mule chains 0.64 -> 0.85), 0.560 -> 0.561 on the independent data.
#
# A series: structuring splits a sum into deposits of about the same size, hours apart, each
# just under a reporting line; the first two or three look like one large deposit each and only
# the count gives the later ones away. As a last step, a flagged deposit raises the same
# wallet's deposits of a similar amount (within a factor EPISODE_SERIES_BAND) in the
# EPISODE_SERIES_WINDOW before it, with EPISODE_SERIES_WEIGHT of its evidence; rows raised there
# raise nothing in turn, so a deposit rises at most EPISODE_SERIES_WINDOW + EPISODE_REACH (26 h)
# later (its trigger may itself rise up to EPISODE_REACH after it). Means over model seeds 0-3
# (experiment script): average precision 0.855 -> 0.873 on ours, suspicious-deposit recall
# 0.860 -> 0.957 (0.92-0.98 by seed), 0.561 -> 0.562 on the independent data.
EPISODE_WINDOW = pd.Timedelta(hours=1)
EPISODE_FUNDING = pd.Timedelta(hours=1)
EPISODE_MIN_SCORE = 0.5
EPISODE_WEIGHT = 0.6
EPISODE_FOLLOW_SHARE = 0.7
EPISODE_FOLLOW_WITHIN = pd.Timedelta(minutes=30)
EPISODE_FOLLOW_WEIGHT = 0.9
EPISODE_FOLLOW_MIN_SCORE = 0.3
EPISODE_SERIES_WINDOW = pd.Timedelta(hours=24)
EPISODE_SERIES_BAND = 1.25
EPISODE_SERIES_WEIGHT = 0.9
EPISODE_PASSES = 2
# The latest a later row can still raise an earlier one in the passes (the follower keeps this
# much of every row; a deposit a series may raise up to EPISODE_SERIES_WINDOW before that).
EPISODE_REACH = EPISODE_PASSES * max(EPISODE_WINDOW, EPISODE_FUNDING)


# The transaction columns link_episodes reads beside the scores (the last two optional).
EPISODE_TX_COLUMNS = ("transaction_id", "wallet_id", "timestamp", "type", "counterparty_wallet_id",
                      "amount")

# How a raised row is linked to the flagged row, in its reasons.
_LINK_WORDS = ("came before flagged", "funded flagged", "sent on funds of flagged",
               "funds sent on within minutes by flagged", "sent on within minutes funds of flagged",
               "one of a series of similar deposits before flagged")
_FOLLOW_WORDS = 2  # a money-followed link's words: its plain link's index + this
_SERIES_WORDS = 5


def _evidence(p: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(1.0 - p, 1e-12))


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (k, i) for every i in range(lo[k], hi[k])."""
    n = np.maximum(hi - lo, 0)
    k = np.repeat(np.arange(len(lo)), n)
    return k, np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())


def _search_pairs(groups, times, g, t, side: str) -> np.ndarray:
    """np.searchsorted for (group, time) pairs in rows sorted by (groups, times)."""
    _, rank = np.unique(np.concatenate([times, t]), return_inverse=True)
    width = np.int64(rank.max() + 1) if len(rank) else np.int64(1)
    rows = groups.astype(np.int64) * width + rank[: len(times)]
    return np.searchsorted(rows, np.asarray(g, np.int64) * width + rank[len(times):], side)


def _episode_passes(owner, receiver, kinds, ts, canon, amount, own, threshold):
    """The EPISODE_PASSES passes of link_episodes over one set of rows (arrays on the same
    positions); returns the linked score, the raising row's position (-1: none) and how."""
    n = len(own)
    score = own.copy()
    via = np.full(n, -1)
    link_how = np.zeros(n, dtype=np.int8)  # an index into _LINK_WORDS
    kind, kind_names = pd.factorize(kinds)
    # Same-type predecessors: rows sorted by (wallet, type, time).
    group = owner.astype(np.int64) * max(len(kind_names), 1) + kind
    by_type = np.lexsort((canon, group))
    # Inflows: a deposit lands in its own wallet, a transfer in another wallet's.
    deposit = kinds == "deposit"
    dest = np.where(deposit, owner, receiver)
    inflow = np.flatnonzero(deposit | ((kinds == "transfer") & (receiver >= 0)
                                       & (receiver != owner)))
    inflow = inflow[np.lexsort((canon[inflow], dest[inflow]))]
    outflow = (kinds == "transfer") | (kinds == "redeem")
    # The inflow each outflow sent on: the wallet's latest inflow strictly before it (a row
    # that arrives later with the same time never changes which one that is), if recent.
    fund = np.full(n, -1, dtype=np.int64)
    outs = np.flatnonzero(outflow)
    if len(outs) and len(inflow):
        at = _search_pairs(dest[inflow], ts[inflow], owner[outs], ts[outs], "left") - 1
        latest = inflow[np.maximum(at, 0)]
        ok = ((at >= 0) & (dest[latest] == owner[outs])
              & (ts[latest] >= ts[outs] - EPISODE_FUNDING.value))
        fund[outs[ok]] = latest[ok]
    spent = np.flatnonzero(fund >= 0)  # the outflows with a funding inflow
    for _ in range(EPISODE_PASSES):
        flagged_now = score >= threshold
        trig = np.flatnonzero(flagged_now)
        # Both ends of each trigger's window [t - W, t) in one search.
        ends = _search_pairs(group[by_type], ts[by_type], np.r_[group[trig], group[trig]],
                             np.r_[ts[trig] - EPISODE_WINDOW.value, ts[trig]], "left")
        k1, j = _expand(ends[: len(trig)], ends[len(trig):])
        # (flagged row, raised row, how linked): same-type predecessors, the inflow a flagged
        # outflow sent on, and the outflows that sent on a flagged inflow.
        up = spent[flagged_now[spent]]
        down = spent[flagged_now[fund[spent]]]
        src = np.concatenate([trig[k1], up, fund[down]])
        i = np.concatenate([by_type[j], fund[up], down])
        how = np.repeat(np.arange(3), [len(k1), len(up), len(down)])
        # Money followed: the outflow of a funding link (the flagged row when it funded, the
        # raised one when it sent on) passes on most of the inflow, soon after.
        out_row, in_row = np.where(how == 1, src, i), np.where(how == 1, i, src)
        follow = ((how > 0) & (amount[in_row] > 0) & np.isfinite(amount[in_row])
                  & (amount[out_row] <= amount[in_row])
                  & (amount[out_row] >= EPISODE_FOLLOW_SHARE * amount[in_row])
                  & (ts[out_row] - ts[in_row] <= EPISODE_FOLLOW_WITHIN.value))
        keep = own[i] >= np.where(follow, EPISODE_FOLLOW_MIN_SCORE, EPISODE_MIN_SCORE)
        src, i, how, follow = src[keep], i[keep], how[keep], follow[keep]
        weight = np.where(follow, EPISODE_FOLLOW_WEIGHT, EPISODE_WEIGHT)
        _raise(score, via, link_how, canon, src, i, how + _FOLLOW_WORDS * follow,
               _blend(weight, score[src], own[i]))
    return score, via, link_how


def _blend(weight, trigger: np.ndarray, own: np.ndarray) -> np.ndarray:
    """A linked row's score: `weight` of the flagged row's evidence plus the rest of its own."""
    return -np.expm1(-(weight * _evidence(trigger) + (1 - weight) * _evidence(own)))


def _raise(score, via, link_how, canon, src, i, how, value, earlier_ties=False) -> None:
    """Each raised row i keeps its strongest link (the earliest such src among equals), where
    it beats the row's score so far (with `earlier_ties`, also where it equals it by way of an
    earlier row than the link so far); in place. Reads `score` before writing it."""
    order = np.lexsort((canon[src], -value, i))
    best = order[np.r_[True, i[order][1:] != i[order][:-1]]] if len(order) else order
    wins = value[best] > score[i[best]]
    if earlier_ties:
        was = via[i[best]]
        wins |= ((value[best] == score[i[best]]) & (was >= 0)
                 & (canon[src[best]] < canon[np.maximum(was, 0)]))
    best = best[wins]
    score[i[best]] = value[best]
    via[i[best]] = src[best]
    link_how[i[best]] = how[best]


def _series_links(owner, kinds, ts, canon, amount, own, score, threshold):
    """The last step of link_episodes: (flagged deposit, earlier deposit of the series, value)
    for the same wallet's deposits of a similar amount in the EPISODE_SERIES_WINDOW before a
    flagged deposit. Triggers are read at their score after the passes (the follower's
    series_only rows at their own score: their stronger raises were made while they were
    recent)."""
    dep = np.flatnonzero((kinds == "deposit") & (amount > 0) & np.isfinite(amount))
    dep = dep[np.lexsort((canon[dep], owner[dep]))]
    trig = dep[score[dep] >= threshold]
    ends = _search_pairs(owner[dep], ts[dep], np.r_[owner[trig], owner[trig]],
                         np.r_[ts[trig] - EPISODE_SERIES_WINDOW.value, ts[trig]], "left")
    k, j = _expand(ends[: len(trig)], ends[len(trig):])
    src, i = trig[k], dep[j]
    ok = ((own[i] >= EPISODE_MIN_SCORE) & (amount[i] <= EPISODE_SERIES_BAND * amount[src])
          & (amount[src] <= EPISODE_SERIES_BAND * amount[i]))
    src, i = src[ok], i[ok]
    return src, i, _blend(EPISODE_SERIES_WEIGHT, score[src], own[i])


def link_episodes(rows: pd.DataFrame, threshold: float, series_only=None) -> pd.DataFrame:
    """Raise the rows that led up to a flagged row, and those that sent its funds on (see
    EPISODE_* above).

    `rows`: transaction_id, wallet_id, timestamp, type, fraud_score, reasons and optionally
    counterparty_wallet_id and amount (without it, no link counts as money followed and no
    deposit series is linked): the scored rows of one period, in any order. `series_only`
    (boolean per row) marks earlier deposits that take part only in the series step (the
    follower's older rows). Returns, on the same index, fraud_score, is_anomaly, reasons (a
    raised row names the row it is linked to) and linked_to (that row's transaction_id, "" if
    not raised).
    """
    n = len(rows)
    own = rows["fraud_score"].to_numpy(dtype=float)
    score = own.copy()
    via = np.full(n, -1)
    link_how = np.zeros(n, dtype=np.int8)  # an index into _LINK_WORDS
    kinds = rows["type"].astype(str).to_numpy()
    amount = (pd.to_numeric(rows["amount"], errors="coerce").to_numpy(dtype=float)
              if "amount" in rows else np.full(n, np.nan))
    if n:
        ts = pd.DatetimeIndex(rows["timestamp"]).as_unit("ns").asi8
        cp = (rows["counterparty_wallet_id"] if "counterparty_wallet_id" in rows
              else pd.Series(pd.NA, index=rows.index))
        codes, _ = pd.factorize(pd.concat([rows["wallet_id"], cp], ignore_index=True))
        owner, receiver = codes[:n], codes[n:]
        # Rows in (time, transaction_id) order: ties are broken the same in any input order.
        canon = np.empty(n, dtype=np.int64)
        canon[np.lexsort((rows["transaction_id"].astype(str).to_numpy(), ts))] = np.arange(n)
        p = (np.arange(n) if series_only is None
             else np.flatnonzero(~np.asarray(series_only, dtype=bool)))
        sp, sv, sh = _episode_passes(owner[p], receiver[p], kinds[p], ts[p], canon[p],
                                     amount[p], own[p], threshold)
        score[p], link_how[p] = sp, sh
        via[p[sv >= 0]] = p[sv[sv >= 0]]
        src, i, value = _series_links(owner, kinds, ts, canon, amount, own, score, threshold)
        # At an equal score the earlier row is named, as the follower names it (it may have
        # written this link before the one from the passes arrived).
        _raise(score, via, link_how, canon, src, i, np.full(len(i), _SERIES_WORDS), value,
               earlier_ties=True)
    flagged = score >= threshold
    reasons = rows["reasons"].fillna("").astype(str).to_numpy(dtype=object).copy()
    linked = np.full(n, "", dtype=object)
    raised = np.flatnonzero(via >= 0)
    if len(raised):
        ids = rows["transaction_id"].astype(str).to_numpy()
        src = via[raised]
        why = [r.split("; ")[0] for r in reasons[src]]  # its own first reason, if it had one
        words = np.asarray(_LINK_WORDS)[link_how[raised]]
        episode = [f"part of an episode: {w} {kinds[t]} {ids[t]}" + (f" ({y})" if y else "")
                   for w, t, y in zip(words, src, why, strict=True)]
        # A row flagged on its own keeps its own reasons first.
        reasons[raised] = [f"{r}; {e}" if o >= threshold and r else e
                           for r, e, o in zip(reasons[raised], episode, own[raised], strict=True)]
        linked[raised] = ids[src]
    out = pd.DataFrame(index=rows.index)
    out["fraud_score"] = score
    out["is_anomaly"] = flagged
    out["reasons"] = np.where(flagged, reasons, "")
    out["linked_to"] = linked
    return out


def detect(
    bundle: dict, targets: pd.DataFrame, history=None, wallets=None, logins=None, link=True
) -> pd.DataFrame:
    """Score one batch of transactions; returns the detections.csv columns.

    `targets` are loaded transactions (timestamp as datetime64 UTC); `history` the earlier
    ones that give the look-back context. With `link`, rows that led up to a flagged row, or sent
    its funds on, are raised with it (link_episodes); the streaming path scores with link=False
    and links over its recent rows itself.
    """
    from feature_engineering import build_features
    from train_model import BundleError, score

    if len(targets) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DETECTION_COLUMNS}).astype(
            {"fraud_score": float, "is_anomaly": bool}
        )
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
    if link:
        extra = [c for c in EPISODE_TX_COLUMNS if c in targets and c not in out]
        linked = link_episodes(
            pd.concat([out, targets[extra].reset_index(drop=True)], axis=1), bundle["threshold"]
        )
        out[["fraud_score", "is_anomaly", "reasons"]] = linked[
            ["fraud_score", "is_anomaly", "reasons"]
        ]
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
                rec = json.loads(line)
                if not (isinstance(rec, dict) and "transaction_id" in rec):
                    raise ValueError("not an alert")
                records.append(rec)
            except ValueError:
                bad_path = path.with_suffix(".bad")
                logger.warning("%s line %d is not an alert; kept in %s", path, n, bad_path)
                with bad_path.open("a") as bad:
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
    sent = created = existing = upto = 0  # upto: pending[:upto] is delivered or set aside
    problem = None
    rejected: list[dict] = []
    rejected_path = spool_path.with_name(spool_path.stem + ".rejected.jsonl")

    def post(batch: list[dict]):
        """(True, body) when stored, (False, None) when refused as invalid, else (None, why)."""
        try:
            resp = session.post(url, json=batch, timeout=timeout)
        except requests.RequestException as exc:
            return None, f"alert API unreachable at {api_url} ({type(exc).__name__})"
        if resp.ok:
            return True, _json_object(resp)  # any 2xx means stored; counts are a courtesy
        why = f"alert API at {api_url} answered {resp.status_code}: {resp.text[:200]}"
        if resp.status_code in REJECTED_STATUSES:
            return False, why
        if 400 <= resp.status_code < 500:
            raise _Refused(why)
        return None, why

    try:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            ok, body = post(batch)
            if ok is False and len(batch) > 1:
                # The API refuses something in the batch: find which alerts, one at a time, so
                # one bad alert neither holds back the others nor blocks the spool for ever.
                parts = [(rec, *post([rec])) for rec in batch]
                if any(o is None for _, o, _ in parts):
                    problem = next(b for _, o, b in parts if o is None)
                    break
                stored = [(rec, b) for rec, o, b in parts if o]
                bad = [rec for rec, o, _ in parts if not o]
            elif ok is None:
                problem = body
                break
            elif ok:
                stored, bad = [(rec, None) for rec in batch], []
                created += len(body.get("created", []))
                existing += len(body.get("existing", []))
            else:  # a single alert, refused
                stored, bad = [], batch
            for _, b in stored:
                if b:  # the answers of one-at-a-time posts
                    created += len(b.get("created", []))
                    existing += len(b.get("existing", []))
            sent += len(stored)
            if bad:
                _append_jsonl(rejected_path, bad)
                rejected.extend(bad)
                logger.error("alert API refused %d alerts as invalid; set aside in %s",
                             len(bad), rejected_path)
            upto = start + len(batch)
    except _Refused as exc:
        _write_spool(spool_path, pending[start:])
        raise DeliveryError(f"{exc}; {len(pending) - start} alerts wait in {spool_path}") from None
    finally:
        if own:
            session.close()
    undelivered = pending[upto:]
    _write_spool(spool_path, undelivered)
    if problem:
        logger.warning("%s; %d alerts wait in %s", problem, len(undelivered), spool_path)
    return DeliveryResult(sent=sent, created=created, existing=existing, spooled=len(undelivered),
                          rejected=len(rejected))


def _json_object(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _append_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------- figures


def _figures(
    detections: pd.DataFrame, threshold: float, metrics: dict | None, out_dir: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    # Scores are calibrated to the training traffic, so the full range is about flat; the
    # right panel zooms on the top 10%, where the threshold decides.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, lo in zip(axes, (0.0, 0.9), strict=True):
        ax.hist(detections["fraud_score"], bins=50, range=(lo, 1), color="#4c72b0")
        ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold:.3f}")
        ax.set(xlabel="fraud_score", ylabel="transactions")
    axes[0].set_title("Score distribution")
    axes[1].set_title("Top 10% of the score range")
    axes[1].legend()
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


# ----------------------------------------------------------------------------- streaming
#
# `--follow` tails the new-transactions file (and logins.csv) and scores whatever complete rows
# arrived since the last poll as one micro-batch, through `detect` above: the micro-batch is the
# targets and the retained events of the wallets it touches the history. Features at t depend
# only on the wallets table and a bounded look-back of the wallet's events (see `_horizon`), so
# keeping that look-back is enough: memory stays bounded and the streaming features equal the
# batch ones for rows that arrive in (timestamp, transaction_id) order, a transaction's logins no
# later than the transaction. A checkpoint (byte offset and line per followed file, size of the
# detections output) is written atomically after each batch's alerts are delivered or spooled,
# so a restart resumes exactly there: no row skipped, none alerted twice.

FOLLOW_POLL_S = 0.1  # a row is picked up at most this long after it is written (when idle)
FOLLOW_MAX_BATCH = 5000  # rows per micro-batch: bounds latency and memory while catching up
FOLLOW_READ_BYTES = 8 << 20  # bytes read per file per poll
FOLLOW_RETRY_S = 5.0  # while the API is down, new alerts go straight to the spool this long
# Events are kept a little longer than needed so a slightly late row still finds its context.
EVICT_SLACK = pd.Timedelta(hours=1)
COMPACT_CHUNKS = 8  # merge the per-poll chunks (and evict) once this many piled up
REBUILD_SHARE = 0.25  # see _Retained.compact
STREAM_DETECTIONS_NAME = "stream_detections.csv"
# Rows raised after they were scored, when a later row flagged the episode they belong to (or a
# row that funded them was raised itself): one line per rise, STREAM_COLUMNS plus linked_to. The
# last line of a transaction here, else its line in stream_detections.csv, is what the batch
# path gives for it.
STREAM_EPISODES_NAME = "stream_episodes.csv"
CHECKPOINT_NAME = "follow_checkpoint.json"
STREAM_COLUMNS = [*DETECTION_COLUMNS, "scored_at"]
_TX_PRESENT = ("transaction_id", "wallet_id", "timestamp", "amount", "type")
_LOGIN_PRESENT = ("login_id", "wallet_id", "timestamp", "success")
_BOOL_TEXT = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}


@dataclass
class FollowStats:
    scored: int = 0
    flagged: int = 0
    raised: int = 0  # rises of rows scored before, when their episode showed (stream_episodes.csv)
    malformed: int = 0
    logins: int = 0
    alerts_sent: int = 0
    alerts_spooled: int = 0
    reason: str = ""
    malformed_lines: list = field(default_factory=list)  # (file name, line, reason), first few


# ----------------------------------------------------------------------------- tailing files


class _Tail:
    """Complete lines appended to a CSV file (or stdin) since the last read.

    `offset` is the byte position after the last consumed line and `line` its 1-based number;
    a last line without its newline is left for a later read.
    """

    def __init__(self, path: Path | None):
        self.path = path  # None: standard input
        self.name = "<stdin>" if path is None else path.name
        self.offset, self.line = 0, 0
        self.header: list[str] | None = None
        self.eof = False
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        if path is None:
            threading.Thread(target=self._pump_stdin, daemon=True).start()

    def _pump_stdin(self):
        for raw in sys.stdin.buffer:
            with self._lock:
                self._lines.append(raw)
        with self._lock:
            self.eof = True

    def read(self, max_lines: int | None = None, until: int | None = None) -> list[tuple[int, str]]:
        """(line number, text) of new complete data lines: at most `max_lines`, none past byte `until`."""
        raw = self._read_stdin(max_lines) if self.path is None else self._read_file(max_lines, until)
        out = []
        for chunk in raw:
            self.line += 1
            self.offset += len(chunk)
            if self.header is None:
                self.header = _split_header(chunk)
                continue
            text = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                out.append((self.line, text))
        return out

    def _read_stdin(self, max_lines):
        with self._lock:
            n = len(self._lines) if max_lines is None else min(max_lines, len(self._lines))
            taken, self._lines = self._lines[:n], self._lines[n:]
        return taken

    def _read_file(self, max_lines, until):
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return []
        if size < self.offset:
            logger.warning("%s shrank below the read position; reading it again from the start", self.path)
            self.offset, self.line, self.header = 0, 0, None
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            want = FOLLOW_READ_BYTES if until is None else min(FOLLOW_READ_BYTES, until - self.offset)
            data = fh.read(want)
        lines = data.split(b"\n")[:-1]  # the part after the last newline is not complete yet
        if max_lines is not None:
            lines = lines[: max_lines + (self.header is None)]
        return [ln + b"\n" for ln in lines]

    def position(self) -> dict:
        return {"path": None if self.path is None else str(self.path), "offset": self.offset,
                "line": self.line}


def _split_header(raw: bytes) -> list[str]:
    text = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return [c.strip().strip('"') for c in next(csv.reader([text]))]


# ---------------------------------------------------------------------------- parsing rows


def _parse_lines(lines, header, present, file_name):
    """Rows of `lines` as a string frame plus their line numbers; wrong-width rows are bad."""
    rows, numbers, bad = [], [], []
    width = len(header)
    for (n, _), values in zip(lines, csv.reader(text for _, text in lines), strict=True):
        if len(values) != width:
            bad.append((file_name, n, f"expected {width} fields, got {len(values)}"))
            continue
        rows.append(values)
        numbers.append(n)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df = df.where(df != "", None)
    reasons = np.full(len(df), "", dtype=object)
    for col in present:
        miss = df[col].isna().to_numpy()
        reasons[miss & (reasons == "")] = f"missing {col}"
    return df, np.asarray(numbers, dtype=np.int64), reasons, bad


def _mark(reasons, bad_mask, text):
    sel = bad_mask & (reasons == "")
    if sel.any():
        reasons[sel] = [text(i) for i in np.flatnonzero(sel)]


def _parse_timestamps(df, reasons):
    ts = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601", errors="coerce")
    _mark(reasons, (ts.isna() & df["timestamp"].notna()).to_numpy(),
          lambda i: f"unparsable timestamp {df['timestamp'].iloc[i]!r}")
    return ts.astype("datetime64[ns, UTC]")


def _parse_transactions(lines, header, known_ids, file_name):
    """Valid rows as load_transactions would give them, and [(file, line, reason)] for the rest."""
    from feature_engineering import TX_TYPES

    df, numbers, reasons, bad = _parse_lines(lines, header, _TX_PRESENT, file_name)
    if len(df):
        df["timestamp"] = _parse_timestamps(df, reasons)
        amount = pd.to_numeric(df["amount"], errors="coerce").astype(np.float64)
        a = amount.to_numpy()
        _mark(reasons, ~(np.isfinite(a) & (a > 0)),
              lambda i: f"amount not a positive number: {df['amount'].iloc[i]!r}")
        df["amount"] = amount
        kind = df["type"].astype("string").str.strip().str.lower()
        _mark(reasons, (~kind.isin(TX_TYPES)).to_numpy(),
              lambda i: f"unknown type {df['type'].iloc[i]!r}")
        df["type"] = kind.astype(object)
        ids = df["transaction_id"]
        _mark(reasons, _duplicates(ids, known_ids), lambda i: f"duplicate transaction_id {ids.iloc[i]!r}")
    return _split_bad(df, numbers, reasons, bad, file_name)


def _parse_logins(lines, header, known_ids, file_name):
    df, numbers, reasons, bad = _parse_lines(lines, header, _LOGIN_PRESENT, file_name)
    if len(df):
        df["timestamp"] = _parse_timestamps(df, reasons)
        success = df["success"].astype("string").str.strip().str.lower().map(_BOOL_TEXT)
        _mark(reasons, (success.isna() & df["success"].notna()).to_numpy(),
              lambda i: f"success not 0/1 or true/false: {df['success'].iloc[i]!r}")
        df["success"] = success.fillna(0).astype(np.int8)
        ids = df["login_id"]
        _mark(reasons, _duplicates(ids, known_ids), lambda i: f"duplicate login_id {ids.iloc[i]!r}")
    return _split_bad(df, numbers, reasons, bad, file_name)


def _duplicates(ids: pd.Series, known_ids: set) -> np.ndarray:
    # A membership loop over the batch is cheaper than hashing the whole retained set per poll.
    seen = np.fromiter((v in known_ids for v in ids), bool, len(ids))
    return (seen | ids.duplicated(keep="first").to_numpy()) & ids.notna().to_numpy()


def _split_bad(df, numbers, reasons, bad, file_name):
    ok = reasons == ""
    bad = bad + [(file_name, int(n), r) for n, r in zip(numbers[~ok], reasons[~ok], strict=True)]
    bad.sort(key=lambda b: b[1])
    return df.loc[ok].reset_index(drop=True), bad


# ------------------------------------------------------------------------------ the state


class _Retained:
    """Events of the last LOOKBACK as time-ordered chunks, with wallet codes for fast selection."""

    def __init__(self, id_col: str, codes: dict[str, int], columns):
        self.id_col = id_col
        self._codes = codes  # shared wallet vocabulary: wallet_id -> int
        self.chunks: list[tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]] = []
        self.ids: set[str] = set()
        self.columns: list[str] = list(columns)

    def _code(self, values: pd.Series) -> np.ndarray:
        codes = values.map(self._codes)
        fresh = (codes.isna() & values.notna()).to_numpy()
        if fresh.any():
            for v in pd.unique(values[fresh]):
                self._codes[v] = len(self._codes)
            codes = values.map(self._codes)
        return codes.fillna(-1).to_numpy(dtype=np.int64)

    def add(self, df: pd.DataFrame) -> None:
        if not len(df):
            return
        w = self._code(df["wallet_id"])
        cp = (self._code(df["counterparty_wallet_id"]) if "counterparty_wallet_id" in df
              else np.full(len(df), -1, np.int64))
        ts = pd.DatetimeIndex(df["timestamp"]).as_unit("ns").asi8
        self.chunks.append((df, w, cp, ts))
        self.ids.update(df[self.id_col].tolist())
        self.columns += [c for c in df.columns if c not in self.columns]

    def __len__(self):
        return sum(len(c[0]) for c in self.chunks)

    def _join(self, parts: list[pd.DataFrame]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns})
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def select_all(self) -> pd.DataFrame:
        return self._join([c[0] for c in self.chunks])

    def select(self, wanted: np.ndarray) -> pd.DataFrame:
        """Events where a wanted wallet is the owner or the counterparty."""
        lut = np.zeros(len(self._codes) + 1, bool)
        lut[wanted] = True
        parts = []
        for df, w, cp, _ in self.chunks:
            m = lut[w] | lut[cp]  # code -1 hits the spare last slot, which stays False
            if m.any():
                parts.append(df.loc[m])
        return self._join(parts)

    def compact(self, cutoff_ns: int, force: bool = False) -> None:
        """Merge the per-poll chunks after the first into one, dropping events before `cutoff_ns`.

        The first chunk (the bulk of the look-back) is rebuilt, the one costly step, only with
        `force` or once the events it has expired or the recent ones reach REBUILD_SHARE of it:
        a pause every few minutes at 200 rows/s rather than one every few seconds. Expired events
        left in it meanwhile are outside every feature's look-back, so they change no feature.
        """
        if not self.chunks:
            return
        base = self.chunks[0]
        expired = int((base[3] < cutoff_ns).sum())
        recent = sum(len(c[0]) for c in self.chunks[1:])
        if force or max(expired, recent) > REBUILD_SHARE * len(base[0]):
            self.chunks = self._merged(self.chunks, cutoff_ns)
        elif len(self.chunks) > 2:
            self.chunks = [base, *self._merged(self.chunks[1:], cutoff_ns)]

    def _merged(self, chunks, cutoff_ns):
        """`chunks` as one chunk without the events before `cutoff_ns` (whose ids are forgotten)."""
        kept = []
        for df, w, cp, ts in chunks:
            keep = ts >= cutoff_ns
            if not keep.all():
                self.ids.difference_update(df.loc[~keep, self.id_col].tolist())
                df, w, cp, ts = df.loc[keep], w[keep], cp[keep], ts[keep]
            if len(df):
                kept.append((df, w, cp, ts))
        if len(kept) > 1:
            return [(pd.concat([k[0] for k in kept], ignore_index=True),
                     *(np.concatenate([k[i] for k in kept]) for i in (1, 2, 3)))]
        return [(kept[0][0].reset_index(drop=True), *kept[0][1:])] if kept else []


def _horizon() -> pd.Timedelta:
    """How far back retained events must reach. Besides LOOKBACK, a window count of "new" pairs
    (new_counterparties_24h_log, new_ips_24h_log) asks, for each event in the window, whether the
    pair was seen in the LOOKBACK before *that* event: LOOKBACK + the longest window."""
    from feature_engineering import LOOKBACK, WINDOWS

    return LOOKBACK + max(WINDOWS.values()) + EVICT_SLACK


class _StreamState:
    """Retained transactions and logins, and scoring of micro-batches against them."""

    def __init__(self, bundle, wallets=None, with_logins=True):
        from feature_engineering import LOGIN_REQUIRED, TX_REQUIRED

        self.bundle, self.wallets = bundle, wallets
        self._codes: dict[str, int] = {}
        self.tx = _Retained("transaction_id", self._codes, TX_REQUIRED)
        self.logins = _Retained("login_id", self._codes, LOGIN_REQUIRED) if with_logins else None
        self.watermark = np.iinfo(np.int64).min  # latest transaction time seen (ns)
        self._keep = _horizon().value

    def add_logins(self, df: pd.DataFrame) -> None:
        if self.logins is not None:
            self.logins.add(df)

    def add_history(self, df: pd.DataFrame) -> None:
        self.tx.add(df)
        if len(df):
            self.watermark = max(self.watermark, int(df["timestamp"].max().value))

    def _context(self, targets: pd.DataFrame):
        wanted = np.unique(self.tx._code(targets["wallet_id"]))
        history = self.tx.select(wanted)
        logins = None if self.logins is None else self.logins.select(wanted)
        return history, logins

    def features(self, targets: pd.DataFrame) -> pd.DataFrame:
        """build_features of a micro-batch against the retained events; then retains it."""
        from feature_engineering import build_features

        history, logins = self._context(targets)
        out = build_features(targets, history=history, wallets=self.wallets, logins=logins)
        self.add_history(targets)
        return out

    def detect(self, targets: pd.DataFrame) -> pd.DataFrame:
        """`detect` of a micro-batch against the retained events; then retains it."""
        history, logins = self._context(targets)
        late = int((pd.DatetimeIndex(targets["timestamp"]).as_unit("ns").asi8 < self.watermark).sum())
        if late:
            logger.warning("%d rows are older than events already scored; batch order may differ", late)
        out = detect(self.bundle, targets, history, self.wallets, logins, link=False)
        self.add_history(targets)
        return out

    def evict(self, force: bool = False) -> None:
        """Drop events older than the watermark minus LOOKBACK (and slack)."""
        cutoff = self.watermark - self._keep
        for part in (self.tx, self.logins):
            if part is not None and (force or len(part.chunks) >= COMPACT_CHUNKS):
                part.compact(cutoff, force)


# ------------------------------------------------------------------------------ following


# How far behind the newest scored row the follower keeps rows that may still be raised, and
# the deposits a flagged deposit among them may still raise as its series (own score at least
# EPISODE_MIN_SCORE; these take part in the series step only).
_EPISODE_KEEP = EPISODE_REACH + EVICT_SLACK
_SERIES_KEEP = _EPISODE_KEEP + EPISODE_SERIES_WINDOW


class _Episodes:
    """The scored rows of the last EPISODE_REACH, linked again as each batch arrives, and the
    older deposits their series may still raise."""

    COLUMNS = [*EPISODE_TX_COLUMNS, "fraud_score", "reasons"]

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.recent = pd.DataFrame(columns=self.COLUMNS)
        self.shown = np.zeros(0)  # the score last written for each recent row
        self.shown_link = np.zeros(0, dtype=object)  # and the row it was linked to ("": none)
        self.series_only = np.zeros(0, dtype=bool)  # kept for the series step only

    def add(self, det: pd.DataFrame, good: pd.DataFrame) -> pd.DataFrame:
        """Take in a scored batch; returns the earlier or new rows whose linked score rose above
        what was written for them, or whose link changed at the same score (detection columns
        plus linked_to, amount, type and was_flagged)."""
        new = det[["transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons"]].assign(
            type=good["type"].to_numpy(), amount=good["amount"].to_numpy(),
            counterparty_wallet_id=(good["counterparty_wallet_id"].to_numpy()
                                    if "counterparty_wallet_id" in good else None))
        recent = pd.concat([self.recent, new[self.COLUMNS]], ignore_index=True) \
            if len(self.recent) else new[self.COLUMNS].reset_index(drop=True)
        shown = np.concatenate([self.shown, new["fraud_score"].to_numpy(dtype=float)])
        shown_link = np.concatenate([self.shown_link, np.full(len(new), "", dtype=object)])
        series_only = np.concatenate([self.series_only, np.zeros(len(new), dtype=bool)])
        linked = link_episodes(recent, self.threshold, series_only=series_only)
        score, link = linked["fraud_score"].to_numpy(), linked["linked_to"].to_numpy()
        # An equal score by way of another row happens when a row that ties with the written
        # link becomes flagged later; the batch path names the earliest, so the last word must,
        # and only an earlier row replaces the written one. A row no longer kept is earlier than
        # every kept one: a link to it stands (relinking without the rows that raised it could
        # find a later row at the same score).
        ts = pd.DatetimeIndex(recent["timestamp"]).as_unit("ns").asi8
        up = score > shown
        tie = np.flatnonzero((score == shown) & (link != "") & (link != shown_link))
        if len(tie):
            ids = recent["transaction_id"].astype(str).to_numpy()
            order = dict(zip(ids, zip(ts.tolist(), ids.tolist(), strict=True), strict=True))
            gone = (np.iinfo(np.int64).min, "")
            up[tie] = [shown_link[r] == "" or order[link[r]] < order.get(shown_link[r], gone)
                       for r in tie]
        out = pd.concat([recent.loc[up, ["transaction_id", "wallet_id", "timestamp", "amount",
                                         "type"]], linked.loc[up]], axis=1)
        out["was_flagged"] = shown[up] >= self.threshold
        shown_link[up] = link[up]
        # Rows older than the newest by more than EPISODE_REACH can rise no more, but as part of
        # a later flagged deposit's series.
        keep, series_only = self._keep(recent, ts, ts.max())
        self.recent = recent.loc[keep].reset_index(drop=True)
        self.shown = np.maximum(shown, score)[keep]
        self.shown_link = shown_link[keep]
        self.series_only = series_only[keep]
        return out

    @staticmethod
    def _keep(recent: pd.DataFrame, ts: np.ndarray, newest) -> tuple[np.ndarray, np.ndarray]:
        """Which rows to keep, and which of them only for the series step."""
        series_only = ts < newest - _EPISODE_KEEP.value
        series = ((recent["type"].astype(str).to_numpy() == "deposit")
                  & (recent["fraud_score"].to_numpy(dtype=float) >= EPISODE_MIN_SCORE)
                  & (ts >= newest - _SERIES_KEEP.value))
        return ~series_only | series, series_only

    def restore(self, det_path: Path, ep_path: Path, retained: pd.DataFrame) -> None:
        """On resume: the recent rows from what was written before the stop (scores on arrival in
        det_path, rises in ep_path) and their transactions from `retained`."""
        if not det_path.exists() or det_path.stat().st_size == 0:
            return
        det = pd.read_csv(det_path, dtype={"transaction_id": str, "reasons": str},
                          usecols=["transaction_id", "timestamp", "fraud_score", "reasons"])
        if not len(det):
            return
        det["timestamp"] = pd.to_datetime(det["timestamp"], utc=True, format="ISO8601")
        newest = det["timestamp"].max()
        det = det.loc[det["timestamp"] >= newest - _SERIES_KEEP]
        cols = [c for c in EPISODE_TX_COLUMNS if c != "timestamp" and c in retained]
        rows = det.merge(retained[cols].astype({"transaction_id": str}), on="transaction_id",
                         how="inner")
        for c in self.COLUMNS:
            if c not in rows:
                rows[c] = None
        if len(rows):
            keep, series_only = self._keep(
                rows, pd.DatetimeIndex(rows["timestamp"]).as_unit("ns").asi8, newest.value)
            rows, self.series_only = rows.loc[keep], series_only[keep]
        self.recent = rows[self.COLUMNS].reset_index(drop=True)
        shown = self.recent["fraud_score"].to_numpy(dtype=float)
        shown_link = np.full(len(shown), "", dtype=object)
        if ep_path.exists() and ep_path.stat().st_size:
            rises = pd.read_csv(ep_path, dtype={"transaction_id": str, "linked_to": str},
                                usecols=["transaction_id", "fraud_score", "linked_to"],
                                keep_default_na=False)
            last = rises.groupby("transaction_id").last()
            ids = self.recent["transaction_id"]
            shown = np.maximum(shown, ids.map(last["fraud_score"]).fillna(0).to_numpy())
            shown_link = ids.map(last["linked_to"]).astype(object).fillna("").to_numpy(
                dtype=object)
        self.shown, self.shown_link = shown, shown_link


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _append_detections(path: Path, detections: pd.DataFrame, columns=STREAM_COLUMNS) -> int:
    out = detections.assign(
        timestamp=pd.to_datetime(detections["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        scored_at=round(time.time(), 3),
    )[columns]
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        out.to_csv(f, header=new, index=False)
        f.flush()
        return f.tell()


class _Delivery:
    """send_alerts over one session; while the API is down new alerts go straight to the spool."""

    def __init__(self, api_url, api_key, spool_path: Path):
        self.api_url, self.spool = api_url, spool_path
        self.session = _session(api_key, 1, 0.2)  # short retries: a stall delays every later row
        self.retry_at = 0.0
        self.sent = 0

    def __call__(self, records: list[dict]) -> int:
        """Deliver or spool `records` (and the spool); returns how many wait in the spool."""
        if not records and not self.spool.exists():
            return 0
        if time.monotonic() < self.retry_at:
            waiting = {r["transaction_id"]: r for r in _read_spool(self.spool)}
            waiting.update({r["transaction_id"]: r for r in records if r["transaction_id"] not in waiting})
            _write_spool(self.spool, list(waiting.values()))
            return len(waiting)
        result = send_alerts(records, self.api_url, self.spool, session=self.session)
        self.sent += result.sent
        if result.spooled:
            self.retry_at = time.monotonic() + FOLLOW_RETRY_S
        return result.spooled

    def close(self):
        self.session.close()


def _consume(tail: _Tail, upto: int | None, parse, known_ids, add) -> None:
    """Read a followed file into the state without scoring: up to byte `upto` (a checkpoint),
    or, with None, all complete lines it holds now."""
    while upto is None or tail.offset < upto:
        before = tail.offset
        lines = tail.read(FOLLOW_MAX_BATCH, until=upto)
        if tail.offset == before:
            if upto is not None:
                raise ValueError(f"{tail.path} no longer holds the rows up to its checkpoint")
            return
        good, _ = parse(lines, tail.header or [], known_ids(), tail.name)
        add(good)


def follow(
    bundle: dict,
    transactions_path: Path | None,
    out_dir: Path,
    *,
    history: pd.DataFrame | None = None,
    wallets: pd.DataFrame | None = None,
    logins_path: Path | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    poll: float = FOLLOW_POLL_S,
    max_batch: int = FOLLOW_MAX_BATCH,
    max_idle: float | None = None,
    stop_after: int | None = None,
    stop: threading.Event | None = None,
) -> FollowStats:
    """Score rows appended to `transactions_path` (None: stdin) as they arrive.

    Writes `out_dir/stream_detections.csv` (detections.csv columns plus `scored_at`, epoch
    seconds) and `out_dir/follow_checkpoint.json`; alerts flagged rows when `api_url` is set.
    Stops on SIGINT/SIGTERM, `stop`, `max_idle` seconds without new transactions,
    `stop_after` transactions read, or the end of stdin.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    det_path = out_dir / STREAM_DETECTIONS_NAME
    ep_path = out_dir / STREAM_EPISODES_NAME
    ckpt_path = out_dir / CHECKPOINT_NAME
    stats = FollowStats()
    logins_on = logins_path is not None and logins_path.exists()
    state = _StreamState(bundle, wallets, with_logins=logins_on)

    if history is not None and len(history):
        start = history["timestamp"].max() - _horizon()
        state.add_history(history.loc[history["timestamp"] >= start])
    ckpt = _load_checkpoint(ckpt_path, transactions_path, logins_path if logins_on else None)
    tx_tail = _Tail(transactions_path)
    lg_tail = _Tail(logins_path) if logins_on else None
    if lg_tail is not None:
        # Whatever logins.csv holds now is context, not news: take it all in before following.
        _consume(lg_tail, None, _parse_logins, lambda: state.logins.ids, state.add_logins)
    if ckpt:
        _consume(tx_tail, ckpt["transactions"]["offset"], _parse_transactions,
                 lambda: state.tx.ids, state.add_history)
        for path, size in ((det_path, ckpt["detections_bytes"]),
                           (ep_path, ckpt.get("episodes_bytes"))):
            if size is not None and path.exists() and path.stat().st_size > size:
                with path.open("r+b") as f:  # rows read after the checkpoint are scored again
                    f.truncate(size)
        logger.info("resuming %s after line %d", tx_tail.name, tx_tail.line)
    else:
        det_path.unlink(missing_ok=True)  # a run from the top writes its output from the top
        ep_path.unlink(missing_ok=True)
    state.evict(force=True)
    det_bytes = det_path.stat().st_size if det_path.exists() else 0
    ep_bytes = ep_path.stat().st_size if ep_path.exists() else 0
    episodes = _Episodes(bundle["threshold"])
    if ckpt:  # rows scored before the stop can still be raised by rows after it
        episodes.restore(det_path, ep_path, state.tx.select_all())

    def checkpoint():
        _write_json_atomic(ckpt_path, {
            "transactions": tx_tail.position(),
            "logins": None if lg_tail is None else lg_tail.position(),
            "detections": str(det_path), "detections_bytes": det_bytes,
            "episodes": str(ep_path), "episodes_bytes": ep_bytes,
            "model_version": bundle["metadata"].get("model_version"),
            "updated_at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        })

    checkpoint()  # also tells a watcher the follower is ready
    deliver = _Delivery(api_url, api_key, out_dir / SPOOL_NAME) if api_url else None
    stop = stop or threading.Event()
    signalled = []

    # The handler only records the signal: Event.set could deadlock on the lock wait() holds.
    def on_signal(signum, _frame):
        signalled.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    logger.info("following %s (%d transactions, %d logins retained; alerts %s)",
                transactions_path or "stdin", len(state.tx),
                0 if state.logins is None else len(state.logins), api_url or "off")
    idle_since = time.monotonic()
    read_rows = 0
    try:
        while not (stop.is_set() or signalled):
            cycle_start = time.monotonic()
            moved = False
            limit = max_batch if stop_after is None else min(max_batch, stop_after - read_rows)
            # Transactions are read before logins: a writer appends a login before the
            # transactions it precedes, so every login at or before a row read here is in too.
            lines = tx_tail.read(limit)
            if lg_tail is not None:
                before = lg_tail.offset
                good, bad = _parse_logins(lg_tail.read(), lg_tail.header or [], state.logins.ids,
                                          lg_tail.name)
                state.add_logins(good)
                stats.logins += len(good)
                _report_bad(bad, stats)
                moved = lg_tail.offset != before
            if lines:
                read_rows += len(lines)
                good, bad = _parse_transactions(lines, tx_tail.header, state.tx.ids, tx_tail.name)
                _report_bad(bad, stats)
                if len(good):
                    det = state.detect(good)
                    det_bytes = _append_detections(det_path, det)
                    raised = episodes.add(det, good)
                    if len(raised):
                        ep_bytes = _append_detections(ep_path, raised,
                                                      [*STREAM_COLUMNS, "linked_to"])
                    stats.scored += len(det)
                    n_flag = int(det["is_anomaly"].sum())
                    stats.flagged += n_flag
                    stats.raised += len(raised)
                    # A row already alerted stays as the API stored it (the API keeps the first
                    # alert of a transaction); a row that now reaches the threshold is alerted.
                    fresh = raised.loc[~raised.pop("was_flagged")]
                    alerting = pd.concat(
                        [pd.concat([det, good[["amount", "type"]]], axis=1).loc[
                            ~det["transaction_id"].isin(fresh["transaction_id"])], fresh],
                        ignore_index=True)
                    if deliver is not None and (alerting["is_anomaly"].any() or deliver.spool.exists()):
                        records = alert_records(alerting, bundle["metadata"].get("model_version"))
                        stats.alerts_spooled = deliver(records)
                state.evict()
                moved = True
            if moved:
                checkpoint()
            if lines:
                idle_since = time.monotonic()
            if stop_after is not None and read_rows >= stop_after:
                stats.reason = f"read {read_rows} rows"
                break
            if transactions_path is None and tx_tail.eof and not tx_tail._lines:
                stats.reason = "end of input"
                break
            if max_idle is not None and time.monotonic() - idle_since > max_idle:
                stats.reason = f"idle for {max_idle:g}s"
                break
            if len(lines) < limit:
                # Poll every `poll` seconds from the start of the last read, not `poll` after the
                # batch's work: a row written meanwhile waits at most one cycle, not two.
                time.sleep(max(0.0, poll - (time.monotonic() - cycle_start)))
        else:
            stats.reason = "stop requested"
        if deliver is not None and deliver.spool.exists():
            deliver.retry_at = 0.0
            stats.alerts_spooled = deliver([])  # a last try for whatever waits in the spool
        checkpoint()
    except DeliveryError as exc:
        checkpoint()  # the refused alerts are in the spool; the rows are done
        stats.reason = str(exc)
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if deliver is not None:
            stats.alerts_sent = deliver.sent
            deliver.close()
    logger.info("stopped (%s): %d scored, %d flagged, %d raised by a later row, %d malformed, "
                "%d alerts sent, %d spooled; checkpoint %s", stats.reason, stats.scored,
                stats.flagged, stats.raised, stats.malformed, stats.alerts_sent,
                stats.alerts_spooled, ckpt_path)
    return stats


def _report_bad(bad, stats: FollowStats) -> None:
    for file_name, line, reason in bad:
        logger.warning("%s line %d skipped: %s", file_name, line, reason)
    stats.malformed += len(bad)
    stats.malformed_lines += bad[: max(0, 100 - len(stats.malformed_lines))]


def _load_checkpoint(path: Path, tx_path: Path | None, logins_path: Path | None) -> dict | None:
    """The checkpoint, if it belongs to these followed files; None to start from the top."""
    if tx_path is None or not path.exists():
        return None
    try:
        ckpt = json.loads(path.read_text())
        same = ckpt["transactions"]["path"] == str(tx_path) and (
            (ckpt["logins"] or {}).get("path") == (None if logins_path is None else str(logins_path)))
    except (json.JSONDecodeError, KeyError, TypeError):
        logger.warning("%s is not a follow checkpoint; starting from the top", path)
        return None
    if not same:
        logger.warning("%s is for other files; starting from the top", path)
        return None
    return ckpt


def _follow_main(args) -> int:
    """`--follow` of main(): load the model, history and wallets table, then follow."""
    import feature_engineering as fe
    from train_model import BundleError, load_bundle

    tx_path = args.transactions or args.data_dir / "new_transactions.csv"
    stdin = str(tx_path) == "-"
    try:
        bundle = load_bundle(args.models_dir / "fraud_model.pkl")
        history_path = fe.transactions_file(args.data_dir)
        history = None
        if history_path.exists() and (stdin or history_path.resolve() != tx_path.resolve()):
            history = fe.load_transactions(history_path)
        wallets_path = args.data_dir / "wallets.csv"
        wallets = fe.load_wallets(wallets_path) if wallets_path.exists() else None
        stats = follow(
            bundle, None if stdin else tx_path, args.data_dir, history=history, wallets=wallets,
            logins_path=args.data_dir / "logins.csv",
            api_url=None if args.no_alerts else args.api_url, api_key=args.api_key,
            max_idle=args.max_idle, stop_after=args.stop_after,
        )
    except (fe.InputError, BundleError, DeliveryError) as exc:
        print(f"detect_anomalies.py: error: {exc}", file=sys.stderr)
        return 1
    if stats.alerts_spooled:
        print(f"detect_anomalies.py: error: alert API at {args.api_url} unreachable; "
              f"{stats.alerts_spooled} alerts wait in {args.data_dir / SPOOL_NAME}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------- main


def _parse(argv):
    from feature_engineering import CliParser

    p = CliParser(
        description="Score new transactions and send alerts for the flagged ones."
    )
    p.add_argument("--data-dir", type=Path, default=ROOT / "data",
                   help="folder with the input CSVs; outputs are written here (default: %(default)s)")
    p.add_argument("--models-dir", type=Path, default=ROOT / "models",
                   help="folder holding fraud_model.pkl (default: %(default)s)")
    p.add_argument("--reports-dir", type=Path, default=ROOT / "reports",
                   help="metrics.json and figures/ are written here (default: %(default)s)")
    p.add_argument(
        "--transactions",
        type=Path,
        default=None,
        help="transactions to score (default: DATA_DIR/new_transactions.csv)",
    )
    p.add_argument("--api-url", default=os.environ.get("ALERT_API_URL", DEFAULT_API_URL),
                   help="alert API base URL (env ALERT_API_URL; default: %(default)s)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("ALERT_API_KEY"),
        help="X-API-Key for the alert API (default: env ALERT_API_KEY)",
    )
    p.add_argument("--no-alerts", action="store_true", help="do not send alerts")
    p.add_argument("--no-figures", action="store_true", help="skip reports/figures/*.png")
    p.add_argument("--follow", action="store_true",
                   help="keep scoring rows appended to the transactions file ('-': stdin) and "
                   "logins.csv; writes DATA_DIR/stream_detections.csv and follow_checkpoint.json")
    p.add_argument("--max-idle", type=float, default=None,
                   help="with --follow: stop after this many seconds without new transactions")
    p.add_argument("--stop-after", type=int, default=None,
                   help="with --follow: stop after reading this many transaction rows")
    return p.parse_args(argv)


def _time_iso(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.follow:
        return _follow_main(args)
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

    # Alerts first: evaluation and figures are for the analyst and must never hold them back.
    status = 0 if args.no_alerts else _deliver(args, targets, detections, bundle)
    metrics = _evaluate_file(detections, args.data_dir / "labels.csv")
    if metrics is not None:
        print(format_metrics(metrics, title=f"Evaluation of {bundle['metadata']['model_version']}"))
    report_path = args.reports_dir / "metrics.json"
    try:
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    except (OSError, ValueError):
        report = {}
    if not isinstance(report, dict):
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
    if not args.no_figures and len(detections):
        _figures(detections, bundle["threshold"], metrics, args.reports_dir / "figures")
    return status


def _evaluate_file(detections: pd.DataFrame, labels_path: Path) -> dict | None:
    """evaluate() against labels.csv when it exists; a broken labels file skips the report."""
    if not labels_path.exists():
        return None
    try:
        labels = pd.read_csv(labels_path, dtype=str)
        if not {"transaction_id", "scenario"} <= set(labels.columns):
            raise ValueError("needs columns transaction_id and scenario")
        return evaluate(detections, labels)
    except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors
        logger.warning("evaluation skipped: %s: %s", labels_path, exc)
        return None


def _deliver(args, targets: pd.DataFrame, detections: pd.DataFrame, bundle: dict) -> int:
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
        "alerts: %d sent (%d new, %d already stored), %d waiting in %s, %d refused",
        result.sent,
        result.created,
        result.existing,
        result.spooled,
        spool,
        result.rejected,
    )
    if result.spooled:
        print(
            f"detect_anomalies.py: error: alert API at {args.api_url} unreachable; "
            f"{result.spooled} alerts wait in {spool} and are sent first on the next run",
            file=sys.stderr,
        )
        return 1
    if result.rejected:
        print(
            f"detect_anomalies.py: error: the alert API refused {result.rejected} alerts as "
            f"invalid; they are kept in {spool.with_name(spool.stem + '.rejected.jsonl')}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
