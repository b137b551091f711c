# homeport in a container: the image the platform's DDNS Deployment runs (`homeport ddns run`,
# the entry point) and the platform backup CronJob runs (`homeport backup`, by command).
#
# It installs the wheel built from the same commit, never the source tree: the release
# workflow (.github/workflows/release.yml) builds dist/ once and both publishes that wheel to
# PyPI and builds this image from it. Locally:
#
#   python -m build --wheel && docker build -t ghcr.io/homeport-dev/homeport:0.1.0 .
#   docker run --rm -e CLOUDFLARE_API_TOKEN=... ghcr.io/homeport-dev/homeport:0.1.0 --zone example.com
#   docker run --rm --entrypoint homeport ghcr.io/homeport-dev/homeport:0.1.0 --help

# Pinned base (Renovate's Dockerfile manager bumps it).
FROM python:3.12.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY dist/ /dist/
# Exactly one wheel: two would mean dist/ holds builds of different commits.
RUN set -eu; \
    set -- /dist/homeport-*-py3-none-any.whl; \
    if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then \
      echo "dist/ must hold exactly one homeport wheel (python -m build --wheel)" >&2; exit 1; \
    fi; \
    python -m venv /opt/homeport; \
    /opt/homeport/bin/pip install --no-compile "$1"; \
    /opt/homeport/bin/pip uninstall --yes pip; \
    find /opt/homeport -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.12.12-slim-bookworm
LABEL org.opencontainers.image.source="https://github.com/homeport-dev/homeport" \
      org.opencontainers.image.description="homeport CLI and the homeport DDNS controller" \
      org.opencontainers.image.licenses="Apache-2.0"
# Non-root by number, so Kubernetes' runAsNonRoot can verify it (65532 = the platform default).
RUN groupadd --system --gid 65532 homeport \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin homeport
COPY --from=build /opt/homeport /opt/homeport
ENV PATH=/opt/homeport/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["homeport", "ddns", "run"]
