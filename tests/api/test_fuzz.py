"""The alert API against its own OpenAPI document: schemathesis generates requests from the
document (valid and invalid ones) and checks every answer against it, on a real uvicorn in this
process, without and with the API key (issue 19, finding 10).

A small budget (FUZZ_EXAMPLES per operation and mode) keeps it well under a minute; raise it
locally with ``FUZZ_EXAMPLES=2000`` for a longer search.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.helpers import served
from wallet_monitor.api.app import create_app

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
KEY = "fuzz-key"
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance,
          content_type_conformance, response_headers_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]




def _schema(key: str | None):
    """The app's document, and how to fuzz it: the key given through its security scheme (so
    schemathesis can also leave it out on purpose and expect 401)."""
    config = {
        # A request the document calls invalid may also be refused as too large (413: a batch
        # over MAX_BATCH), besides schemathesis's default list.
        "checks": {"negative_data_rejection": {
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]}},
        **({"auth": {"openapi": {"APIKeyHeader": {"api_key": key}}}} if key else {}),
    }
    # Built, never served: building an app opens no file.
    document = create_app("unused.db", api_key=key).openapi()
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))


SCHEMAS = {"keyless": _schema(None), "keyed": _schema(KEY)}
_FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def keyless(tmp_path_factory) -> Iterator[tuple[str, requests.Session]]:
    yield from _served(tmp_path_factory, None)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[tuple[str, requests.Session]]:
    yield from _served(tmp_path_factory, KEY)


def _served(tmp_path_factory, key: str | None) -> Iterator[tuple[str, requests.Session]]:
    """A served app with a few alerts (ids 1..3, so paths with an id can hit one); a session."""
    headers = {"X-API-Key": key} if key else {}
    db = Path(tmp_path_factory.mktemp("fuzz")) / "alerts.db"
    with served(create_app(db, api_key=key)) as c, requests.Session() as session:
        for i in range(3):
            c.post("/alert", json={"transaction_id": f"T{i}", "wallet_id": "W", "fraud_score": 0.5},
                   headers=headers)
        yield c.base, session


@SCHEMAS["keyless"].parametrize()
@_FUZZ_SETTINGS
def test_keyless_answers_match_the_openapi_document(case, keyless) -> None:
    base, session = keyless
    case.call_and_validate(base_url=base, session=session, checks=CHECKS)


@SCHEMAS["keyed"].parametrize()
@_FUZZ_SETTINGS
def test_keyed_answers_match_the_openapi_document(case, keyed) -> None:
    base, session = keyed
    case.call_and_validate(base_url=base, session=session, checks=CHECKS)
