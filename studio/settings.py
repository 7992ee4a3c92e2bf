"""Settings: everything comes from the environment, with embedded defaults for a laptop.

Unset DATABASE_URL -> SQLite under var/. Unset REDIS_URL -> an embedded Redis under var/ that the
web process, the Celery worker and the channel layer share. Production points the same code at
PostgreSQL and a Redis server, with a SECRET_KEY. DEBUG is off unless DEBUG=1 (`make run` sets it).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studio import embedded_redis

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CONTINUITY_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for: a forgotten setting must not publish tracebacks and every URL pattern.
# `manage.py run_studio` (`make run`, the local studio) and the test suite ask for it.
DEBUG = env_bool("DEBUG", False)
# No REDIS_URL: the embedded Redis listens on a Unix socket under var/, so every process of this
# studio runs on this machine and shares var/.
EVERYTHING_ON_THIS_MACHINE = not os.environ.get("REDIS_URL")


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not (DEBUG or EVERYTHING_ON_THIS_MACHINE):
        # Web processes and workers on several machines must share one key: generating one each
        # would break sessions and signatures between them.
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off and REDIS_URL is set.")
    # Development, or one machine with the embedded Redis: a random key kept under var/ (readable by
    # its owner only, like the database next to it) so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our own static files (strict CSP)
    "studio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "studio.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# The signed-in user and the session are read from the shared cache, not the database, on each
# request, and dropped from it on every change (studio/auth_backends.py, studio/sessions.py).
AUTHENTICATION_BACKENDS = ["studio.auth_backends.CachedUserBackend"]
SESSION_ENGINE = "studio.sessions"

ROOT_URLCONF = "studio.urls"
ASGI_APPLICATION = "studio.asgi.application"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'continuity.sqlite3'}"
# CONN_MAX_AGE: 60 s of persistent connections suits Gunicorn's WSGI workers. Under an ASGI server
# every thread that runs a view keeps its own connection, so set CONN_MAX_AGE=0 there (Django's
# advice for ASGI): measured in issue 15, 2 uvicorn processes under 50 connections exhausted a
# PostgreSQL of max_connections=100 with the persistent default.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
                                              conn_health_checks=True)}
# CONTINUITY_DB_POOL=N (PostgreSQL): a pool of up to N connections per process (psycopg_pool, through
# Django's "pool" option) instead of one connection per thread. For ASGI servers: every database
# call of a WebSocket runs on a thread that would otherwise open and close its own connection
# (measured in issue 15: opening them was most of what connecting 500 watchers cost).
DB_POOL_MAX = int(os.environ.get("CONTINUITY_DB_POOL", "0"))
if DB_POOL_MAX and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django refuses both at once
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_MAX, "timeout": 10}
    # (CONN_HEALTH_CHECKS stays on: the pool then checks a connection before handing it out)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # The web process and the worker write at once: WAL, a busy timeout, and IMMEDIATE
        # transactions so writers queue instead of failing with "database is locked".
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so the worker processes of the end-to-end tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-continuity.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, results and the channel layer -------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = embedded_redis.ensure_running(VAR_DIR)


def _celery_url(redis_url: str) -> str:
    # kombu spells a Unix socket "redis+socket://"; redis-py spells it "unix://".
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


# CONTINUITY_CHANNEL_REDIS_URL: a separate Redis for live events (default: the broker's). The crash
# tests point a worker at a dead one to prove a lost event never loses a render.
# CONTINUITY_CHANNEL_LAYER: "pubsub" (the default: one Redis PUBLISH per group send, delivered once
# per server process, no shared per-process inbox to fill; measured in BENCHMARKS.md, issue 15) or
# "core" (channels_redis' list-based layer: one queued copy per socket, `capacity` per process).
_CHANNEL_BACKENDS = {"pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer", "core": "channels_redis.core.RedisChannelLayer"}
CHANNEL_LAYER_KIND = os.environ.get("CONTINUITY_CHANNEL_LAYER", "pubsub")
if CHANNEL_LAYER_KIND not in _CHANNEL_BACKENDS:
    raise ImproperlyConfigured(f"CONTINUITY_CHANNEL_LAYER must be one of {sorted(_CHANNEL_BACKENDS)}, not {CHANNEL_LAYER_KIND!r}")
# Progress ticks of one take or export closer than this are coalesced (latest value wins).
CONTINUITY_PROGRESS_COALESCE_S = float(os.environ.get("CONTINUITY_PROGRESS_COALESCE_S", "0.1"))
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _CHANNEL_BACKENDS[CHANNEL_LAYER_KIND],
        "CONFIG": {
            # redis-py 8 defaults to a 5 s socket timeout, the same as channels_redis' 5 s
            # BZPOPMIN: a quiet channel then times out and kills the consumer. Give it room.
            "hosts": [{"address": os.environ.get("CONTINUITY_CHANNEL_REDIS_URL") or REDIS_URL, "socket_timeout": 30,
                       # redis-py 8 caps an asyncio pool at 100; a busy server needs more.
                       "max_connections": 1000}],
            "prefix": os.environ.get("CONTINUITY_CHANNEL_PREFIX", "continuity"),
            "capacity": 1500,
            "expiry": 30,
        },
    }
}

# The shared cache, in Redis so every process agrees: throttle counters (studio/throttle.py), the
# board's and the API's rendered parts under versioned keys, API tokens, sessions and signed-in users (all
# dropped on every change). One connection pool per process (studio/cache.py).
CACHES = {
    "default": {
        "BACKEND": "studio.cache.RedisCache",  # Django's, with one pool and client per process (studio/cache.py)
        "LOCATION": os.environ.get("CONTINUITY_CACHE_URL") or REDIS_URL,
        "KEY_PREFIX": os.environ.get("CONTINUITY_CACHE_PREFIX", "continuity"),
    },
    # Per process, in front of "default": answers keyed by what they were made from (the API's shot
    # listings, keyed by the project's event_seq) and API tokens for a few seconds
    # (CONTINUITY_API_TOKEN_LOCAL_S): a hit costs no round trip. Bounded, and kept 30 s: a copy
    # taken from "default" near the end of its life must not double how long a page whose event
    # was lost can be served.
    "process": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "continuity-process",
        "TIMEOUT": 30,
        "OPTIONS": {"MAX_ENTRIES": 128},
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", _celery_url(REDIS_URL))
CELERY_RESULT_BACKEND = None  # the database is the truth; we never wait on task results
# Renders go to GPU machines, everything else (exports) to the default queue.
CONTINUITY_RENDER_QUEUE = os.environ.get("CONTINUITY_RENDER_QUEUE", "gpu")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CONTINUITY_DEFAULT_QUEUE", "default")
# Identity scoring of finished takes (studio/services/identity.py) has a queue of its own, so it
# never waits behind a render nor holds a GPU worker; CONTINUITY_IDENTITY_SCORING=0 turns it off.
CONTINUITY_IDENTITY_QUEUE = os.environ.get("CONTINUITY_IDENTITY_QUEUE", "identity")
CONTINUITY_IDENTITY_SCORING = env_bool("CONTINUITY_IDENTITY_SCORING", True)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CONTINUITY_RENDER_TIME_LIMIT", 3600))
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Longer than the longest task, or Redis would hand an unfinished render to a second worker.
# priority_steps: the Redis lists per queue a worker reads in order (0 first); an urgent take is
# sent at 0 and a normal one at 6 (services/dispatch.py RENDER_PRIORITY), so one `gpu` queue keeps
# urgent renders ahead of a long batch on every worker (bench/bench_gpu_priority.py, BENCHMARKS.md).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600, "priority_steps": [0, 3, 6, 9]}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# `celery -A studio beat` (or a worker with -B) runs the reconciler every minute, so no render is
# lost to a dead worker or a lost message. A tick nobody ran within the minute is dropped.
CONTINUITY_RECONCILE_INTERVAL_S = int(os.environ.get("CONTINUITY_RECONCILE_INTERVAL_S", 60))
CELERY_BEAT_SCHEDULE = {
    "reconcile-renders": {
        "task": "generation.tasks.reconcile_renders",
        "schedule": float(CONTINUITY_RECONCILE_INTERVAL_S),
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": max(1, CONTINUITY_RECONCILE_INTERVAL_S - 5)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Generation ------------------------------------------------------------------------------

GENERATION_BACKEND = os.environ.get("GENERATION_BACKEND", "animatic")
# The tiny backend (random weights) is for tests and operators: offered in forms only when set.
CONTINUITY_OFFER_TINY_BACKEND = env_bool("CONTINUITY_OFFER_TINY_BACKEND", False)
CONTINUITY_MODELS_DIR = Path(os.environ.get("CONTINUITY_MODELS_DIR", VAR_DIR / "models")).resolve()
CONTINUITY_MAX_RENDER_ATTEMPTS = int(os.environ.get("CONTINUITY_MAX_RENDER_ATTEMPTS", 3))
CONTINUITY_FFMPEG_TIMEOUT = int(os.environ.get("CONTINUITY_FFMPEG_TIMEOUT", 600))
# The reconciler (studio/services/reconcile.py): a queued take not sent for this long lost its message;
# a running take with no heartbeat for this long lost its worker. Workers beat on every progress
# report, so the stale threshold must exceed the slowest diffusion step plus a pipeline load.
CONTINUITY_LOST_MESSAGE_GRACE_S = int(os.environ.get("CONTINUITY_LOST_MESSAGE_GRACE_S", 120))
CONTINUITY_STALE_HEARTBEAT_S = int(os.environ.get("CONTINUITY_STALE_HEARTBEAT_S", 300))
# Workers report what they do to Redis (studio/services/workers.py) for the staff Workers page.
CONTINUITY_WORKER_REPORT_PREFIX = os.environ.get("CONTINUITY_WORKER_REPORT_PREFIX", "continuity:worker:")
CONTINUITY_WORKER_REPORT_TTL_S = int(os.environ.get("CONTINUITY_WORKER_REPORT_TTL_S", 86400))
# Render requests one person may make in a sliding window ("60/10m": 60 per 10 minutes; s, m or
# h). Rendering a scene, everything missing or a whole cut is one request.
CONTINUITY_RENDER_RATE = os.environ.get("CONTINUITY_RENDER_RATE", "60/10m")
# Tries per window (studio/throttle.py): wrong review-link passwords, per link and per address;
# failed sign-ins, per user name and per address; guest comments, per link and per address.
CONTINUITY_GUEST_PASSWORD_RATE = os.environ.get("CONTINUITY_GUEST_PASSWORD_RATE", "10/10m")
CONTINUITY_SIGN_IN_RATE = os.environ.get("CONTINUITY_SIGN_IN_RATE", "10/10m")
CONTINUITY_GUEST_COMMENT_RATE = os.environ.get("CONTINUITY_GUEST_COMMENT_RATE", "30/10m")
# Behind a proxy: the header it sets to the client's address (e.g. X-Real-IP), so the limits
# above are kept per client and not for the proxy as a whole. Empty: the socket's peer.
CONTINUITY_CLIENT_ADDRESS_HEADER = os.environ.get("CONTINUITY_CLIENT_ADDRESS_HEADER", "")

# --- Webhooks (studio/services/webhooks.py, studio/webhook_targets.py) -------------------------
# Seconds to wait before each retry of a failed delivery: 30 s, 2 min, 10 min, 1 h, 4 h, 12 h, 24 h
# (eight attempts over about 42 hours). The one place the schedule lives.
CONTINUITY_WEBHOOK_RETRY_DELAYS = [float(s) for s in env_list("CONTINUITY_WEBHOOK_RETRY_DELAYS", "30,120,600,3600,14400,43200,86400")]
# Failed attempts in a row (across deliveries) after which an endpoint is disabled and its owners told.
CONTINUITY_WEBHOOK_DISABLE_AFTER = int(os.environ.get("CONTINUITY_WEBHOOK_DISABLE_AFTER", 20))
CONTINUITY_WEBHOOK_TIMEOUT_S = float(os.environ.get("CONTINUITY_WEBHOOK_TIMEOUT_S", 10))
# 1: webhooks may go to private, loopback and link-local addresses (an intranet receiver). Off by
# default: a URL an owner types must not reach the studio's own network.
CONTINUITY_WEBHOOK_ALLOW_PRIVATE = env_bool("CONTINUITY_WEBHOOK_ALLOW_PRIVATE", False)

# --- Files -----------------------------------------------------------------------------------

MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media")).resolve()
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static")).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "studio.staticfiles.ModuleStaticFilesStorage"
    },
}
# Where media (reference images, takes, exports) live: "local" (MEDIA_ROOT, the default) or "s3"
# (any S3-compatible store through django-storages: AWS S3, MinIO, Ceph...). With s3, workers on
# other machines fetch what a render needs into CONTINUITY_MEDIA_CACHE (references by content
# hash, downloaded once per worker) and upload what they make; browsers are redirected to
# short-lived signed URLs. See README "Media on object storage" and studio/media_store.py.
CONTINUITY_MEDIA_STORAGE = os.environ.get("CONTINUITY_MEDIA_STORAGE", "local").strip().lower()
if CONTINUITY_MEDIA_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"CONTINUITY_MEDIA_STORAGE must be 'local' or 's3', not {CONTINUITY_MEDIA_STORAGE!r}")
CONTINUITY_MEDIA_CACHE = Path(os.environ.get("CONTINUITY_MEDIA_CACHE", VAR_DIR / "media-cache")).resolve()
# django-storages' own settings, read from the environment of the same names.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None  # MinIO / moto / Ceph: http://host:9000
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None  # None: boto3's usual chain (role, profile)
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_ADDRESSING_STYLE = os.environ.get("AWS_S3_ADDRESSING_STYLE") or None  # "path" for most MinIO setups
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_QUERYSTRING_AUTH = True  # private bucket: every URL a browser gets is signed...
AWS_QUERYSTRING_EXPIRE = int(os.environ.get("AWS_QUERYSTRING_EXPIRE", 300))  # ...and short-lived
AWS_DEFAULT_ACL = None
AWS_S3_FILE_OVERWRITE = False  # like the filesystem: a name in use gets a new one, nothing is overwritten
if CONTINUITY_MEDIA_STORAGE == "s3":
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("CONTINUITY_MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    if importlib.util.find_spec("storages") is None or importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured("CONTINUITY_MEDIA_STORAGE=s3 needs the s3 extra: pip install 'continuity[s3]'")
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
WHITENOISE_USE_FINDERS = DEBUG
CONTINUITY_MAX_SCRIPT_BYTES = 2 * 1024 * 1024
CONTINUITY_MAX_IMAGE_BYTES = int(os.environ.get("CONTINUITY_MAX_IMAGE_BYTES", 20 * 1024 * 1024))
CONTINUITY_MAX_IMAGE_PIXELS = int(os.environ.get("CONTINUITY_MAX_IMAGE_PIXELS", 40_000_000))
# Images opened and re-encoded at once per web process (each can take a few hundred MB).
CONTINUITY_IMAGE_SLOTS = int(os.environ.get("CONTINUITY_IMAGE_SLOTS", 2))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Request bodies and uploaded files past 1 MB are spooled to temporary files, not held in memory
# (under ASGI every request's body is; twelve parallel 20 MB uploads must not be 12 × 5 MB).
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Auth and i18n ---------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# E-mail (notifications, password resets): printed to the console unless told otherwise. For SMTP set
# EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS; EMAIL_BACKEND=...filebased.EmailBackend
# writes them under EMAIL_FILE_PATH instead.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Continuity <continuity@localhost>")
# Where links in e-mails point (the address people open the studio at).
CONTINUITY_SITE_URL = os.environ.get("CONTINUITY_SITE_URL", "http://localhost:8000")

# --- REST API (/api/v1/, studio/api/) ---------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "studio.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser, with its CSRF check
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "studio.api.auth.TokenScopeAllows"],
    "DEFAULT_PAGINATION_CLASS": "studio.api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend", "rest_framework.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "studio.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# How long a web process keeps an API token in its own memory; a revocation reaches the other
# processes within this (the revoking one at once). 0: every call asks the shared cache.
CONTINUITY_API_TOKEN_LOCAL_S = int(os.environ.get("CONTINUITY_API_TOKEN_LOCAL_S", "2"))
SPECTACULAR_SETTINGS = {
    "TITLE": "Continuity API",
    "DESCRIPTION": "Projects, cast, script, shots, takes, reviews, cuts and exports of a Continuity studio.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "studio.api.schema.document_errors",
                             "studio.api.schema.link_creates_to_what_they_created"],
    # Two choice sets share the field name rights_status: a cast member's and a reference image's.
    "ENUM_NAME_OVERRIDES": {"MemberRightsStatusEnum": "studio.models.cast.RightsStatus",
                            "ImageRightsStatusEnum": "studio.models.cast.ImageRights"},
}

# --- Production hardening (active when DEBUG is off) -----------------------------------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
CONTINUITY_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
