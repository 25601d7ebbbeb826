import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# After the application is set up, before the first request: see portal/warmup.py.
from portal.warmup import worker_warm  # noqa: E402

worker_warm()
