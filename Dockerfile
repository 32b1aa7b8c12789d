# syntax=docker/dockerfile:1
# aggregator as a long-running service: polls the feeds into /data/aggregator.db, writes the
# weekly drafts into /data/drafts, serves /healthz and /metrics on port 8080.
#
#   docker build -t aggregator .
#   docker run -d --name aggregator -v aggregator-data:/data -p 127.0.0.1:8080:8080 aggregator
#
# See docs/service.md for a mounted configuration, reloads (docker kill -s HUP) and one-shot commands.

# --- build: the project and its dependencies as wheels ------------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY aggregator ./aggregator
RUN pip wheel --wheel-dir /wheels .

# --- run: the wheels installed on a clean slim image, as a non-root user -----------------------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AGGREGATOR_DB=/data/aggregator.db \
    AGGREGATOR_LISTEN=0.0.0.0:8080
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels aggregator \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin aggregator \
    && mkdir -p /data/drafts \
    && chown -R aggregator:aggregator /data
# The archive, its lock file and the drafts (general.drafts_dir = "drafts") live in /data.
WORKDIR /data
VOLUME /data
USER aggregator
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["aggregator", "healthcheck"]
STOPSIGNAL SIGTERM
CMD ["aggregator", "run"]
