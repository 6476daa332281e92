# One image for every service: `kubefed watcher|scheduler|propagator|dns` (and `kubefed sim`).
#   docker build -t kubefed:<version> .             (or: podman build ...; <version> = pyproject.toml's)
#   docker run --rm kubefed:<version> --help
# BASE is any image with Python >= 3.11 (`python3`, its venv module, CA certificates) and
# groupadd/useradd: python:3.11-slim by default; tests/container builds it on a Debian bookworm
# base made with debootstrap (docs/deploy.md). Built in two stages so the runtime image carries no
# build tools; the Deployments run it as UID/GID 65532 with a read-only root filesystem and /tmp on
# an emptyDir.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/kubefed
WORKDIR /src
# The dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN /opt/kubefed/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/kubefed/bin/pip install -r /tmp/requirements.txt
COPY shared ./shared
COPY services ./services
COPY sim ./sim
COPY kubefedctl ./kubefedctl
COPY kubefed ./kubefed
# pip and setuptools are not needed at run time (about 25 MB); byte-compiled because the root
# filesystem is read-only at run time.
RUN /opt/kubefed/bin/pip install --no-deps . \
 && /opt/kubefed/bin/pip uninstall --yes --quiet pip setuptools \
 && /opt/kubefed/bin/python -m compileall -q /opt/kubefed/lib

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kubefed" \
      org.opencontainers.image.description="KubeFed-compatible federation control plane over NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH="/opt/kubefed/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 kubefed \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kubefed
COPY --from=build /opt/kubefed /opt/kubefed
# Numeric so that Kubernetes can verify runAsNonRoot without resolving the name.
USER 65532:65532
# /healthz, /readyz and /metrics (--http-port / KUBEFED_HTTP_PORT)
EXPOSE 8081
ENTRYPOINT ["kubefed"]
CMD ["--help"]
