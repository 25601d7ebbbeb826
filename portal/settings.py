"""Settings, read from the environment (django-environ).

Fail loud: with DEBUG off there is no default SECRET_KEY and ALLOWED_HOSTS must be given. With no
DATABASE_URL the project falls back to an SQLite file so that `make run` needs no server; with no
REDIS_URL Celery runs tasks in-process for the same reason. CI sets both and so never falls back.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-development-key-only-for-debug")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "import_export",
    "django_htmx",
    "rules.apps.AutodiscoverRulesConfig",
    "measures",
    "indicators",
    "portal.accounts",
    "reporting",
    "portal",
    "portal.dashboards",
]

MIDDLEWARE = [
    "portal.middleware.RequestContextMiddleware",
    # Before anything reads the body (the CSRF check reads a form POST's).
    "portal.middleware.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.SessionTimeoutMiddleware",
    # Before the password check: an unverified session may do nothing, not even change the password.
    "portal.middleware.SecondFactorMiddleware",
    "portal.middleware.PasswordExpiryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes last, as its documentation asks, so that it sees the authenticated user.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections with health checks nearly triple ingest throughput on this kind of machine.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    # No broker configured: run tasks in the calling process so the default set-up needs no server.
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a dead worker held comes back after this long; it must exceed the longest task (the nightly
# rebuild's time limit is an hour).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3900),
    # How often a worker sweeps for tasks abandoned by a dead worker (seconds × every Nth sweep).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "portal.accounts.validators.ComplexityValidator"},
]
# 等保 2.0: complexity and rotation, on by default (README explains the deviation from ASVS 5).
PASSWORD_COMPLEXITY = env.bool("PASSWORD_COMPLEXITY", default=True)
PASSWORD_MAX_AGE_DAYS = env.int("PASSWORD_MAX_AGE_DAYS", default=90)

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "portal.accounts.backends.PortalModelBackend",
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Evidence files live outside the web root and are only ever served through a permission-checking view.
PRIVATE_FILES_ROOT = Path(env.str("PRIVATE_FILES_ROOT", default=str(BASE_DIR / "var" / "private")))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
# Administrators and auditors see more and so time out sooner (等保 2.0).
SESSION_IDLE_MINUTES_PRIVILEGED = env.int("SESSION_IDLE_MINUTES_PRIVILEGED", default=15)
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=8)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# The session (its last activity, its cookie and database expiry) is written when it changes, and the last
# activity at most every SESSION_TOUCH_SECONDS (portal.middleware.SessionTimeoutMiddleware): the idle limits
# hold to within that, a session ending up to a minute early, never late.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_TOUCH_SECONDS = env.int("SESSION_TOUCH_SECONDS", default=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG and env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Everything the portal shows comes from its own origin: ECharts and htmx are vendored static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "common.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "portal.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "portal.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's own parsers read a body of any size and let deeply nested JSON raise a 500 (common/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.StrictJSONParser",
        "common.parsers.StrictFormParser",
        "common.parsers.StrictMultiPartParser",
    ],
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=8)),
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "产业工人队伍建设改革 tracking portal API",
    "DESCRIPTION": (
        "苏发〔2018〕28号 implementation tracking: the plan, its indicators and targets, quarterly reporting. "
        'Errors are `{"message": ..., "errors": {field: [...]}}` in the language of Accept-Language.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps every endpoint and field: signed-in users only (a deploy check insists).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Periods and submissions both have a `status`; name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "PeriodStatusEnum": "reporting.models.Period.Status",
        "SubmissionStatusEnum": "reporting.models.Submission.Status",
        "FigureSpanEnum": "reporting.models.Figure.Span",
    },
}

# 等保 2.0 level 3: administrators (三员), coordinators and auditors sign in with a TOTP code (or a one-off
# recovery code) as well as the password. Off only for a deployment that has another second factor in front.
PORTAL_OTP_REQUIRED = env.bool("PORTAL_OTP_REQUIRED", default=True)
OTP_TOTP_ISSUER = "江苏产改推进平台"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# 429 with Retry-After and a Chinese message, JSON under /api/ (axes' default is English plain text).
AXES_LOCKOUT_CALLABLE = "portal.accounts.api.lockout_response"

IMPORT_EXPORT_SKIP_ADMIN_LOG = False

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Domain settings that coordinators may later override per period.
REPORTING_DEADLINE_DAYS = env.int("REPORTING_DEADLINE_DAYS", default=10)

PLAN_SOURCE_LABEL = _("苏发〔2018〕28号")
# Bottom-up review as in DHIS2: a city's reviewer approves before the province confirms.
REPORTING_CITY_REVIEW = env.bool("REPORTING_CITY_REVIEW", default=True)
# A value that moves more than this fraction from the previous quarter needs the reporter's comment.
REPORTING_JUMP_THRESHOLD = env.float("REPORTING_JUMP_THRESHOLD", default=0.5)
# A rollup request nobody has taken this many seconds after it was made (or last sent) is sent again by the
# beat dispatcher: longer than a busy queue normally takes, short enough that figures catch up soon after
# Redis comes back.
ROLLUP_DISPATCH_AFTER_SECONDS = env.int("ROLLUP_DISPATCH_AFTER_SECONDS", default=60)
# After a rollup that changed figures, the read cache's answers that are the same for every reader are computed
# again by a task (reporting.services.read_warm), these dotted paths each called with the plan's id; the
# task waits READ_CACHE_WARM_AFTER_SECONDS, so that a burst of rollups (a quarter-end, the nightly rebuild)
# is followed by one warming, not one per rollup.
READ_CACHE_WARMERS = [
    "portal.dashboards.kept.overview_warm",
    "reporting.api_progress.status_warm",
    "reporting.api_progress.figures_warm",
]
READ_CACHE_WARM_AFTER_SECONDS = env.float("READ_CACHE_WARM_AFTER_SECONDS", default=2.0)
# A request body that is not a file upload (JSON, a form) is refused above this, 413 (a full report's values
# are a few KB); files have their own limits (EVIDENCE_MAX_BYTES, the XLSX upload's 5 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
# Django's 403 page for a failed CSRF check is English and unstyled.
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
# Evidence files: what a reporter may attach, and how large.
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=20 * 1024 * 1024)
EVIDENCE_MAX_FILES_PER_SUBMISSION = env.int("EVIDENCE_MAX_FILES_PER_SUBMISSION", default=50)
# Any request body, page or API, is refused (413) above this from its declared length before a byte is read
# (portal.middleware.BodyLimitMiddleware): the largest file the portal takes plus the form fields' own limit.
# Without it a multipart POST to any address, signed in or not, is spooled to disk whole by the CSRF check.
REQUEST_BODY_MAX_BYTES = env.int(
    "REQUEST_BODY_MAX_BYTES", default=EVIDENCE_MAX_BYTES + (DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
)

# Lockout is per username on purpose (等保 2.0: 5 failures lock the account for 30 minutes); the
# per-IP variant would lock a whole city office behind one NAT address.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# Target status thresholds (share of the way from baseline to target, compared with the expected share
# along the trajectory at this date). Defaults: within 5 points of the trajectory is on track, within
# 20 points at risk, further behind off track. Documented in docs/rollup-rules.md.
STATUS_ON_TRACK_SLACK = env.float("STATUS_ON_TRACK_SLACK", default=0.05)
STATUS_AT_RISK_SLACK = env.float("STATUS_AT_RISK_SLACK", default=0.20)
# Supervision reports up to this many figure rows are built during the request; larger ones (and every
# PDF) go to a Celery job the user follows.
EXPORT_INLINE_MAX_ROWS = env.int("EXPORT_INLINE_MAX_ROWS", default=3000)
# The export sweep (beat, every ten minutes): a queued job not taken this long is sent again; one running
# longer than the export task's hard limit (30 min) plus a margin, or queued for a day, is failed with a reason.
EXPORT_RESEND_AFTER_SECONDS = env.int("EXPORT_RESEND_AFTER_SECONDS", default=600)
EXPORT_STALE_AFTER_SECONDS = env.int("EXPORT_STALE_AFTER_SECONDS", default=2100)
EXPORT_GIVE_UP_AFTER_SECONDS = env.int("EXPORT_GIVE_UP_AFTER_SECONDS", default=86400)
# Reminders: this many days before a deadline, reporters with nothing submitted are reminded.
REMINDER_DAYS_BEFORE = env.int("REMINDER_DAYS_BEFORE", default=3)
