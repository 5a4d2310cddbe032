"""Settings for the test suite: the normal settings, with tasks run inline and fast hashing.

Tests that need a real worker start `manage.py qcluster` themselves with LEADOPS_Q_SYNC=0.
"""

import os

os.environ.setdefault("LEADOPS_Q_SYNC", "1")

from leadops.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
