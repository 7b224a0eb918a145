# capi-streams image: one image for the worker and the Graph API sandbox.
#   docker build -t capi-streams .
#   docker run --rm capi-streams --help
# The default command runs the worker with config/capi-streams.docker.toml (see
# docker-compose.yml); pass `sandbox --host 0.0.0.0 --port 8080` to run the sandbox instead.
#
# Dependencies are installed from requirements.lock with --require-hashes (the versions CI
# tests), the project itself without dependencies; the runtime stage holds only the virtualenv.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/capi-streams
COPY requirements.lock /tmp/src/
RUN /opt/capi-streams/bin/pip install --require-hashes -r /tmp/src/requirements.lock
COPY pyproject.toml README.md /tmp/src/
COPY streams /tmp/src/streams
RUN /opt/capi-streams/bin/pip install --no-deps /tmp/src

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/capi-streams/bin:$PATH
COPY --from=build /opt/capi-streams /opt/capi-streams
WORKDIR /app
COPY config ./config

# Unprivileged runtime user; the worker writes only under the temp directory.
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin capi
USER 10001:10001

# 9464: worker /metrics, /healthz, /readyz; 8080: sandbox.
EXPOSE 9464 8080

# Live while the worker's event loop answers (it checks within 10 s). The sandbox service in
# docker-compose.yml sets its own check.
HEALTHCHECK --interval=15s --timeout=15s --start-period=60s --retries=4 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CAPI_METRICS__PORT', '9464'), timeout=12)"]

ENTRYPOINT ["capi-streams"]
CMD ["worker", "--config", "/app/config/capi-streams.docker.toml"]
