# syntax=docker/dockerfile:1
# Two images from one file (docs/operations.md#deploying):
#   docker build -t tip-broker .                              the broker (default target: runtime)
#   docker build --target emulator -t tip-broker-emulator .   the local AWS emulator (tip-emulator, moto inside)
# Wheels are built in throw-away stages; the images hold only installed packages and run as uid 10001.
# The broker's wheel is built from a context holding service/ alone and installed without extras, so its
# image contains neither the emulator package nor moto (tests/deploy/test_dockerfile.py checks both).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 broker \
 && useradd --system --uid 10001 --gid broker --home-dir /app --shell /usr/sbin/nologin broker
WORKDIR /app

FROM base AS broker-wheels
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY service ./service
RUN python -m pip wheel --wheel-dir /wheels .

# The emulator is its own distribution, built from emulator/ alone (emulator/LICENSE links to ../LICENSE).
FROM base AS emulator-wheels
WORKDIR /src
COPY LICENSE ./
COPY emulator ./emulator
RUN python -m pip wheel --wheel-dir /wheels ./emulator

# The local stand-in for AWS (docker compose): never deployed next to real AWS.
FROM base AS emulator
COPY --from=emulator-wheels /wheels /wheels
# Only the wheels the build stage resolved (--no-index): pinning here would repeat what it chose.
# hadolint ignore=DL3013
RUN python -m pip install --no-index --find-links /wheels tip-emulator \
 && rm -rf /wheels
USER 10001:10001
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/_emulator/health', timeout=2)"]
ENTRYPOINT ["tip-emulator"]
CMD ["--host", "0.0.0.0", "--port", "9000"]

# The broker: last, so a plain `docker build` builds it.
FROM base AS runtime
COPY --from=broker-wheels /wheels /wheels
# hadolint ignore=DL3013
RUN python -m pip install --no-index --find-links /wheels tip-broker \
 && rm -rf /wheels
USER 10001:10001
EXPOSE 8080
# /healthz is liveness: it stays 200 while the replica drains; orchestrators probe /readyz for traffic.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# Exec form: the broker is PID 1 and receives SIGTERM itself (docs/operations.md#shutdown-and-probes).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tip-broker"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
