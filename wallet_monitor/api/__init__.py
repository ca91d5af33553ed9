"""The alert API: receives flagged transactions, stores them, serves the dashboard.

One job per module; the API imports no pipeline code:

    config        defaults of the command line and the limits every request obeys
    schemas       the JSON models, severities, statuses and the allowed status changes
    store         the AlertStore seam the routes talk to, its errors and shared helpers
    sqlite_store  SqliteAlertStore: the only SQL (WAL file, connection pool, checkpointer)
    parsing       request bodies and query values the routes cannot leave to FastAPI
    deps          the Annotated dependencies: the app's store, the API key check, the bodies
    routes        the endpoints
    app           create_app: lifespan, store errors as 503, routers, static files
"""
