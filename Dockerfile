# syntax=docker/dockerfile:1
# FerroGate container image. Build: `make image` (or `docker build -t ferrogate .`).
# Run:   docker run -p 8080:8080 ferrogate        (the offline mock model; see deploy/docker/)
# Stage 1 compiles the hot path (mypyc, a C compiler); the runtime stage has no compiler.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The compiler only builds the hot path and is not shipped: the base image's release pins it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every dependency from the hash-locked lock files: the build tools (mypy for mypyc) in one
# environment, the runtime dependencies alone in the one the image ships.
COPY requirements/lock.txt requirements/runtime-lock.txt requirements/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements/lock.txt \
    && python -m venv /opt/ferrogate \
    && /opt/ferrogate/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements/runtime-lock.txt \
    && /opt/ferrogate/bin/pip check
COPY pyproject.toml README.md ./
COPY ferrogate ferrogate
COPY scripts/build_compiled.py scripts/compiled_modules.txt scripts/
RUN /opt/build/bin/python scripts/build_compiled.py \
    && cp -r ferrogate /opt/ferrogate/lib/python3.11/site-packages/ferrogate

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 ferrogate \
    && useradd --system --uid 10001 --gid ferrogate --home-dir /var/lib/ferrogate --shell /usr/sbin/nologin ferrogate \
    && mkdir -p /var/lib/ferrogate /etc/ferrogate \
    && chown ferrogate:ferrogate /var/lib/ferrogate \
    && chmod 0700 /var/lib/ferrogate
COPY --from=build /opt/ferrogate /opt/ferrogate
COPY deploy/docker/ferrogate /usr/local/bin/ferrogate
COPY deploy/docker/ferrogate.toml /etc/ferrogate/ferrogate.toml
ENV FERROGATE_CONFIG=/etc/ferrogate/ferrogate.toml \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/ferrogate
USER 10001:10001
# State (the store, the pid file, ACME storage) lives here and nowhere else.
VOLUME ["/var/lib/ferrogate"]
# 8080: the gateway. 2019: the admin API, when the config listens on a reachable address.
EXPOSE 8080 2019
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/opt/ferrogate/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["/usr/local/bin/ferrogate"]
CMD ["run"]
