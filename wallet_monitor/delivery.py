"""Alert delivery to the alert API, with nothing lost.

Every flagged transaction is POSTed to `/alert` in batches over one `requests.Session` that
retries connection errors and 5xx with backoff (safe: `/alert` is idempotent by
`transaction_id`). Alerts the API does not take are kept in a spool file
(`undelivered_alerts.jsonl`) and sent first next time; the spool is rewritten only after a
2xx, so an alert is never lost between runs. Alerts the API refuses as invalid (400, 413, 422)
are set aside in `undelivered_alerts.rejected.jsonl`, so one bad alert never blocks the rest;
401/403 stop delivery with a DeliveryError. A 409 means the API already holds an alert for that
transaction with other content (an episode link raised a row alerted before): the first alert
stands, so it counts as delivered and is logged; the rest of its batch is sent again without it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from wallet_monitor.cli import UserError
from wallet_monitor.io import append_durable, write_jsonl

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "http://127.0.0.1:8000"
SPOOL_NAME = "undelivered_alerts.jsonl"
ALERT_BATCH_SIZE = 500
HTTP_RETRIES = 3
HTTP_BACKOFF = 0.5
HTTP_TIMEOUT = (3.05, 30.0)  # connect, read (seconds)
# Answers that refuse the alerts themselves (bad body, too large): retrying cannot help, and
# holding them in the spool would block every later alert; 401/403 stop delivery instead.
REJECTED_STATUSES = (400, 413, 422)
MAX_REASONS_CHARS = 2000  # the API's limit on `reasons`
# While the API is down, a follower's new alerts go straight to the spool this long.
RETRY_AFTER_S = 5.0
ALERT_FIELDS = ["transaction_id", "wallet_id", "fraud_score", "timestamp", "amount", "type",
                "reasons", "model_version"]


class DeliveryError(UserError):
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
    conflicts: int = 0  # alerts already stored with other content (409): delivered, logged


def alert_records(detections: pd.DataFrame, model_version: str | None) -> list[dict]:
    """Alert bodies for /alert from flagged detections (with `amount` and `type` columns)."""
    flagged = detections["is_anomaly"].to_numpy(dtype=bool)
    # The times as the column's own array (to_numpy() of zoned times is Timestamp objects).
    return alert_bodies({c: (detections[c].array if c == "timestamp" else
                             detections[c].to_numpy())[flagged]
                         for c in ALERT_FIELDS[:-1] if c in detections}, model_version)


def alert_bodies(columns: dict, model_version: str | None) -> list[dict]:
    """Alert bodies for /alert from the flagged rows' columns (one array each: ALERT_FIELDS
    but model_version; amount and type may be absent), what `alert_records` gives for a frame
    of them. Python strings and float64 arrays are taken as they are; anything else goes
    through pandas' conversion, as a frame's column would."""
    n = len(columns["transaction_id"])
    if not n:
        return []
    # Column by column into plain Python values (what a frame's to_dict("records") gives),
    # without a frame for the few rows a follower's batch alerts.
    values = {
        "transaction_id": _texts(columns["transaction_id"]),
        "wallet_id": _texts(columns["wallet_id"]),
        "fraud_score": _floats(columns["fraud_score"]),
        "timestamp": list(utc_text(columns["timestamp"])),
        "amount": _floats(columns["amount"]) if "amount" in columns else [None] * n,
        "type": _texts(columns["type"]) if "type" in columns else [None] * n,
        "reasons": [r[:MAX_REASONS_CHARS] for r in _texts(columns["reasons"], "")],
        "model_version": [model_version] * n,
    }
    return [dict(zip(ALERT_FIELDS, row, strict=True))
            for row in zip(*(values[f] for f in ALERT_FIELDS), strict=True)]


def _texts(values, missing=None) -> list:
    """`Series(values).fillna(missing).astype(str).tolist()` (no fillna when `missing` is
    None); Python strings as they are."""
    out = values.tolist()
    if all(type(v) is str for v in out):
        return out
    s = pd.Series(values, dtype=object)
    return (s if missing is None else s.fillna(missing)).astype(str).tolist()


def _floats(values) -> list:
    """`Series(values).astype(float).tolist()`; a float64 array's values as they are."""
    if getattr(values, "dtype", None) == np.float64:
        return values.tolist()
    return pd.Series(values).astype(float).tolist()


def utc_text(values):
    """`pd.to_datetime(values, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")`'s text as an array
    (NaN where missing); times already datetime64 by numpy's formatting, without pandas' cost
    per call."""
    if values.dtype.kind != "M":
        return pd.to_datetime(pd.Series(values), utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)
    seconds = pd.DatetimeIndex(values).as_unit("ns").asi8.view("M8[ns]").astype("M8[s]")
    text = np.char.add(np.datetime_as_string(seconds, unit="s"), "Z").astype(object)
    text[np.isnat(seconds)] = np.nan
    return text


def make_session(api_key: str | None, retries: int = HTTP_RETRIES,
                 backoff: float = HTTP_BACKOFF) -> requests.Session:
    """A session that retries connection errors and 5xx, with the API key set."""
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


def read_spool(path: Path) -> list[dict]:
    """The alerts waiting in the spool; a line that is not an alert is kept aside in .bad."""
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
                append_durable(bad_path, [line])
    return records


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
    if isinstance(alerts, pd.DataFrame):
        alerts = alerts.to_dict(orient="records")
    spool_path = Path(spool_path)
    pending, seen = [], set()
    for rec in [*read_spool(spool_path), *alerts]:
        if rec["transaction_id"] not in seen:
            seen.add(rec["transaction_id"])
            pending.append(rec)
    own = session is None
    poster = _Poster(session or make_session(api_key, retries, backoff), api_url, timeout,
                     spool_path.with_name(spool_path.stem + ".rejected.jsonl"))
    upto = start = 0  # pending[:upto] is delivered or set aside
    problem = None
    try:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            problem = poster.deliver(batch)
            if problem:
                break
            upto = start + len(batch)
    except _Refused as exc:
        write_jsonl(spool_path, pending[start:])
        raise DeliveryError(f"{exc}; {len(pending) - start} alerts wait in {spool_path}") from None
    finally:
        if own:
            poster.session.close()
    undelivered = pending[upto:]
    write_jsonl(spool_path, undelivered)
    if problem:
        logger.warning("%s; %d alerts wait in %s", problem, len(undelivered), spool_path)
    return DeliveryResult(sent=poster.sent, created=poster.created, existing=poster.existing,
                          spooled=len(undelivered), rejected=poster.rejected,
                          conflicts=poster.conflicts)


class _Poster:
    """Posts batches and counts what the API answered."""

    def __init__(self, session, api_url: str, timeout, rejected_path: Path):
        self.session, self.api_url, self.timeout = session, api_url, timeout
        self.url = api_url.rstrip("/") + "/alert"
        self.rejected_path = rejected_path
        self.sent = self.created = self.existing = self.rejected = self.conflicts = 0

    def post(self, batch: list[dict]):
        """(True, body) when stored, (False, why) when refused as invalid, else (None, why).

        A 409 (some alerts already stored with other content) is settled here: those count as
        delivered, and the rest of the batch is posted again without them.
        """
        while True:
            try:
                resp = self.session.post(self.url, json=batch, timeout=self.timeout)
            except requests.RequestException as exc:
                return None, f"alert API unreachable at {self.api_url} ({type(exc).__name__})"
            if resp.status_code != 409:
                break
            batch = self._settle_conflicts(batch, _json_object(resp))
            if not batch:
                return True, {}
        if resp.ok:
            return True, _json_object(resp)  # any 2xx means stored; counts are a courtesy
        why = f"alert API at {self.api_url} answered {resp.status_code}: {resp.text[:200]}"
        if resp.status_code in REJECTED_STATUSES:
            return False, why
        if 400 <= resp.status_code < 500:
            raise _Refused(why)
        return None, why

    def _settle_conflicts(self, batch: list[dict], answer: dict) -> list[dict]:
        """What is left of ``batch`` once the alerts a 409 names are counted as delivered."""
        named = answer.get("conflicts")
        if not isinstance(named, list) or not named:
            named = [r["transaction_id"] for r in batch]  # not said which: all of them
        settled = {str(t) for t in named} & {r["transaction_id"] for r in batch}
        if not settled:  # names none of these: settle them all rather than post them for ever
            settled = {r["transaction_id"] for r in batch}
        for rec in batch:
            if rec["transaction_id"] in settled:
                logger.info("alert API already holds another alert for transaction %r; the "
                            "first one stands (this one: score %s)", rec["transaction_id"],
                            rec.get("fraud_score"))
        self.conflicts += len(settled)
        return [r for r in batch if r["transaction_id"] not in settled]

    def deliver(self, batch: list[dict]) -> str | None:
        """Deliver one batch (or set its invalid alerts aside); the problem if it could not."""
        ok, body = self.post(batch)
        if ok is None:
            return body
        if ok:
            self._stored(len(batch), body)
            return None
        bad = batch
        if len(batch) > 1:
            # The API refuses something in the batch: find which alerts, one at a time, so
            # one bad alert neither holds back the others nor blocks the spool for ever.
            parts = [(rec, *self.post([rec])) for rec in batch]
            if any(o is None for _, o, _ in parts):
                return next(b for _, o, b in parts if o is None)
            for _, _, answer in (p for p in parts if p[1]):
                self._stored(1, answer)
            bad = [rec for rec, o, _ in parts if not o]
        if bad:
            append_durable(self.rejected_path, [json.dumps(r) for r in bad])
            self.rejected += len(bad)
            logger.error("alert API refused %d alerts as invalid; set aside in %s",
                         len(bad), self.rejected_path)
        return None

    def _stored(self, n: int, answer: dict) -> None:
        self.sent += n
        self.created += len(answer.get("created", []))
        self.existing += len(answer.get("existing", []))


def _json_object(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class SpoolingSender:
    """send_alerts over one session for a long-running follower; while the API is down, new
    alerts go straight to the spool for RETRY_AFTER_S instead of waiting on timeouts."""

    def __init__(self, api_url: str, api_key: str | None, spool_path: Path):
        self.api_url, self.spool = api_url, spool_path
        self.session = make_session(api_key, 1, 0.2)  # short retries: a stall delays every later row
        self.retry_at = 0.0
        self.sent = 0

    def __call__(self, records: list[dict]) -> int:
        """Deliver or spool `records` (and the spool); returns how many wait in the spool."""
        if not records and not self.spool.exists():
            return 0
        if time.monotonic() < self.retry_at:
            waiting = {r["transaction_id"]: r for r in read_spool(self.spool)}
            waiting.update({r["transaction_id"]: r for r in records
                            if r["transaction_id"] not in waiting})
            write_jsonl(self.spool, list(waiting.values()))
            return len(waiting)
        result = send_alerts(records, self.api_url, self.spool, session=self.session)
        self.sent += result.sent
        if result.spooled:
            self.retry_at = time.monotonic() + RETRY_AFTER_S
        return result.spooled

    def close(self) -> None:
        self.session.close()
