# syntax=docker/dockerfile:1
# Multi-stage build: wheels are built in a throw-away stage; the runtime image holds only the installed
# packages and runs as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY emulator ./emulator
# The emulator extra is included so `docker compose` can run the local AWS stand-in from the same image.
RUN python -m pip wheel --wheel-dir /wheels '.[emulator]'

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 broker \
 && useradd --system --uid 10001 --gid broker --home-dir /app --shell /usr/sbin/nologin broker
COPY --from=build /wheels /wheels
RUN python -m pip install --no-index --find-links /wheels 'tip-broker[emulator]' && rm -rf /wheels
WORKDIR /app
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["tip-broker"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
