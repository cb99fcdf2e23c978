# fraudstream images, one per role (docker-compose.yml builds both):
#   consumer  the scoring service: numpy, confluent-kafka, prometheus-client, orjson, msgspec,
#             the package's other base dependencies and LightGBM (the `stage` extra, for
#             bundles with the supervised stage); no TensorFlow (scoring runs the exported
#             weights with numpy)
#   trainer   `fraudstream-train` with TensorFlow (the `train` extra), for fitting bundles
#   docker build --target consumer -t fraudstream-consumer .
#   docker build --target trainer -t fraudstream-trainer .
# Every dependency installs from a binary wheel, so no stage needs a compiler. The final stages
# hold a virtual environment copied from a build stage: no pip cache, no sources, no build tools.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/fraudstream/bin:$PATH

FROM base AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/fraudstream
WORKDIR /src
COPY pyproject.toml README.md ./
COPY training ./training
COPY consumer ./consumer

# The project itself is what is installed; its dependency ranges live in pyproject.toml.
FROM build AS build-consumer
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --only-binary=:all: --no-compile ".[stage]"

FROM build AS build-trainer
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --only-binary=:all: --no-compile ".[train]"

FROM base AS runtime
# LightGBM's wheel links the GNU OpenMP runtime, which the slim image lacks. Debian's stable
# security updates are wanted here, so the package is not pinned to one version.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
# A numeric user (Kubernetes' runAsNonRoot can check it) that owns only its work directories.
RUN groupadd --system --gid 10001 fraudstream \
 && useradd --system --uid 10001 --gid 10001 --home-dir /work --no-create-home fraudstream \
 && mkdir -p /work /models /data \
 && chown 10001:10001 /work /models /data
WORKDIR /work

FROM runtime AS trainer
COPY --from=build-trainer /opt/fraudstream /opt/fraudstream
ENV MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
CMD ["fraudstream-train", "--help"]

FROM runtime AS consumer
COPY --from=build-consumer /opt/fraudstream /opt/fraudstream
USER 10001:10001
EXPOSE 9400
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9400/readyz', timeout=2)"]
CMD ["fraudstream-consumer", "--help"]
