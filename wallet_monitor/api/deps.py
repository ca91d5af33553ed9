"""The routes' dependencies, as ``Annotated`` aliases: the app's store, the key check, the bodies.

The store and the expected key live on ``request.app.state`` (set by create_app), so the same
routes serve any app and any ``AlertStore``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from wallet_monitor.api.parsing import alert_body, update_body
from wallet_monitor.api.schemas import AlertIn, AlertUpdate
from wallet_monitor.api.store import AlertStore


# async: a plain `def` dependency would cost every request a hop to the thread pool.
async def get_store(request: Request) -> AlertStore:
    return request.app.state.store


# A security scheme, not a header parameter: /docs offers it once ("Authorize"), and a schema
# fuzzer sends the key it is given instead of generating header values.
_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="The server's ALERT_API_KEY (keyed mode only)")


async def require_api_key(
    request: Request, x_api_key: Annotated[str | None, Security(_KEY_HEADER)] = None
) -> None:
    """401 unless the X-API-Key header is the app's key (compared in constant time).

    create_app adds it only when a key is set: the security scheme then shows in /docs.
    """
    expected: bytes | None = request.app.state.api_key
    if expected is None:
        return
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected):
        raise HTTPException(401, "Missing or invalid X-API-Key header")


StoreDep = Annotated[AlertStore, Depends(get_store)]
ApiKey = Depends(require_api_key)  # for `dependencies=[...]`: it yields no value
AlertPayload = Annotated[AlertIn | list[AlertIn], Depends(alert_body)]
UpdatePayload = Annotated[AlertUpdate, Depends(update_body)]
