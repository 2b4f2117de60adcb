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
# The listener's /healthz (syncd/httpd.py); no curl in a slim image, so the stdlib asks. `syncd health`
# (stages still running) and /readyz say more, for an orchestrator's readiness probe.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SYNCD_HTTP_PORT', '8080'), timeout=4).read()"]
CMD ["syncd", "run"]
