"""Alert API: receives flagged transactions, stores them (SQLite or PostgreSQL), serves the dashboard.

The API itself is the package ``wallet_monitor.api`` (``create_app``; the storage and its
durability are described in ``wallet_monitor/api/sql_store.py`` and ``database.py``); this
script only parses the command line, brings the database to the current schema (once, before
any worker starts) and runs uvicorn: one process, or ``--workers N`` on PostgreSQL.

Run: ``python alert_api.py [--host 127.0.0.1] [--port 8000] [--db PATH|sqlite:///PATH|
postgresql://USER@HOST:PORT/DBNAME] [--workers N] [--log-file PATH] [--allowed-host NAME ...]
[--timeout-headers S] [--timeout-body S] [--limit-concurrency N] [--smtp-url smtp://[USER:PASS@]
HOST:PORT --email-to ADDR[,ADDR] [--email-min-severity high] [--digest-minutes 15]]``.
The threat model and the limits are in docs/SECURITY.md; several hosts in docs/DEPLOY.md;
webhooks and email in docs/NOTIFICATIONS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from wallet_monitor.api.app import WorkerApp, create_app
from wallet_monitor.api.config import (
    API_KEY_ENV,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_DB,
    DEFAULT_HEADERS_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_LIMIT_CONCURRENCY,
    DEFAULT_PORT,
)
from wallet_monitor.api.database import DatabaseUrlError, database_url
from wallet_monitor.api.mailer import DEFAULT_FROM, EmailSettings, parse_addresses, parse_smtp_url
from wallet_monitor.api.schemas import SEVERITIES
from wallet_monitor.api.sender import NotifySettings
from wallet_monitor.api.server import ServerLimits, serve, serve_workers
from wallet_monitor.api.sql_store import SqlAlertStore
from wallet_monitor.api.store import StoreError
from wallet_monitor.cli import CliParser, UserError, report, setup_logging

PROG = "alert_api.py"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")

logger = logging.getLogger(__name__)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = CliParser(description="Serve the alert API and dashboard.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument("--db", default=str(DEFAULT_DB),
                        help="SQLite file, sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME "
                             "(default %(default)s)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes on the one port (PostgreSQL only; default 1)")
    parser.add_argument("--log-file", type=Path, help="also append the log to this file")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: each stored alert is logged anyway)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="also answer requests for this host name (repeatable; the bind "
                             "address and the loopback names always are; '*' for any)")
    parser.add_argument("--timeout-keep-alive", type=float, default=DEFAULT_KEEP_ALIVE_S,
                        metavar="S", help="close a connection idle this long after an answer "
                                          "(default %(default)s)")
    parser.add_argument("--timeout-headers", type=float, default=DEFAULT_HEADERS_TIMEOUT_S,
                        metavar="S", help="a request's headers must arrive within this long of "
                                          "the connection opening (default %(default)s)")
    parser.add_argument("--timeout-body", type=float, default=DEFAULT_BODY_TIMEOUT_S, metavar="S",
                        help="and its body within this long of its headers (default %(default)s)")
    parser.add_argument("--limit-concurrency", type=int, default=DEFAULT_LIMIT_CONCURRENCY,
                        metavar="N", help="answer 503 while this many connections are open "
                                          "(default %(default)s)")
    _email_args(parser)
    args = parser.parse_args(argv)
    _check_email(parser, args)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    for flag in ("timeout_keep_alive", "timeout_headers", "timeout_body", "limit_concurrency"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    return args


def _email_args(parser: argparse.ArgumentParser) -> None:
    email = parser.add_argument_group("email notifications (docs/NOTIFICATIONS.md)")
    email.add_argument("--smtp-url", metavar="URL",
                       help="smtp://[USER:PASS@]HOST:PORT (STARTTLS when offered) or smtps://...")
    email.add_argument("--email-to", metavar="ADDR[,ADDR]", help="who gets the alert emails")
    email.add_argument("--email-min-severity", choices=SEVERITIES, default="high",
                       help="alerts at least this severe are emailed (default %(default)s)")
    email.add_argument("--digest-minutes", type=float, default=15.0, metavar="M",
                       help="critical alerts go at once, the others in a digest every M minutes "
                            "(default %(default)g)")
    email.add_argument("--email-from", default=DEFAULT_FROM, metavar="ADDR",
                       help="the From address (default %(default)s)")


def _check_email(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``args.notify``: the NotifySettings the email flags give (one-line errors otherwise)."""
    args.notify = NotifySettings()
    if args.smtp_url is None and args.email_to is None:
        return
    if args.smtp_url is None or args.email_to is None:
        parser.error("--smtp-url and --email-to go together")
    if not args.digest_minutes > 0:
        parser.error(f"--digest-minutes must be positive, got {args.digest_minutes}")
    try:
        parse_smtp_url(args.smtp_url)
        to = parse_addresses(args.email_to)
    except ValueError as exc:
        parser.error(str(exc))
    args.notify = NotifySettings(email=EmailSettings(
        args.smtp_url, to, args.email_min_severity, args.digest_minutes, args.email_from))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        setup_logging(args.log_file)
    except UserError as exc:
        return report(PROG, exc)
    try:
        url = database_url(args.db)
        # Migrate here, once, before any worker starts; and fail with one line rather than
        # with a traceback in the server's lifespan.
        store = SqlAlertStore(args.db, checkpoint_seconds=None)
        try:  # the email subscription too, once (workers do not)
            email = args.notify.email
            store.outbox.configure_email(email and email.to, email.min_severity if email else "high")
        finally:
            store.close()
    except (DatabaseUrlError, OSError, StoreError) as exc:
        return report(PROG, f"cannot open database {args.db}: {exc}")
    workers = args.workers
    if workers > 1 and url.get_backend_name() == "sqlite":
        logger.warning("--workers %d needs PostgreSQL: SQLite takes one writer at a time, so "
                       "more processes would only queue for its lock; running one", workers)
        workers = 1
    if args.host not in LOOPBACK_HOSTS and not os.environ.get(API_KEY_ENV):
        logger.warning("listening on %s without ALERT_API_KEY: anyone who can reach it can "
                       "read and change alerts", args.host)
    if args.host in WILDCARD_HOSTS and not args.allowed_host:
        logger.warning("listening on every address, but only requests for the loopback names "
                       "are answered: give the names clients use with --allowed-host")
    logger.info("dashboard at http://%s:%d/", args.host, args.port)
    limits = ServerLimits(keep_alive=args.timeout_keep_alive, headers=args.timeout_headers,
                          body=args.timeout_body, concurrency=args.limit_concurrency)
    allowed = (args.host, *args.allowed_host)
    options = {"log_config": None,  # setup_logging's format covers uvicorn's records too
               "access_log": args.access_log}
    if workers > 1:
        serve_workers(WorkerApp(args.db, allowed, args.log_file, args.notify), workers, args.host,
                      args.port, limits, **options)
    else:
        serve(create_app(args.db, allowed_hosts=allowed, notify=args.notify, configure_email=False),
              args.host, args.port, limits, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
