# syntax=docker/dockerfile:1
# One image for the code server, the webserver and the daemon (docker-compose.yml picks the
# command). Targets: `prod` (default, last stage) and `dev` (adds the test tools and the tests).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
# A fixed non-root uid/gid so files on the named volumes keep one owner across rebuilds.
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --create-home --shell /usr/sbin/nologin dagster
WORKDIR /opt/dagster/app
# Dependencies first: this layer is rebuilt only when the lock changes, not on every code edit.
COPY requirements.lock ./
RUN pip install -r requirements.lock
# Dagster's config lives in DAGSTER_HOME. The data directories are created here, owned by the
# runtime user, because Docker seeds an empty named volume with the ownership of its mount point.
COPY dagster.yaml workspace.yaml /opt/dagster/dagster_home/
RUN mkdir -p /opt/dagster/dagster_home/storage/compute_logs \
             /opt/dagster/dagster_home/model_registry \
             /opt/dagster/dagster_home/retrain_storage \
             /data/landing \
 && chown -R dagster:dagster /opt/dagster/dagster_home/storage \
             /opt/dagster/dagster_home/model_registry \
             /opt/dagster/dagster_home/retrain_storage \
             /data/landing

FROM base AS dev
# Editable install with the dev extras, constrained to the lock so test tools match CI.
COPY pyproject.toml ./
COPY retrain_assets ./retrain_assets
COPY retrain_assets_tests ./retrain_assets_tests
RUN pip install -c requirements.lock -e ".[dev]" \
 && chown -R dagster:dagster /opt/dagster/app
USER dagster
CMD ["pytest", "-q", "-m", "not e2e"]

FROM base AS prod
COPY pyproject.toml ./
COPY retrain_assets ./retrain_assets
# --no-deps: everything was pinned by the lock above; never let pip re-resolve at build time.
RUN pip install --no-deps . \
 && rm -rf /opt/dagster/app/build
USER dagster
EXPOSE 3000 4000
# docker-compose.yml overrides this per service; alone, the image serves the code location.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "retrain_assets.definitions", "--location-name", "retrain_assets"]
