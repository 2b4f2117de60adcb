# syncd: slim Python, non-root, SQLite/supplier folders in the /data volume, configuration in /config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCD_DATA_DIR=/data \
    SYNCD_CONFIG_DIR=/config \
    SYNCD_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY adapters ./adapters
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data /config \
 && chown syncd:syncd /data

USER syncd
VOLUME ["/data"]
# Exit 0 while the stages keep running (tested in tests/core/test_cli.py).
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 CMD ["syncd", "health"]
CMD ["syncd", "run"]
