"""LeadOps settings, read from the environment.

Development defaults are safe and need nothing: SQLite and django-q2's ORM broker.
Opt in to PostgreSQL with DATABASE_URL and to Redis with REDIS_URL.
LEADOPS_PRODUCTION=1 turns on the deploy hardening (`manage.py check --deploy` is clean).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadops.env import database_from_url, envbool, envfloat, envint, envlist, envstr


def _check_alert_channels(emails: list[str], url: str) -> None:
    """Alert recipients and webhook are checked at startup, naming the variable at fault."""
    from urllib.parse import urlparse

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    for address in emails:
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"LEADOPS_ALERT_EMAILS: {address!r} is not an email address") from None
    if url and (urlparse(url).scheme not in {"http", "https"} or not urlparse(url).hostname):
        raise ImproperlyConfigured(f"LEADOPS_ALERT_WEBHOOK_URL={url!r} must be an http(s) URL")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("LEADOPS_VAR_DIR", str(BASE_DIR / "var")))

PRODUCTION = envbool("LEADOPS_PRODUCTION", False)
# DEBUG pages print settings (DATABASE_URL with its password) to anyone who triggers a 500, so it
# is on only when asked for by name: DJANGO_DEBUG=1 (`make run` asks; nothing else does).
DEBUG = envbool("DJANGO_DEBUG", False)
if DEBUG and PRODUCTION:
    raise ImproperlyConfigured("DJANGO_DEBUG=1 and LEADOPS_PRODUCTION=1 cannot be combined")

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
    "ninja",  # its docs page then loads Swagger UI from our static files, never a CDN
    "simple_history",
    "axes",
    "reps",
    "routing",
    "ops",
    "calendars",
]

MIDDLEWARE = [
    "ops.metrics.RequestMetricsMiddleware",
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
    # Last of the working middleware, as django-axes asks: it turns a lockout raised during
    # authentication into the response (SyncChain below passes exceptions through unchanged).
    "axes.middleware.AxesMiddleware",
    # Innermost and sync-only: the chain above runs in the request's thread (leadops/middleware.py).
    "leadops.middleware.SyncChain",
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
# Threads per web process that read and render the offer cards sent down inbox event streams
# (reps.push, reps.views.OffersFeed); each uses a database connection while it works, on top of
# LEADOPS_DB_POOL_MAX, so feeds never take a connection a request is waiting for.
LEADOPS_INBOX_FEED_THREADS = envint("LEADOPS_INBOX_FEED_THREADS", 2, minimum=1)
CONN_MAX_AGE = envint("LEADOPS_CONN_MAX_AGE", 60, minimum=0)
if DATABASE_URL:
    default_db = database_from_url(DATABASE_URL)
    default_db["CONN_MAX_AGE"] = CONN_MAX_AGE
    default_db["CONN_HEALTH_CHECKS"] = True
    # An unreachable database must fail readiness quickly, not hang it (libpq waits forever by default).
    default_db["OPTIONS"].setdefault("connect_timeout", envint("LEADOPS_DB_CONNECT_TIMEOUT", 5, minimum=1))
    # Prepared statements: only those asked for (routing.snapshots.fetchone_prepared: intake's and
    # routing's fixed per-lead and per-batch statements, planned once per connection instead of on
    # every run). Django turns psycopg's preparation off (None) for transaction-mode poolers, which
    # also refuses an explicit prepare; a threshold no statement reaches keeps automatic preparation
    # off (a generic plan made the CSV import's routing 1.6x slower). Behind PgBouncer in
    # transaction mode before 1.21: LEADOPS_DB_PREPARED=0.
    default_db["OPTIONS"].setdefault("prepare_threshold", 2**62 if envbool("LEADOPS_DB_PREPARED", True) else None)
    # A per-process connection pool (psycopg_pool through Django) for the ASGI web server, where
    # each request runs in its own thread and persistent per-thread connections would pile up
    # (Django docs: disable persistent connections under ASGI, use a pool). leadops/gunicorn.conf.py
    # sets LEADOPS_DB_POOL_MAX; worker processes (qcluster, sweeper) keep persistent connections.
    DB_POOL_MAX = envint("LEADOPS_DB_POOL_MAX", 0, minimum=0)
    if DB_POOL_MAX and default_db["ENGINE"] == "django.db.backends.postgresql":
        default_db["CONN_MAX_AGE"] = 0
        default_db["CONN_HEALTH_CHECKS"] = False
        default_db.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_MAX + LEADOPS_INBOX_FEED_THREADS,
                                                        "timeout": 10}  # fmt: skip
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
# Requests one web worker runs at once, the rest queued (leadops.asgi.AdmissionLimit): by default
# the pool's size, so a running request always finds a connection; 0 without a pool (no limit).
LEADOPS_WEB_MAX_ACTIVE = envint("LEADOPS_WEB_MAX_ACTIVE", 0, minimum=0) or (DB_POOL_MAX if DATABASE_URL else 0)
# Threads that run the synchronous views in one web worker (leadops.asgi.StreamsAsync): by default
# as many as run at once; 0 runs them through Django's ASGI handler, a new thread per request.
LEADOPS_WEB_THREADS = envint("LEADOPS_WEB_THREADS", LEADOPS_WEB_MAX_ACTIVE or 8, minimum=0)
# Seconds a client has to send a request body of up to 256 KiB, read before the request takes an
# admission slot (leadops.asgi.BodyFirst); past it, 408.
LEADOPS_WEB_BODY_TIMEOUT_SECONDS = envfloat("LEADOPS_WEB_BODY_TIMEOUT_SECONDS", 30.0)
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
    # Successful tasks are not stored (failures are, and ops see them). With a positive limit,
    # django-q2's monitor reads every stored success (pickled results decoded, rows locked) to
    # prune one, after each task: under load that was ~15 % of the queue's CPU.
    "save_limit": -1,
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
    # 12 characters: OWASP ASVS 4.0.3 V2.1.1.
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes (https://django-axes.readthedocs.io): failed logins are counted per account and,
# separately, per client address; either reaching the limit locks further attempts out before
# the password is hashed (so a flood costs no hashing CPU). Ops unlock from /ops/security/ or
# `manage.py axes_reset_username NAME`; the lock also lifts by itself after the cool-off.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = envbool("LEADOPS_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = envint("LEADOPS_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = dt.timedelta(minutes=envint("LEADOPS_LOGIN_COOLOFF_MINUTES", 30, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Behind a reverse proxy, set LEADOPS_PROXY_COUNT to the number of proxies so the client address
# is read from X-Forwarded-For (django-ipware); without it REMOTE_ADDR is used and headers ignored.
AXES_CLIENT_IP_CALLABLE = "leadops.security.client_ip"
LEADOPS_PROXY_COUNT = envint("LEADOPS_PROXY_COUNT", 0, minimum=0)

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
    # Development logs one line per email (recipients and subject), never the body.
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "ops.mail.OneLineConsoleBackend",
)
_email_options: dict = {}
if _email_backend.endswith("smtp.EmailBackend"):
    _email_options = {"host": envstr("DJANGO_EMAIL_HOST", "localhost"), "port": envint("DJANGO_EMAIL_PORT", 25)}
elif _email_backend.endswith("filebased.EmailBackend"):  # one file per connection: handy on a staging box
    _email_options = {"file_path": envstr("DJANGO_EMAIL_FILE_PATH", str(VAR_DIR / "mail"))}
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = envstr("DJANGO_DEFAULT_FROM_EMAIL", "leadops@localhost")
LEADOPS_SITE_URL = envstr("LEADOPS_SITE_URL", "http://127.0.0.1:8000").rstrip("/")  # links in emails
LEADOPS_WEBHOOK_URL = envstr("LEADOPS_WEBHOOK_URL")
LEADOPS_WEBHOOK_SECRET = envstr("LEADOPS_WEBHOOK_SECRET")
if PRODUCTION and LEADOPS_WEBHOOK_URL and not LEADOPS_WEBHOOK_SECRET:
    raise ImproperlyConfigured("LEADOPS_WEBHOOK_SECRET must be set when LEADOPS_WEBHOOK_URL is")

# --- LeadOps behaviour ------------------------------------------------------------------
LEADOPS_MAX_BODY_BYTES = envint("LEADOPS_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
# A configuration document imported through the API (POST /api/v1/config/import).
LEADOPS_MAX_CONFIG_BYTES = envint("LEADOPS_MAX_CONFIG_BYTES", 5 * 1024 * 1024, minimum=1024)
# Leads one routing transaction takes at most (it takes what is waiting, up to this). Each batch
# pays fixed reads that grow with the reps its rules reach (live availability, counters, the
# directory check), so a backlog routes faster in bigger batches: 500 reps / 50 rules, one
# process, 436 decisions/s at 50 and 663/s at 200 (docs/performance.md, round 6). A lone lead
# is still a batch of one.
LEADOPS_ROUTE_BATCH = envint("LEADOPS_ROUTE_BATCH", 200, minimum=1)
LEADOPS_HOLDING_RETRY_BATCH = envint("LEADOPS_HOLDING_RETRY_BATCH", 20, minimum=1)
LEADOPS_RECOVERY_AFTER_SECONDS = envint("LEADOPS_RECOVERY_AFTER_SECONDS", 30, minimum=1)
LEADOPS_AGE_OUT_DAYS = envint("LEADOPS_AGE_OUT_DAYS", 14, minimum=1)
LEADOPS_SWEEP_INTERVAL = envfloat("LEADOPS_SWEEP_INTERVAL", 1.0)
LEADOPS_EQUITY_TOLERANCE = envfloat("LEADOPS_EQUITY_TOLERANCE", 0.05)
# Drift alerts judge a pool only once it has this many offers in the window (docs/architecture.md).
LEADOPS_DRIFT_MIN_LEADS = envint("LEADOPS_DRIFT_MIN_LEADS", 20, minimum=0)
# Routing batches decide with capacity and fairness read unlocked, write, then lock only the rows
# they change and re-check under that lock every fact that made the chosen reps eligible
# (routing.services._reconcile_under_lock), deciding again with every row locked if one moved.
# 0 locks everything reachable before deciding (the old way; SQLite always does).
LEADOPS_ROUTE_NARROW_LOCKS = envbool("LEADOPS_ROUTE_NARROW_LOCKS", True)
# Accounts (docs/architecture.md, "Accounts"): a company name at least this similar (rapidfuzz
# token_sort_ratio, 0-100) to an account's matches it; a new lead of the same person or account
# within this many days goes to the rep holding the earlier one (0 turns sticky routing off);
# whether owner/sticky assignments are charged to the pool's fairness; what happens to a lead
# whose email matches an open lead: link (not routed), merge (its details folded into the open
# lead, then linked) or route (routed anyway, the link kept).
LEADOPS_ACCOUNT_FUZZY_THRESHOLD = envfloat("LEADOPS_ACCOUNT_FUZZY_THRESHOLD", 90.0)
if not 0 < LEADOPS_ACCOUNT_FUZZY_THRESHOLD <= 100:
    raise ImproperlyConfigured("LEADOPS_ACCOUNT_FUZZY_THRESHOLD must be above 0 and at most 100")
LEADOPS_STICKY_WINDOW_DAYS = envint("LEADOPS_STICKY_WINDOW_DAYS", 30, minimum=0)
LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS = envbool("LEADOPS_OWNER_COUNTS_TOWARD_FAIRNESS", False)
LEADOPS_DUPLICATE_POLICY = envstr("LEADOPS_DUPLICATE_POLICY", "link")
if LEADOPS_DUPLICATE_POLICY not in ("link", "merge", "route"):
    raise ImproperlyConfigured("LEADOPS_DUPLICATE_POLICY must be link, merge or route")
# Benchmarks only: a fixed sleep inside every routing decision (manage.py bench --think-ms).
LEADOPS_BENCH_THINK_MS = envfloat("LEADOPS_BENCH_THINK_MS", 0.0)
# Inbox push (reps/push.py): offers reach an open inbox through server-sent events fed by
# PostgreSQL LISTEN/NOTIFY when the site is served over ASGI on PostgreSQL; otherwise, or when
# the event stream drops, the inbox polls every LEADOPS_INBOX_POLL_SECONDS.
LEADOPS_INBOX_PUSH = envbool("LEADOPS_INBOX_PUSH", True)
# On: a new offer's card travels in the event itself (reps.views.OffersFeed). Off: the event only
# says "changed" and the page asks for its offers (one request per change), as before 2026-12-03.
LEADOPS_INBOX_PUSH_CARDS = envbool("LEADOPS_INBOX_PUSH_CARDS", True)
# LEADOPS_INBOX_FEED_THREADS (above, with the database pool) read and render those cards.
LEADOPS_INBOX_POLL_SECONDS = envint("LEADOPS_INBOX_POLL_SECONDS", 3, minimum=1)
LEADOPS_INBOX_HEARTBEAT_SECONDS = envint("LEADOPS_INBOX_HEARTBEAT_SECONDS", 20, minimum=1)
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
CSRF_COOKIE_HTTPONLY = True  # the token travels in the page (hx-headers on <body>), never read from the cookie
# A signed-in session lasts a working day at most, then asks for the password again
# (OWASP ASVS 4.0.3 V3.3.2, level 2: re-authentication at least every 12 hours).
SESSION_COOKIE_AGE = envint("LEADOPS_SESSION_HOURS", 12, minimum=1) * 3600
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Operations: heartbeats, alerts, metrics, logs (docs/operations.md) ------------------
LEADOPS_HEARTBEAT_EVERY_SECONDS = envfloat("LEADOPS_HEARTBEAT_EVERY_SECONDS", 2.0)
LEADOPS_HEARTBEAT_MARGIN_SECONDS = envfloat("LEADOPS_HEARTBEAT_MARGIN_SECONDS", 10.0)
LEADOPS_ALERT_EVERY_SECONDS = envfloat("LEADOPS_ALERT_EVERY_SECONDS", 10.0)
LEADOPS_ALERT_EMAILS = envlist("LEADOPS_ALERT_EMAILS", [])
LEADOPS_ALERT_WEBHOOK_URL = envstr("LEADOPS_ALERT_WEBHOOK_URL")
_check_alert_channels(LEADOPS_ALERT_EMAILS, LEADOPS_ALERT_WEBHOOK_URL)
LEADOPS_ALERT_WEBHOOK_SECRET = envstr("LEADOPS_ALERT_WEBHOOK_SECRET")
LEADOPS_ALERT_PENDING_AGE_SECONDS = envint("LEADOPS_ALERT_PENDING_AGE_SECONDS", 300, minimum=1)
LEADOPS_ALERT_SLA_WINDOW_MINUTES = envint("LEADOPS_ALERT_SLA_WINDOW_MINUTES", 15, minimum=1)
LEADOPS_ALERT_SLA_MISSES = envint("LEADOPS_ALERT_SLA_MISSES", 10, minimum=1)
LEADOPS_ALERT_SLA_MISS_RATIO = envfloat("LEADOPS_ALERT_SLA_MISS_RATIO", 0.5)
if not 0 < LEADOPS_ALERT_SLA_MISS_RATIO <= 1:
    raise ImproperlyConfigured(f"LEADOPS_ALERT_SLA_MISS_RATIO={LEADOPS_ALERT_SLA_MISS_RATIO} must be in (0, 1]")
for _name in ("LEADOPS_WEB_BODY_TIMEOUT_SECONDS", "LEADOPS_HEARTBEAT_EVERY_SECONDS", "LEADOPS_HEARTBEAT_MARGIN_SECONDS", "LEADOPS_ALERT_EVERY_SECONDS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be more than 0")
LEADOPS_METRICS_TOKEN = envstr("LEADOPS_METRICS_TOKEN")
try:
    LEADOPS_METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(n, strict=False)
        # Production: token only unless networks are named (behind a local reverse proxy every
        # visitor would come from 127.0.0.1). Development: this machine.
        for n in envlist("LEADOPS_METRICS_ALLOWED_NETWORKS", [] if PRODUCTION else ["127.0.0.1/32", "::1/128"])
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"LEADOPS_METRICS_ALLOWED_NETWORKS: {_exc}") from None

# Retention (routing.services_retention; docs/operations.md, "Retention and archive"): months of
# decisions and of webhook deliveries to keep besides the current one; 0 keeps everything. Older
# months are exported to LEADOPS_ARCHIVE_DIR, then dropped. Dropping without an export must be
# asked for by name.
LEADOPS_DECISION_RETENTION_MONTHS = envint("LEADOPS_DECISION_RETENTION_MONTHS", 0, minimum=0)
LEADOPS_WEBHOOK_RETENTION_MONTHS = envint("LEADOPS_WEBHOOK_RETENTION_MONTHS", 0, minimum=0)
LEADOPS_ARCHIVE_DIR = envstr("LEADOPS_ARCHIVE_DIR")
LEADOPS_RETENTION_WITHOUT_ARCHIVE = envbool("LEADOPS_RETENTION_WITHOUT_ARCHIVE", False)
if (LEADOPS_DECISION_RETENTION_MONTHS or LEADOPS_WEBHOOK_RETENTION_MONTHS) and not (
    LEADOPS_ARCHIVE_DIR or LEADOPS_RETENTION_WITHOUT_ARCHIVE
):
    raise ImproperlyConfigured(
        "LEADOPS_DECISION_RETENTION_MONTHS / LEADOPS_WEBHOOK_RETENTION_MONTHS drop old months: set LEADOPS_ARCHIVE_DIR "
        "(they are exported there first), or LEADOPS_RETENTION_WITHOUT_ARCHIVE=1 to drop them without an export"
    )
if LEADOPS_ARCHIVE_DIR and not Path(LEADOPS_ARCHIVE_DIR).is_absolute():
    raise ImproperlyConfigured(f"LEADOPS_ARCHIVE_DIR={LEADOPS_ARCHIVE_DIR!r} must be an absolute path")

LEADOPS_LOG_FORMAT = envstr("LEADOPS_LOG_FORMAT", "json" if PRODUCTION else "plain")
if LEADOPS_LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LEADOPS_LOG_FORMAT={LEADOPS_LOG_FORMAT!r} must be 'json' or 'plain'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "ops.logs.PlainFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "ops.logs.json_formatter"},
    },
    "filters": {"expected_403": {"()": "ops.logs.ExpectedForbiddenFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LEADOPS_LOG_FORMAT, "filters": ["expected_403"]},
    },
    "root": {"handlers": ["console"], "level": envstr("LEADOPS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django-q": {"level": envstr("LEADOPS_Q_LOG_LEVEL", "WARNING")},
    },
}

# In development whitenoise serves straight from the finders, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Lead intake (issue 11) -------------------------------------------------------------
# Amounts are compared in this currency; rates come from the ExchangeRate table ops maintain.
LEADOPS_BASE_CURRENCY = envstr("LEADOPS_BASE_CURRENCY", "USD").upper()
# CSV uploads: the page refuses larger files; accepted ones are imported by a background task.
LEADOPS_IMPORT_MAX_BYTES = envint("LEADOPS_IMPORT_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
LEADOPS_IMPORT_DIR = Path(envstr("LEADOPS_IMPORT_DIR", str(VAR_DIR / "imports")))
# A background import commits this many rows per transaction (with its checkpoint) and hands
# over to a fresh task after LEADOPS_IMPORT_SLICE_SECONDS, below django-q2's task timeout.
LEADOPS_IMPORT_CHUNK = envint("LEADOPS_IMPORT_CHUNK", 1000, minimum=1)
LEADOPS_IMPORT_SLICE_SECONDS = envfloat("LEADOPS_IMPORT_SLICE_SECONDS", 60.0)
# An import whose worker has not reported for this long is resumed by the sweep.
LEADOPS_IMPORT_STALE_SECONDS = envint("LEADOPS_IMPORT_STALE_SECONDS", 300, minimum=1)
# The mapping step checks this many rows in its dry run (the whole file when it is shorter).
LEADOPS_IMPORT_DRY_RUN_ROWS = envint("LEADOPS_IMPORT_DRY_RUN_ROWS", 20_000, minimum=1)
