"""LeadOps settings, read from the environment.

Development defaults are safe and need nothing: SQLite and django-q2's ORM broker.
Opt in to PostgreSQL with DATABASE_URL and to Redis with REDIS_URL.
LEADOPS_PRODUCTION=1 turns on the deploy hardening (`manage.py check --deploy` is clean).
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadops.env import database_from_url, envbool, envfloat, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("LEADOPS_VAR_DIR", str(BASE_DIR / "var")))

PRODUCTION = envbool("LEADOPS_PRODUCTION", False)
DEBUG = envbool("DJANGO_DEBUG", not PRODUCTION)

SECRET_KEY = envstr("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when LEADOPS_PRODUCTION=1")
    SECRET_KEY = "dev-only-insecure-key-never-used-in-production-0123456789abcdef"

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "simple_history",
    "reps",
    "routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "leadops.urls"
WSGI_APPLICATION = "leadops.wsgi.application"

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
                "django.template.context_processors.csp",
                "reps.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL")
CONN_MAX_AGE = envint("LEADOPS_CONN_MAX_AGE", 60, minimum=0)
if DATABASE_URL:
    default_db = database_from_url(DATABASE_URL)
    default_db["CONN_MAX_AGE"] = CONN_MAX_AGE
    default_db["CONN_HEALTH_CHECKS"] = True
    default_db["TEST"] = {"NAME": envstr("LEADOPS_TEST_DB_NAME", "") or None}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": envstr("LEADOPS_SQLITE_PATH", str(VAR_DIR / "leadops.sqlite3")),
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        },
    }
DATABASES = {"default": default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue (django-q2) ------------------------------------------------------------------
REDIS_URL = envstr("REDIS_URL")
Q_CLUSTER: dict = {
    "name": "leadops",
    "workers": envint("LEADOPS_Q_WORKERS", 2, minimum=1),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "poll": envfloat("LEADOPS_Q_POLL", 0.2),
    "sync": envbool("LEADOPS_Q_SYNC", False),
    "label": "Queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(envstr("LEADOPS_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email and webhooks ---------------------------------------------------------------
_email_backend = envstr(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
MAILERS = {
    "default": {
        "BACKEND": _email_backend,
        "OPTIONS": {"host": envstr("DJANGO_EMAIL_HOST", "localhost"), "port": envint("DJANGO_EMAIL_PORT", 25)}
        if _email_backend.endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = envstr("DJANGO_DEFAULT_FROM_EMAIL", "leadops@localhost")
LEADOPS_SITE_URL = envstr("LEADOPS_SITE_URL", "http://127.0.0.1:8000").rstrip("/")  # links in emails
LEADOPS_WEBHOOK_URL = envstr("LEADOPS_WEBHOOK_URL")
LEADOPS_WEBHOOK_SECRET = envstr("LEADOPS_WEBHOOK_SECRET")
if PRODUCTION and LEADOPS_WEBHOOK_URL and not LEADOPS_WEBHOOK_SECRET:
    raise ImproperlyConfigured("LEADOPS_WEBHOOK_SECRET must be set when LEADOPS_WEBHOOK_URL is")

# --- LeadOps behaviour ------------------------------------------------------------------
LEADOPS_MAX_BODY_BYTES = envint("LEADOPS_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
LEADOPS_ROUTE_BATCH = envint("LEADOPS_ROUTE_BATCH", 50, minimum=1)
LEADOPS_HOLDING_RETRY_BATCH = envint("LEADOPS_HOLDING_RETRY_BATCH", 20, minimum=1)
LEADOPS_RECOVERY_AFTER_SECONDS = envint("LEADOPS_RECOVERY_AFTER_SECONDS", 30, minimum=1)
LEADOPS_AGE_OUT_DAYS = envint("LEADOPS_AGE_OUT_DAYS", 14, minimum=1)
LEADOPS_SWEEP_INTERVAL = envfloat("LEADOPS_SWEEP_INTERVAL", 1.0)
LEADOPS_EQUITY_TOLERANCE = envfloat("LEADOPS_EQUITY_TOLERANCE", 0.05)
# Drift alerts judge a pool only once it has this many offers in the window (docs/architecture.md).
LEADOPS_DRIFT_MIN_LEADS = envint("LEADOPS_DRIFT_MIN_LEADS", 20, minimum=0)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)

# --- Security ---------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LEADOPS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django-q": {"level": envstr("LEADOPS_Q_LOG_LEVEL", "WARNING")},
    },
}

# In development whitenoise serves straight from the finders, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = DEBUG
