"""A read-cache miss is computed once at a time (issue 7): a reader who misses a key that another process is
computing waits for that value instead of computing it too; a computation that fails or takes too long
leaves the waiting reader to compute it itself, as before."""

import threading
import uuid

import pytest
from django.core.cache import cache

from reporting import read_cache
from reporting.read_cache import read_cached


@pytest.fixture
def key():
    return read_cache.read_key("test-computing", uuid.uuid4().hex)


def _first_computes_slowly(key, release: threading.Event, result: dict, value="first"):
    started = threading.Event()

    def compute():
        started.set()
        assert release.wait(10)
        if value is None:
            raise RuntimeError("the computation failed")
        return value

    def run():
        try:
            result["first"] = read_cached(key, compute)
        except RuntimeError as exc:
            result["first"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(10)
    return thread


def test_a_reader_who_misses_a_key_being_computed_waits_for_its_value(key):
    release, result = threading.Event(), {}
    thread = _first_computes_slowly(key, release, result)
    calls = []
    second = {}
    reader = threading.Thread(target=lambda: second.update(value=read_cached(key, lambda: calls.append(1) or "mine")))
    reader.start()
    release.set()
    reader.join(10)
    thread.join(10)
    assert (result["first"], second["value"], calls) == ("first", "first", [])
    # The flag is gone with the computation: the next miss of the key computes at once.
    assert cache.get(read_cache._computing(key)) is None


def test_when_the_computation_fails_the_waiting_reader_computes_itself(key):
    release, result = threading.Event(), {}
    thread = _first_computes_slowly(key, release, result, value=None)
    second = {}
    reader = threading.Thread(target=lambda: second.update(value=read_cached(key, lambda: "mine")))
    reader.start()
    release.set()
    reader.join(10)
    thread.join(10)
    assert isinstance(result["first"], RuntimeError)
    assert second["value"] == "mine"
    assert cache.get(key) == "mine"
    assert cache.get(read_cache._computing(key)) is None


def test_a_reader_waits_a_bounded_time_then_computes_itself(key, monkeypatch):
    monkeypatch.setattr(read_cache, "COMPUTING_WAIT_SECONDS", 0.05)
    release, result = threading.Event(), {}
    thread = _first_computes_slowly(key, release, result)
    try:
        assert read_cached(key, lambda: "mine") == "mine"
    finally:
        release.set()
        thread.join(10)
    assert result["first"] == "first"


def test_a_kept_value_is_read_without_the_flag(key, monkeypatch):
    cache.set(key, "kept")

    def unexpected(*args, **kwargs):
        raise AssertionError("a hit sets no flag")

    monkeypatch.setattr(cache, "add", unexpected)
    assert read_cached(key, lambda: "computed") == "kept"


def test_when_the_cache_is_down_every_reader_computes(key, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("the cache is down")

    for name in ("get", "add", "get_many", "set", "delete"):
        monkeypatch.setattr(cache, name, down)
    assert read_cached(key, lambda: "computed") == "computed"
