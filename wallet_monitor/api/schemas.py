"""The alert API's JSON models, severities, statuses and the status changes allowed.

``fraud_score`` is stored as sent (the prototype client posts raw, possibly negative model
scores); higher is more suspicious. Severity comes from the score clipped to [0, 1].
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SEVERITY_THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("critical", 0.995),
    ("high", 0.98),
    ("medium", 0.9),
)
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved", "false_positive")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "resolved", "false_positive"}),
    "acknowledged": frozenset({"resolved", "false_positive"}),
    "resolved": frozenset(),
    "false_positive": frozenset(),
}

Status = Literal["open", "acknowledged", "resolved", "false_positive"]
Severity = Literal["low", "medium", "high", "critical"]


def severity_of(score: float) -> str:
    """Severity of a fraud score (clipped to [0, 1] first)."""
    s = min(max(score, 0.0), 1.0)
    for name, threshold in SEVERITY_THRESHOLDS:
        if s >= threshold:
            return name
    return "low"


def utc_iso(dt: datetime) -> str:
    """``dt`` (aware, UTC) as every stored timestamp is written: milliseconds and ``Z``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_now_iso() -> str:
    return utc_iso(datetime.now(UTC))


# No U+0000 in any text: PostgreSQL's text cannot hold it, and no id, reason or note needs it
# (a 422 on either database; the dashboard shows every other control character escaped).
NO_NUL = r"^[^\x00]*$"


class AlertIn(BaseModel):
    """One alert as a client posts it; unknown fields are ignored."""

    # strict: "0.5" or true is not a score; NaN/Infinity (which the JSON parser would accept as
    # literals) and 1e999 are rejected as non-finite instead of being stored.
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")

    transaction_id: Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
    wallet_id: Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
    fraud_score: float
    timestamp: Annotated[str | None, Field(max_length=64, pattern=NO_NUL)] = None
    amount: Annotated[float | None, Field(ge=0)] = None
    type: Annotated[str | None, Field(max_length=32, pattern=NO_NUL)] = None
    reasons: Annotated[str | None, Field(max_length=2000, pattern=NO_NUL)] = None
    model_version: Annotated[str | None, Field(max_length=64, pattern=NO_NUL)] = None


class HistoryEntry(BaseModel):
    status: Status
    note: str | None
    at: str


class AlertOut(BaseModel):
    """A stored alert, as every endpoint returns it."""

    id: int
    transaction_id: str
    wallet_id: str
    fraud_score: float
    severity: Severity
    timestamp: str | None
    amount: float | None
    type: str | None
    reasons: str | None
    model_version: str | None
    status: Status
    note: str | None
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = Field(description="The latest triage entries, oldest first")
    history_total: int = Field(description="Entries in the whole history (GET .../history)")


class AlertUpdate(BaseModel):
    """PATCH body: a new status, a note, or both."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    note: Annotated[str | None, Field(max_length=2000, pattern=NO_NUL)] = None


class BatchResult(BaseModel):
    created: list[str] = Field(description="transaction_ids stored by this batch, each once")
    existing: list[str] = Field(description="transaction_ids stored before it, each once")
    count: int = Field(description="Alerts in the batch, repeats included")


class HistoryPage(BaseModel):
    items: list[HistoryEntry] = Field(description="Newest first")
    next_cursor: str | None


class ErrorBody(BaseModel):
    detail: str


class ConflictBody(BaseModel):
    detail: str
    conflicts: list[str] = Field(description="transaction_ids stored (or earlier in the batch) "
                                             "with other content; nothing was stored")


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationBody(BaseModel):
    detail: list[ValidationItem]


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class HourCount(BaseModel):
    hour: str
    count: int


class HistogramBin(BaseModel):
    start: float
    end: float
    count: int


class Stats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    per_hour: list[HourCount]
    score_histogram: list[HistogramBin]


class Health(BaseModel):
    status: str
    database: str
