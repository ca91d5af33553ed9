"""The admin dashboard in a real headless Chromium against a real uvicorn running alert_api.py.

Run as a module it saves a screenshot with realistic alerts instead (`make screenshot`):
`.venv/bin/python -m tests.api.test_dashboard --out docs/dashboard.png`.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.api.helpers import served
from tests.api.receivers import WebhookReceiver, wait_for
from tests.conftest import AlertApiServer  # the same server the tests start
from wallet_monitor.api.app import create_app
from wallet_monitor.api.config import HISTORY_INLINE
from wallet_monitor.api.sender import NotifySettings
from wallet_monitor.cli import report
from wallet_monitor.paths import ROOT

logger = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a downloaded one; no network chatter besides loopback.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# The page polls every 2 s; allow a few cycles on a busy 2-core machine.
APPEAR_MS = 8000
POLL_MS = 2000  # static/app.js
INJECTION = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.browser


# ---- helpers shared by the tests and the screenshot script ---------------------------------------

def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _headers(key: str | None) -> dict[str, str]:
    return {"X-API-Key": key} if key else {}


def _post(url: str, key: str | None = None, **fields) -> dict:
    resp = requests.post(f"{url}/alert", json=fields, headers=_headers(key), timeout=5)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _patch(url: str, alert_id: int, status: str, note: str | None = None) -> dict:
    resp = requests.patch(f"{url}/alerts/{alert_id}", json={"status": status, "note": note}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _row(page: Page, text: str):
    return page.locator("#alerts-body tr", has_text=text)


# ---- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} missing (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = _launch(p)
        yield b
        b.close()


# The servers are tests/conftest.py's `alert_api_server` and `keyed_alert_api_server`.
@pytest.fixture(scope="module")
def api(alert_api_server) -> str:
    return alert_api_server.url


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#live")).to_have_attribute("data-state", "ok", timeout=APPEAR_MS)


# ---- live table ------------------------------------------------------------------------------------

def test_posted_alert_appears_without_reload(api, page):
    _open(page, api)
    page.evaluate("window.__sameDocument = true")
    tx = _uid("tx")
    _post(api, transaction_id=tx, wallet_id=_uid("w"), fraud_score=0.991, amount=9850.0,
          type="redeem", reasons="redeem_sum_24h=9,850 (typical 120)")
    row = _row(page, tx)
    expect(row).to_be_visible(timeout=APPEAR_MS)
    expect(row.locator("td.num").nth(1)).to_have_text("9,850.00")
    assert page.evaluate("window.__sameDocument") is True


def test_page_requests_only_its_own_server(api, page):
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.95)
    _open(page, api)
    page.locator("#alerts-body tr").first.click()
    expect(page.locator("#d-history li").first).to_be_visible()
    assert urls and all(u.startswith(f"{api}/") for u in urls), urls


def test_rows_are_newest_first_and_coloured_by_severity(api, page):
    wallet = _uid("w")
    older = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.2)
    newer = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.999)
    _open(page, f"{api}/#wallet_id={wallet}")
    rows = page.locator("#alerts-body tr")
    expect(rows).to_have_count(2, timeout=APPEAR_MS)
    expect(rows.nth(0)).to_contain_text(newer["transaction_id"])
    expect(rows.nth(0)).to_have_class("row sev-critical")
    expect(rows.nth(1)).to_contain_text(older["transaction_id"])
    expect(rows.nth(1)).to_have_class("row sev-low")


# Column (1-based) each filter constrains, and the check every remaining row must pass.
FILTER_CASES = {
    "status": ("#f-status", "acknowledged", 9, lambda text, _: text == "Acknowledged"),
    "severity": ("#f-severity", "critical", 1, lambda text, _: text == "Critical"),
    "min_score": ("#f-min-score", "0.99", 4, lambda text, _: float(text) >= 0.99),
    "wallet": ("#f-wallet", None, 2, lambda text, wallet: text == wallet),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_narrows_table(api, page, case):
    selector, value, column, row_ok = FILTER_CASES[case]
    wallet = _uid("w")
    match = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.999)
    _patch(api, match["id"], "acknowledged")
    other = _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.5)
    _open(page, api)
    expect(_row(page, other["transaction_id"])).to_be_visible(timeout=APPEAR_MS)

    value = wallet if value is None else value
    if selector.startswith("#f-s"):
        page.select_option(selector, value)
    else:
        page.fill(selector, value)

    expect(_row(page, other["transaction_id"])).to_have_count(0, timeout=APPEAR_MS)
    expect(_row(page, match["transaction_id"])).to_be_visible()
    cells = page.locator(f"#alerts-body tr td:nth-child({column})").all_inner_texts()
    assert cells and all(row_ok(text.strip(), wallet) for text in cells), cells


def test_counters_and_charts_show_the_stats(api, page):
    _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.999)
    _open(page, api)
    stats = requests.get(f"{api}/stats", timeout=5).json()
    counts = page.locator("#status-counters dd")
    expect(counts.first).to_have_text(f"{stats['total']:,}", timeout=APPEAR_MS)
    statuses = ["open", "acknowledged", "resolved", "false_positive"]
    assert counts.all_inner_texts() == [f"{stats['total']:,}"] + [
        f"{stats['by_status'][s]:,}" for s in statuses
    ]
    severities = ["critical", "high", "medium", "low"]
    assert page.locator("#severity-counters dd").all_inner_texts() == [
        f"{stats['by_severity'][s]:,}" for s in severities
    ]
    expect(page.locator("#chart-hourly rect.bar")).to_have_count(24)
    bars = page.locator("#chart-scores g title")
    expect(bars).to_have_count(20)
    assert bars.last.text_content().endswith(f": {stats['score_histogram'][-1]['count']}")


# A fetch that answers after SLOW_API_MS and records when each GET /alerts list request ran.
SLOW_API_MS = 1500
_SLOW_FETCH = f"const SLOW_API_MS = {SLOW_API_MS};" + """
(() => {
  const realFetch = window.fetch.bind(window);
  let open = 0;
  window.__polls = [];
  window.__maxOpen = 0;
  window.fetch = async (input, init) => {
    const poll = String(input).startsWith("/alerts?") ? { start: performance.now(), end: null } : null;
    if (poll) {
      window.__polls.push(poll);
      open += 1;
      window.__maxOpen = Math.max(window.__maxOpen, open);
    }
    try {
      await new Promise((resolve) => setTimeout(resolve, SLOW_API_MS));
      return await realFetch(input, init);
    } finally {
      if (poll) {
        open -= 1;
        poll.end = performance.now();
      }
    }
  };
})();
"""


def test_slow_api_gets_one_poll_at_a_time(api, page):
    page.add_init_script(_SLOW_FETCH)
    page.goto(api)
    # (the page's CSP forbids wait_for_function's eval; evaluate() is not bound by it)
    deadline = time.monotonic() + 4 * (SLOW_API_MS + POLL_MS) / 1000 + 4
    while len(polls := page.evaluate("window.__polls")) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(polls) >= 3, polls
    assert page.evaluate("window.__maxOpen") == 1
    # The next poll waits POLL_MS after the previous one finished (timers never fire early).
    gaps = [b["start"] - a["end"] for a, b in zip(polls, polls[1:], strict=False)]
    assert all(gap >= POLL_MS - 5 for gap in gaps[:2]), gaps


def test_every_form_control_has_a_label(api, page):
    _open(page, api)
    unlabelled = page.evaluate(
        """[...document.querySelectorAll("input, select, textarea")]
             .filter((e) => e.labels.length === 0 && !e.getAttribute("aria-label")).map((e) => e.id)"""
    )
    assert unlabelled == []


def test_keyboard_opens_detail_and_returns_to_the_row(api, page):
    wallet = _uid("w")
    alert = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.97)
    _open(page, f"{api}/#wallet_id={wallet}")
    row = _row(page, alert["transaction_id"])
    expect(row).to_be_visible(timeout=APPEAR_MS)
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#d-id")).to_have_text(f"#{alert['id']}")
    expect(page.locator("#d-close")).to_be_focused()  # the triage buttons are a Tab away
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()
    expect(row).to_be_focused()


# ---- detail and triage -----------------------------------------------------------------------------

def test_acknowledge_in_ui_changes_stored_status(api, page):
    alert = _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.985)
    _open(page, api)
    row = _row(page, alert["transaction_id"])
    row.click()
    expect(page.locator("#d-id")).to_have_text(f"#{alert['id']}")
    page.fill("#d-note", "called the customer, card is theirs")
    page.click("#d-actions button[data-status=acknowledged]")

    expect(page.locator("#d-status")).to_have_text("Acknowledged")
    expect(row.locator("td").nth(8)).to_have_text("Acknowledged")
    stored = requests.get(f"{api}/alerts/{alert['id']}", timeout=5).json()
    assert stored["status"] == "acknowledged"
    assert stored["note"] == "called the customer, card is theirs"
    expect(page.locator("#d-history li")).to_have_count(len(stored["history"]))


def test_detail_lists_other_alerts_of_the_wallet(api, page):
    wallet = _uid("w")
    first = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.93)
    second = _post(api, transaction_id=_uid("tx"), wallet_id=wallet, fraud_score=0.97)
    _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.97)
    _open(page, api)
    _row(page, second["transaction_id"]).click()
    others = page.locator("#d-wallet-alerts tr")
    expect(others).to_have_count(1, timeout=APPEAR_MS)
    expect(others.first).to_contain_text(first["transaction_id"])


def test_script_injection_is_shown_as_text(api, page, dialogs):
    tx = _uid("tx")
    reasons = f"{INJECTION}; amount=9,850 (typical 120)"
    alert = _post(api, transaction_id=tx, wallet_id=INJECTION, fraud_score=0.999, type=INJECTION,
                  reasons=reasons, model_version=INJECTION)
    _patch(api, alert["id"], "acknowledged", note=INJECTION)
    _open(page, api)
    row = _row(page, tx)
    expect(row.locator("td").nth(1)).to_have_text(INJECTION, timeout=APPEAR_MS)
    expect(row.locator("td").nth(7)).to_have_text(reasons)
    row.click()
    expect(page.locator("#d-title")).to_have_text(INJECTION)
    expect(page.locator("#d-reasons li").first).to_have_text(INJECTION)
    expect(page.locator("#d-history .history-note").first).to_have_text(INJECTION)
    # Let another poll re-render everything before looking for injected markup.
    page.wait_for_timeout(2500)
    assert page.locator("img").count() == 0
    assert dialogs == []


BIDI_WALLET = "invoice\u202efdp.exe"


def test_bidi_and_control_characters_are_shown_escaped(api, page):
    tx = _uid("tx") + "\u200f"
    _post(api, transaction_id=tx, wallet_id=BIDI_WALLET, fraud_score=0.999,
          reasons="sum\u0007=9; see\u2066x\u2069")
    _open(page, api)
    row = _row(page, tx[:-1])
    expect(row.locator("td").nth(1)).to_have_text("invoice\\u202Efdp.exe", timeout=APPEAR_MS)
    expect(row.locator("td").nth(2)).to_have_text(tx[:-1] + "\\u200F")
    expect(row.locator("td").nth(7)).to_have_text("sum\\u0007=9; see\\u2066x\\u2069")
    row.click()
    expect(page.locator("#d-title")).to_have_text("invoice\\u202Efdp.exe")
    shown = page.locator("body").inner_text()
    assert not any(c in shown for c in "\u202e\u200f\u2066\u2069\u0007")


def test_the_dashboard_cannot_be_framed_by_another_site(api, browser, tmp_path):
    framer = tmp_path / "framer.html"
    framer.write_text(f'<iframe id="f" src="{api}/"></iframe>')
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(framer.as_uri())
        pg.wait_for_timeout(1000)
        frame = pg.frame_locator("#f")
        expect(frame.locator("#alerts-table")).to_have_count(0)
    finally:
        context.close()


def test_a_cross_site_page_cannot_store_an_alert(api, browser, tmp_path):
    # The page the review wrote: a text/plain POST needs no CORS preflight.
    tx = _uid("forged")
    attacker = tmp_path / "attack.html"
    body = f'{{"transaction_id": "{tx}", "wallet_id": "W", "fraud_score": 0.01}}'
    attacker.write_text(
        f"<script>fetch('{api}/alert', {{method: 'POST', mode: 'no-cors',"
        f" headers: {{'Content-Type': 'text/plain'}}, body: '{body}'}})"
        ".then(() => document.title = 'sent', () => document.title = 'failed');</script>"
    )
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(attacker.as_uri())
        expect(pg).to_have_title(re.compile("sent|failed"), timeout=APPEAR_MS)
    finally:
        context.close()
    listed = requests.get(f"{api}/alerts", params={"wallet_id": "W", "limit": 500}, timeout=5).json()
    assert tx not in [a["transaction_id"] for a in listed["items"]]


def test_long_history_shows_the_latest_and_loads_the_rest(api, page):
    alert = _post(api, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.95)
    for i in range(HISTORY_INLINE + 4):
        resp = requests.patch(f"{api}/alerts/{alert['id']}", json={"note": f"note {i}"}, timeout=5)
        assert resp.status_code == 200
    _open(page, f"{api}/#wallet_id={alert['wallet_id']}")
    _row(page, alert["transaction_id"]).click()
    notes = page.locator("#d-history .history-note")
    expect(notes).to_have_count(HISTORY_INLINE, timeout=APPEAR_MS)
    expect(notes.first).to_have_text(f"note {HISTORY_INLINE + 3}")
    page.click("#d-history-more")
    expect(notes).to_have_count(HISTORY_INLINE + 4, timeout=APPEAR_MS)
    expect(notes.last).to_have_text("note 0")
    expect(page.locator("#d-history-more")).to_be_hidden()


# ---- the API's docs (issue 19, finding 9) ----------------------------------------------------------

def _docs_render(page: Page, url: str) -> list[str]:
    """Open /docs; the URLs it requested (the operations must render)."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text
            else None)
    page.goto(f"{url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/alerts/{alert_id}/history")).to_be_visible(
        timeout=APPEAR_MS)
    assert violations == []
    return urls


def test_docs_render_from_this_server_only(api, page):
    urls = _docs_render(page, api)
    assert urls and all(u.startswith(f"{api}/") for u in urls), urls


def test_docs_render_with_the_key_in_keyed_mode(keyed_alert_api_server, page):
    keyed = keyed_alert_api_server
    page.context.set_extra_http_headers({"X-API-Key": keyed.api_key})
    urls = _docs_render(page, keyed.url)
    assert all(u.startswith(f"{keyed.url}/") for u in urls), urls


# ---- API key ---------------------------------------------------------------------------------------

def test_without_key_nothing_loads(keyed_alert_api_server, page):
    keyed = keyed_alert_api_server
    _post(keyed.url, key=keyed.api_key, transaction_id=_uid("tx"), wallet_id=_uid("w"), fraud_score=0.99)
    page.goto(keyed.url)
    expect(page.locator("#key-overlay")).to_be_visible(timeout=APPEAR_MS)
    expect(page.locator("#live")).to_have_attribute("data-state", "locked")
    expect(page.locator("#alerts-body tr")).to_have_count(0)
    expect(page.locator("#status-counters dd")).to_have_count(0)


def test_wrong_key_is_rejected(keyed_alert_api_server, page):
    page.goto(keyed_alert_api_server.url)
    page.fill("#key-input", "not-the-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-error")).to_contain_text("rejected")
    expect(page.locator("#key-overlay")).to_be_visible()
    expect(page.locator("#alerts-body tr")).to_have_count(0)


def test_key_prompt_unlocks_alerts(keyed_alert_api_server, page):
    keyed = keyed_alert_api_server
    tx = _uid("tx")
    _post(keyed.url, key=keyed.api_key, transaction_id=tx, wallet_id=_uid("w"), fraud_score=0.99)
    requests_seen: list[dict] = []
    page.on("request", lambda r: requests_seen.append(r.headers))
    page.goto(keyed.url)
    page.fill("#key-input", keyed.api_key)
    page.press("#key-input", "Enter")  # the form submits from the keyboard
    expect(_row(page, tx)).to_be_visible(timeout=APPEAR_MS)
    expect(page.locator("#key-overlay")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('alertApiKey')") == keyed.api_key
    assert any(h.get("x-api-key") == keyed.api_key for h in requests_seen)


# ---- screenshot for the README ---------------------------------------------------------------------

_DEMO_REASONS = {
    "rapid_transfers": [
        "transfer_count_1h={n} (typical 1); distinct_counterparties_1h={m} (typical 1)",
        "inflow_forwarded_10m={p}% (typical 0%); transfer_sum_1h={a} (typical 140)",
    ],
    "redemption_burst": [
        "redeem_count_24h={n} (typical 1); redeem_sum_24h={a} (typical 210)",
        "amount={a} (typical 120); amount_vs_wallet_p95={r}x",
    ],
    "account_takeover": [
        "failed_logins_1h={n} (typical 0); new_country=1; new_device=1",
        "travel_speed_kmh={s} (typical 0); new_ip=1; amount={a} (typical 95)",
    ],
    "suspicious_deposit": [
        "deposit_count_24h={n} (typical 1); deposits_just_under_10k={m}",
        "kyc_verified=0; wallet_age_days=2; deposit_to_outflow_min=4 (typical 2,900)",
    ],
    "normal": ["tx_count_1h={n} (typical 1); amount={a} (typical 120)"],
}
_DEMO_TYPES = {
    "rapid_transfers": "transfer", "redemption_burst": "redeem", "account_takeover": "transfer",
    "suspicious_deposit": "deposit", "normal": "deposit",
}


def _demo_alerts(n: int = 30, seed: int = 7) -> list[dict]:
    """Varied, realistic-looking alerts: mostly high scores, a few borderline ones."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    wallets = [f"w_{rng.randrange(10_000, 99_999)}" for _ in range(18)]
    alerts = []
    minutes_ago = 0
    for _ in range(n):
        minutes_ago += rng.randint(5, 45)
        scenario = rng.choice(list(_DEMO_REASONS))
        amount = round(rng.lognormvariate(7.5, 1.4), 2)
        reasons = rng.choice(_DEMO_REASONS[scenario]).format(
            n=rng.randint(6, 24), m=rng.randint(4, 12), p=rng.randint(80, 100),
            a=f"{amount:,.0f}", r=rng.randint(8, 60), s=rng.randint(900, 9000),
        )
        score = min(1.0, rng.choice([0.9, 0.95, 0.98, 0.99, 0.995]) + rng.random() * 0.01)
        alerts.append({
            "transaction_id": f"tx_{rng.getrandbits(48):012x}",
            "wallet_id": rng.choice(wallets),
            "fraud_score": round(score, 4),
            "timestamp": (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "amount": amount,
            "type": _DEMO_TYPES[scenario],
            "reasons": reasons,
            "model_version": "iforest-2026.01",
        })
    return alerts[::-1]  # oldest first, the order a detector sends them


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Save a screenshot of the dashboard.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--url", help="a running alert API (e.g. after `make run`) to take as it is; "
                        "without it, a fresh API with demo alerts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not CHROMIUM.exists():
        return report(Path(__file__).name, f"{CHROMIUM} missing")
    if args.url:
        _snap(args.url.rstrip("/"), args.out, n_rows=None)
        logger.info("saved %s", args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        server = AlertApiServer(Path(tmp) / "alerts.db", Path(tmp) / "alert_api.log")
        try:
            _screenshot(server.url, args.out)
        finally:
            server.stop()
    logger.info("saved %s", args.out)
    return 0


def _screenshot(url: str, out: Path) -> None:
    """Post demo alerts, triage a few, and save the page as it shows them."""
    rng = random.Random(11)
    created = [_post(url, **a) for a in _demo_alerts()]
    for alert in rng.sample(created[:-8], 9):
        _patch(url, alert["id"], rng.choice(["acknowledged", "resolved", "false_positive"]),
               "reviewed by analyst")
    _snap(url, out, n_rows=len(created))


def _snap(url: str, out: Path, n_rows: int | None) -> None:
    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport=VIEWPORT)
        _open(page, url)
        rows = page.locator("#alerts-body tr")
        if n_rows is None:
            expect(rows.first).to_be_visible()
        else:
            expect(rows).to_have_count(n_rows)
        page.wait_for_timeout(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


if __name__ == "__main__":
    sys.exit(main())


# ---- notifications -------------------------------------------------------------------------------

def test_notifications_list_subscriptions_and_retry_a_failed_delivery(tmp_path, page, free_port):
    # A receiver that is down, and one retry 0.2 s later: the delivery fails at once.
    settings = NotifySettings(retry_delays_s=(0.2,), jitter=0.1, timeout_s=1.0, poll_s=0.05)
    receiver = WebhookReceiver(port=free_port, start=False)
    with served(create_app(tmp_path / "alerts.db", notify=settings)) as c:
        receiver.secret = c.post("/webhooks", json={"url": receiver.url,
                                                    "events": ["alert.created"]}).json()["secret"]
        created = c.post("/alert", json={"transaction_id": "TN", "wallet_id": "W", "fraud_score": 0.9}).json()
        _open(page, c.base)
        page.click("#notifications summary")
        expect(page.locator("#n-subs tr")).to_have_count(1)
        expect(page.locator("#n-subs tr td").nth(1)).to_have_text(receiver.url)
        failed = page.locator("#n-failed tr")
        expect(failed).to_have_count(1, timeout=APPEAR_MS)
        expect(failed.locator("td").nth(1)).to_have_text(f"#{created['id']}")
        expect(page.locator("#n-summary")).to_contain_text("1 failed delivery")
        receiver.start()
        try:
            failed.locator("button[data-retry]").click()
            expect(failed).to_have_count(0, timeout=APPEAR_MS)
            wait_for(lambda: c.get("/deliveries").json()["items"][0]["status"] == "delivered")
        finally:
            receiver.stop()
    assert [verified for _, _, verified, _ in receiver.received] == [True]
