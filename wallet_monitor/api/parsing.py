"""Request input the routes cannot leave to FastAPI: raw bodies and two query values.

POST /alert takes one alert object or a JSON array of them on the same path, and every body has
a size limit, so bodies are read and validated here, not by FastAPI's body parameters.
Every failure is an ``HTTPException`` with the status the API documents; a 422's ``detail`` is
always a list of ``{"loc", "msg", "type"}``, as FastAPI's own 422s are.

A body must be declared ``application/json``: a web page on another site can send a
``text/plain`` or form body without a CORS preflight, never a JSON one (docs/SECURITY.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Request
from pydantic import Field, TypeAdapter, ValidationError

from wallet_monitor.api.config import MAX_BATCH, MAX_BODY_BYTES
from wallet_monitor.api.schemas import AlertIn, AlertUpdate, utc_iso

# ASCII digits only: str.isdigit() also accepts "²" or "١", which int() then refuses or misreads.
CURSOR_PATTERN = r"^[0-9]{1,18}$"  # as published in the OpenAPI document
_CURSOR = re.compile(r"[0-9]{1,18}")  # fullmatch: "$" would also match before a final newline
_DIGITS = re.compile(r"[0-9]+")
_ONE = TypeAdapter(AlertIn)
_MANY = TypeAdapter(Annotated[list[AlertIn], Field(min_length=1, max_length=MAX_BATCH)])
_ARRAY_START = re.compile(rb"\s*\[")


def _errors(exc: ValidationError) -> list[dict]:
    # Never echo `input` back: it may be huge, or a NaN that JSON cannot even encode.
    return [
        {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


def unprocessable(loc: list, msg: str) -> HTTPException:
    """A 422 shaped as FastAPI's own: ``detail`` a list of one error."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"}])


def _require_json(request: Request) -> None:
    declared = request.headers.get("content-type", "")
    if declared == "application/json":  # what every client of ours sends
        return
    media, _, params = declared.partition(";")
    charset = params.strip().lower().removeprefix("charset=").strip('"')
    if media.strip().lower() != "application/json" or charset not in ("", "utf-8"):
        raise HTTPException(415, "Content-Type must be application/json (UTF-8)")


async def read_body(request: Request) -> bytes:
    """The whole JSON body: 415 unless declared JSON, 413 once known to be over MAX_BODY_BYTES."""
    _require_json(request)
    declared = request.headers.get("content-length")
    if declared is not None and _DIGITS.fullmatch(declared) and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"Request body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"Request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def alert_body(request: Request) -> AlertIn | list[AlertIn]:
    """Parse and validate POST /alert: one AlertIn object or a JSON array of them."""
    body = await read_body(request)
    is_batch = _ARRAY_START.match(body) is not None
    try:
        return _MANY.validate_json(body) if is_batch else _ONE.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise HTTPException(400, f"Malformed JSON: {errors[0]['msg']}") from None
        if is_batch and errors[0]["type"] == "too_long" and errors[0]["loc"] == ():
            raise HTTPException(
                413, f"Batch of {errors[0]['ctx']['actual_length']} alerts, MAX_BATCH is {MAX_BATCH}"
            ) from None
        raise HTTPException(422, _errors(exc)) from None


async def update_body(request: Request) -> AlertUpdate:
    """Parse and validate PATCH /alerts/{id}: a status, a note or both."""
    body = await read_body(request)
    try:
        update = AlertUpdate.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            raise HTTPException(400, "Malformed JSON") from None
        raise HTTPException(422, _errors(exc)) from None
    if update.status is None and "note" not in update.model_fields_set:
        raise unprocessable(["body"], "Give a status, a note or both")
    return update


def parse_since(since: str | None) -> str | None:
    """``since`` (ISO 8601, any offset, naive means UTC) as stored timestamps are written."""
    if since is None:
        return None
    try:
        dt = datetime.fromisoformat(since)
    except ValueError:
        raise unprocessable(["query", "since"], f"since must be an ISO 8601 timestamp, got {since!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return utc_iso(dt.astimezone(UTC))
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before year 1 in UTC
        raise unprocessable(["query", "since"], f"since out of range: {since!r}") from None


def parse_cursor(cursor: str | None) -> int | None:
    """The ``next_cursor`` a previous page returned, as the id to continue below."""
    if cursor is None:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise unprocessable(["query", "cursor"], f"Invalid cursor {cursor!r}")
    return int(cursor)
