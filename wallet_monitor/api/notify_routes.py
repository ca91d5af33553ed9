"""The notification endpoints: webhook subscriptions and their deliveries (behind the API key).

    POST   /webhooks                  subscribe: ``{"url", "events", "min_severity"}``; the
                                      answer carries the signing ``secret``, this once only
    GET    /webhooks                  the subscriptions, with pending and failed counts
    DELETE /webhooks/{id}             unsubscribe (its pending deliveries are failed)
    POST   /webhooks/{id}/resume      reactivate a paused subscription
    GET    /deliveries?status=failed  deliveries, newest first
    POST   /deliveries/{id}/retry     send a failed delivery again, from its first attempt

A URL must be http(s) with a host, events are among ``outbox.EVENTS``: anything else is a 422.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from wallet_monitor.api.config import MAX_PAGE
from wallet_monitor.api.outbox import Outbox
from wallet_monitor.api.routes import answers
from wallet_monitor.api.schemas import Severity
from wallet_monitor.api.signing import new_secret

Event = Literal["alert.created", "alert.status_changed"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
SubscriptionId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
DeliveryId = Annotated[str, PathParam(pattern=r"^msg_[0-9a-f]{32}$")]


class WebhookIn(BaseModel):
    """A subscription as a client asks for it."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[HttpUrl, Field(max_length=2000, description="http:// or https:// receiver")]
    events: Annotated[list[Event], Field(min_length=1, max_length=2)]
    min_severity: Severity = "low"


class WebhookOut(BaseModel):
    id: int
    kind: str
    url: str
    events: list[str]
    min_severity: Severity
    active: bool = Field(description="False once paused (see paused_reason) until resumed")
    paused_reason: str | None
    failing_since: str | None = Field(description="First failed attempt since the last success")
    created_at: str
    pending: int
    failed: int


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_<base64>: the HMAC key of the signatures; shown once")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: the receiver's idempotency key")
    subscription_id: int
    event: str
    alert_id: int
    severity: Severity
    status: DeliveryStatus
    attempts: int
    next_at: str
    created_at: str
    last_attempt_at: str | None
    last_error: str | None
    delivered_at: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


def _outbox(request: Request) -> Outbox:
    outbox = getattr(request.app.state.store, "outbox", None)
    if outbox is None:  # an AlertStore plugged in through open_store may have none
        raise HTTPException(404, "This alert store sends no notifications")
    return outbox


router = APIRouter(responses=answers(421, 503))
_NOT_FOUND = answers(404, 422)


@router.post("/webhooks", status_code=201, response_model=WebhookCreated,
             responses=answers(400, 403, 422))
def create_webhook(request: Request, body: WebhookIn) -> WebhookCreated:
    secret = new_secret()
    sub = _outbox(request).subscribe(str(body.url), list(dict.fromkeys(body.events)),
                                     body.min_severity, secret)
    return WebhookCreated(**sub, secret=secret)


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(request: Request) -> WebhookList:
    return WebhookList(items=_outbox(request).subscriptions())


@router.delete("/webhooks/{sub_id}", status_code=204, responses=answers(403, 404, 422))
def delete_webhook(request: Request, sub_id: SubscriptionId) -> None:
    if not _outbox(request).unsubscribe(sub_id):
        raise HTTPException(404, "Subscription not found")


@router.post("/webhooks/{sub_id}/resume", response_model=WebhookOut,
             responses=answers(403, 404, 422))
def resume_webhook(request: Request, sub_id: SubscriptionId) -> WebhookOut:
    sub = _outbox(request).resume(sub_id)
    if sub is None:
        raise HTTPException(404, "Subscription not found")
    return WebhookOut(**sub)


@router.get("/deliveries", response_model=DeliveryList, responses=answers(422))
def list_deliveries(
    request: Request,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> DeliveryList:
    return DeliveryList(items=_outbox(request).deliveries(status=status, limit=limit))


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut,
             responses=answers(403, 404, 422, own={
                 409: {"model": answers(404)[404]["model"], "description": "Not failed"}}))
def retry_delivery(request: Request, delivery_id: DeliveryId) -> DeliveryOut:
    try:
        delivery = _outbox(request).retry(delivery_id)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    if delivery is None:
        raise HTTPException(404, "Delivery not found")
    return DeliveryOut(**delivery)
