"""Settings for the benchmark's server, workers and driver: the portal's own settings (read from the
environment the driver sets: PostgreSQL `bench_h`, Redis, DEBUG off), plus the bare ceiling views and
plain static storage (the benchmark does not run collectstatic)."""

from portal.settings import *  # noqa: F403
from portal.settings import STORAGES

ROOT_URLCONF = "bench.urls"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
