# The one kfp-ct image: pipeline components, the MLflow tracking server, the KServe serving
# runtime and the chart's post-install job all run in it.
#
#   make image            # docker build -t ghcr.io/kfp-ct/kfp-ct:<version from pyproject.toml> .
#
# Everything is installed at build time with the pinned versions from constraints.txt; nothing is
# downloaded when a container starts (PIP_NO_INDEX makes an accidental `pip install` fail fast).
ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/kfp-ct
ENV PATH=/opt/kfp-ct/bin:$PATH
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# boto3: the MLflow server's S3 artifact store; psycopg2-binary: its PostgreSQL backend store.
# Both are pinned in constraints.txt like every other dependency.
RUN pip install -c constraints.txt . boto3 psycopg2-binary \
    && pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.source="https://github.com/kfp-ct/kfp-ct" \
      org.opencontainers.image.title="kfp-ct" \
      org.opencontainers.image.description="kfp-ct components, MLflow server and KServe runtime" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 1000 kfpct \
    && useradd --system --uid 1000 --gid 1000 \
       --home-dir /home/kfpct --create-home --shell /usr/sbin/nologin kfpct
COPY --from=build /opt/kfp-ct /opt/kfp-ct
ENV PATH=/opt/kfp-ct/bin:$PATH \
    HOME=/home/kfpct \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /home/kfpct
# Numeric user so that Kubernetes `runAsNonRoot: true` can verify it without a passwd lookup.
USER 1000:1000
EXPOSE 5000 8080
# KFP, KServe and the manifests always set their own command; this default only prints help.
CMD ["kfp-ct", "--help"]
