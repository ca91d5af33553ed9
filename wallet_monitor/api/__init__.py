"""The alert API: receives flagged transactions, stores them, serves the dashboard.

One job per module; the API imports no pipeline code:

    config        defaults of the command line and the limits every request obeys
    schemas       the JSON models, severities, statuses and the allowed status changes
    store         the AlertStore seam the routes talk to, its errors and shared helpers
    tables        the schema: one SQLAlchemy MetaData (alerts, alert_history; subscriptions,
                  deliveries: the notification outbox)
    database      --db values (file path or URL) and engines tuned for SQLite or PostgreSQL
    migrate       Alembic: migrations/ brings a database to the schema this code needs
    sql_store     SqlAlertStore: the only SQL (SQLAlchemy Core, SQLite or PostgreSQL)
    metrics       Prometheus counters and latency at /metrics, summed over workers
    parsing       request bodies and query values the routes cannot leave to FastAPI
    deps          the Annotated dependencies: the app's store, the API key check, the bodies
    routes        the endpoints
    app           create_app: lifespan, store errors as 503, routers, static files
    outbox        notifications in the database: subscriptions, deliveries, their retries
    signing       Standard Webhooks: the secrets and the signature headers
    mailer        email: the --smtp-url server and the messages
    sender        the background task delivering the outbox (one per database)
    notify_routes /webhooks and /deliveries
"""
