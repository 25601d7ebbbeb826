"""What a server worker loads once, before it takes its first request.

Django loads the URL configuration (and with it every view module), the reverse-lookup tables, each
template and each language's translation catalogue on first use, and keeps them for the life of the process.
A gunicorn worker that starts cold pays all of that inside its first requests: measured on the benchmark
machine, ~270 ms for the URL configuration, ~80 ms for the overview's templates and ~60 ms for the first
`{% url %}`, on top of the page itself. `worker_warm` does the same work at boot (portal/wsgi.py), so the
first reader of a page waits for the page only. It reads no database row and sends nothing to the cache:
nothing here depends on data."""

import gc
import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.template import engines
from django.urls import get_resolver
from django.utils import translation

TEMPLATE_SUFFIXES = (".html", ".txt")


def _project_template_folders() -> list[Path]:
    """The project's own template folders: the engine's DIRS and each of the project's apps' `templates`
    (not third-party apps': some of theirs need optional packages this project does not install)."""
    base = Path(settings.BASE_DIR).resolve()
    installed = Path(sys.prefix).resolve()
    templates: list[dict[str, Any]] = settings.TEMPLATES
    folders = [Path(folder) for engine in templates for folder in engine.get("DIRS", [])]
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if path.is_relative_to(base) and not path.is_relative_to(installed):
            folders.append(path / "templates")
    return [folder for folder in folders if folder.is_dir()]


def _templates_load() -> int:
    """Compile the project's templates into the engine's cached loader; returns how many names."""
    engine = engines["django"]
    names = {
        path.relative_to(root).as_posix()
        for root in _project_template_folders()
        for path in root.rglob("*")
        if path.suffix in TEMPLATE_SUFFIXES and path.is_file()
    }
    for name in sorted(names):
        engine.get_template(name)
    return len(names)


def _urls_load() -> None:
    """Import the URL configuration and build the reverse-lookup tables of every namespace."""
    stack = [get_resolver()]
    while stack:
        resolver = stack.pop()
        _ = resolver.reverse_dict
        stack.extend(child for _prefix, child in resolver.namespace_dict.values())


def _cache_clients_load() -> None:
    """Build each cache's client, without a round trip to its server: Django's Redis backend imports the
    redis package and builds its connection pool on first use (its `_cache`), which was inside a worker's
    first read of the read cache (~60 ms on the benchmark machine, in each worker's first kept answer)."""
    for alias in settings.CACHES:
        getattr(caches[alias], "_cache", None)


def worker_warm() -> int:
    """Load URLs, templates, translation catalogues and the cache clients; returns the number of templates
    compiled.

    Then collect and freeze what is loaded: otherwise the next full garbage collection (~60 ms here, started
    by the allocations of some early request) walks every object loaded so far, and each later one does again.
    Frozen objects are never walked; they live as long as the process anyway."""
    _urls_load()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("")
    count = _templates_load()
    _cache_clients_load()
    gc.collect()
    gc.freeze()
    return count
