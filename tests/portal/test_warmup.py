"""A server worker loads URLs, templates and translations at boot (portal/wsgi.py), not inside its first
requests (issue 7: a cold worker's first dashboard cost ~400 ms on the benchmark machine)."""

import gc

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from django.urls import clear_url_caches, get_resolver

from portal.warmup import worker_warm


def _cached_loader() -> CachedLoader:
    loader = engines["django"].engine.template_loaders[0]  # type: ignore[attr-defined]
    assert isinstance(loader, CachedLoader)
    return loader


def test_worker_warm_compiles_the_project_templates_and_builds_the_url_tables():
    loader = _cached_loader()
    loader.reset()
    clear_url_caches()
    try:
        count = worker_warm()
    finally:
        gc.unfreeze()
    compiled = set(loader.get_template_cache)
    # The pages the dashboards render, their fragments and the base they extend: all compiled already.
    assert {
        "dashboards/overview.html",
        "dashboards/_overview_body.html",
        "dashboards/indicator.html",
        "dashboards/_indicator_body.html",
        "dashboards/_layout.html",
        "portal/base.html",
    } <= compiled
    assert count == len(compiled) > 30
    # No third-party app's template (some need packages the project does not install).
    assert not any(name.startswith(("admin/", "rest_framework/", "django_filters/")) for name in compiled)
    resolver = get_resolver()
    # Django's own flag, set once a resolver's reverse tables are built.
    assert vars(resolver)["_populated"]
    assert all(vars(child)["_populated"] for _prefix, child in resolver.namespace_dict.values())


def test_worker_warm_freezes_what_it_loaded():
    try:
        worker_warm()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_worker_warm_builds_the_redis_cache_client():
    """The Redis backend's client (the redis package, its connection pool) is built at boot, not by a
    worker's first kept answer."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        pytest.skip("the cache is Redis where REDIS_URL is set")
    vars(backend).pop("_cache", None)
    try:
        worker_warm()
    finally:
        gc.unfreeze()
    assert "_cache" in vars(backend)
