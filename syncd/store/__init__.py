"""Storage: SQLAlchemy models, engine set-up, and the queries the stages use."""
