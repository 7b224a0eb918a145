# capi-streams image: one image for the worker and the Graph API sandbox.
#   docker build -t capi-streams .
#   docker run --rm capi-streams --help
# The default command runs the worker with config/capi-streams.docker.toml (see
# docker-compose.yml); pass `sandbox --host 0.0.0.0 --port 8080` to run the sandbox instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Build and install the package from a copy of the repository; the copy is removed after.
COPY pyproject.toml README.md /tmp/src/
COPY streams /tmp/src/streams
RUN pip install /tmp/src && rm -rf /tmp/src

COPY config ./config

# Unprivileged runtime user; the worker writes only under the temp directory.
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin capi
USER 10001

# 9464: worker /metrics; 8080: sandbox.
EXPOSE 9464 8080

ENTRYPOINT ["capi-streams"]
CMD ["worker", "--config", "/app/config/capi-streams.docker.toml"]
