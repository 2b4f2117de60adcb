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
# Two ports (syncd/httpd.py): 8080 admin (/healthz, /readyz, /metrics), 8081 callbacks (Kuaidi100 and webhook
# suppliers' pushes). Inside the container both bind every interface so that Docker can publish them;
# docker-compose.yml publishes the admin port on the host's 127.0.0.1 only.
ENV SYNCD_ADMIN_HOST=0.0.0.0 \
    SYNCD_CALLBACK_HOST=0.0.0.0
EXPOSE 8080 8081
# The admin port's /healthz; no curl in a slim image, so the stdlib asks. `syncd health` (stages still
# running) and /readyz say more, for an orchestrator's readiness probe. SYNCD_HTTP_PORT is the old name.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('SYNCD_ADMIN_PORT') or os.environ.get('SYNCD_HTTP_PORT') or '8080'), timeout=4).read()"]
CMD ["syncd", "run"]
