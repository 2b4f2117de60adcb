# syncd: slim Python, non-root, SQLite/supplier folders in the /data volume, configuration in /config.
# The base image is pinned by digest: python:3.11-slim as a public Docker build log resolved it (this
# repository's build machine cannot reach Docker Hub to check it). It MUST be refreshed before a release,
# and for every Python security update:
#   docker pull python:3.11-slim && docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim
FROM python:3.11-slim@sha256:9358444059ed78e2975ada2c189f1c1a3144a5dab6f35bff8c981afb38946634

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNCD_DATA_DIR=/data \
    SYNCD_CONFIG_DIR=/config \
    SYNCD_LOG_FORMAT=json

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data /config \
 && chown syncd:syncd /data

WORKDIR /app
# Dependencies in their own layer, before the source: the exact versions and hashes of requirements.lock
# (`make lock`), setuptools for the build below included. A change to the source rebuilds only what follows.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY adapters ./adapters
COPY migrations ./migrations
# The commented templates only: the sandbox setup (config/sandbox) is for `syncd demo` on a workstation,
# never in a production image. The operator's own files are mounted at /config.
COPY config/templates ./config/templates
# Nothing more is fetched: no dependency resolution, the build backend is the one the lock installed.
RUN pip install --no-cache-dir --no-deps --no-build-isolation --no-index .

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
