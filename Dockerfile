# kefu-bot: `kefu serve` as a non-root user, the models trained into the image.
# Build from the repository root:  docker build -t kefu-bot .
# Run with Redis beside it:        docker compose -f deploy/compose.yaml up -d
# Every dependency installs from a wheel or pure-Python source: no compiler in the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 kefu \
    && useradd --system --uid 10001 --gid kefu --home-dir /var/lib/kefu --create-home \
       --shell /usr/sbin/nologin kefu

COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY adapters /src/adapters
COPY alerts /src/alerts
COPY config /src/config
RUN pip install /src && rm -rf /src

# Models, the pretrained vectors' .vec file and (without redis_url) the embedded Redis's data live
# in data_dir. A config file can be mounted at /etc/kefu/kefu.yaml; settings also come from
# KEFU_* variables (KEFU_REDIS_URL, KEFU_CHANNELS__...).
ENV KEFU_DATA_DIR=/var/lib/kefu/data \
    KEFU_CONFIG=/etc/kefu/kefu.yaml
RUN mkdir -p /etc/kefu && touch /etc/kefu/kefu.yaml

USER kefu
WORKDIR /var/lib/kefu

# Trained at build (about a minute: `kefu train` searches the intent model's settings, docs/training.md):
# a new named volume on data_dir starts with these files, so the first start serves at once. A different knowledge base (or an empty bind mount) is trained by
# `kefu serve` itself at start, before it listens: the healthcheck's start period allows for it.
RUN mkdir -p "$KEFU_DATA_DIR" && kefu train && kefu train --task risk
VOLUME ["/var/lib/kefu/data"]

EXPOSE 8080
# /healthz: 200 while the process answers HTTP (liveness). Readiness (Redis, model) is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KEFU_SERVER__PORT', '8080'), timeout=4)"]

# SIGTERM (docker stop): kefu stops taking callbacks, its workers finish the messages in hand and
# hand their partitions over, then it exits; give it the stop timeout the compose file sets.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kefu"]
CMD ["serve"]
