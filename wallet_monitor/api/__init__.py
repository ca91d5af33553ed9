"""The alert API: receives flagged transactions, stores them, serves the dashboard.

One job per module; the API imports no pipeline code:

    config        defaults of the command line and the limits every request obeys
    schemas       the JSON models, severities, statuses and the allowed status changes
    store         the AlertStore seam the routes talk to, its errors and shared helpers
    tables        the schema: one SQLAlchemy MetaData (alerts, alert_history)
    database      --db values (file path or URL) and engines tuned for SQLite or PostgreSQL
    migrate       Alembic: migrations/ brings a database to the schema this code needs
    sql_store     SqlAlertStore: the only SQL (SQLAlchemy Core, SQLite or PostgreSQL)
    metrics       Prometheus counters and latency at /metrics, summed over workers
    parsing       request bodies and query values the routes cannot leave to FastAPI
    deps          the Annotated dependencies: the app's store, the API key check, the bodies
    routes        the endpoints
    app           create_app: lifespan, store errors as 503, routers, static files
"""
