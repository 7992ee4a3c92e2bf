# Continuity: one image for the web process, the CPU worker and beat. Build the GPU worker's image
# with the diffusion backends:  docker build --build-arg EXTRAS='[gpu,s3]' -t continuity-gpu .
# (compose.yaml does both; see README "Deploy with Docker Compose").
FROM python:3.11.11-slim-bookworm

ARG EXTRAS="[s3]"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONTINUITY_FFMPEG=system \
    CONTINUITY_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    CONTINUITY_MODELS_DIR=/data/models

# Debian's ffmpeg (CONTINUITY_FFMPEG=system): the one the media tests also run against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 continuity \
    && useradd --system --uid 10001 --gid continuity --home-dir /app --shell /usr/sbin/nologin continuity

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md LICENSE ./
COPY studio/__init__.py studio/__init__.py
COPY generation/__init__.py generation/__init__.py
RUN pip install --editable ".${EXTRAS}"

COPY manage.py ./
COPY studio studio
COPY generation generation
COPY templates templates
COPY static static
# Content-hashed static files, built once into the image. The settings need a key and a Redis URL
# to load with DEBUG off; neither is used by collectstatic, nor kept.
RUN SECRET_KEY=collectstatic-only REDIS_URL=redis://collectstatic.invalid:6379/0 \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -f /tmp/collectstatic.sqlite3 \
    && mkdir -p /app/var /data/media /data/models \
    && chown -R continuity:continuity /app/var /data

USER continuity
EXPOSE 8000
# The web process: Daphne with request bodies capped as they arrive (studio/daphne_server.py).
CMD ["python", "-m", "studio.daphne_server", "-b", "0.0.0.0", "-p", "8000", "studio.asgi:application"]
