# One image for every service: `kubefed watcher|scheduler|propagator|dns` (and `kubefed sim`).
#   docker build -t kubefed:0.1.0 .
#   docker run --rm kubefed:0.1.0 --help
# Built in two stages so the runtime image carries no build tools; the Deployments in
# deploy/kustomize run it as UID/GID 65532 with a read-only root filesystem and /tmp on an emptyDir.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/kubefed
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY sim ./sim
COPY kubefedctl ./kubefedctl
COPY kubefed ./kubefed
RUN /opt/kubefed/bin/pip install . \
 && /opt/kubefed/bin/python -m compileall -q /opt/kubefed/lib

FROM python:3.11-slim
LABEL org.opencontainers.image.title="kubefed" \
      org.opencontainers.image.description="KubeFed-compatible federation control plane over NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
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
