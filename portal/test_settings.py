"""Settings for the test suite: the real database and broker from the environment, fast hashing."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from portal.settings import *  # noqa: F403

# Argon2 is deliberately slow; tests log in hundreds of times and prove hashing elsewhere.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PRIVATE_FILES_ROOT = BASE_DIR / "var" / "test-private"  # noqa: F405
