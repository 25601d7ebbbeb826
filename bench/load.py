"""A small HTTP load generator: N client threads, each with its own connection to 127.0.0.1, working
through a fixed list of jobs (so every loop ends by itself), timing each request."""

import http.client
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Client:
    """One client's connection; reconnects when the server closes it (gunicorn's sync workers do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        sent = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=data, headers=sent)
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A closed keep-alive connection, not a failed request: reconnect once and send again.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload, seconds)
        raise RuntimeError("unreachable")

    def close(self) -> None:
        self.connection.close()


@dataclass
class Outcome:
    ok: bool
    seconds: float
    note: str = ""
    requests: int = 1


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0

    @property
    def errors(self) -> list[str]:
        return [o.note for o in self.outcomes if not o.ok]

    @property
    def latencies(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.ok]

    @property
    def rate(self) -> float:
        return len(self.outcomes) / self.wall if self.wall else 0.0

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.outcomes)


def run_pool(*, port: int, clients: int, jobs: Iterable[Any], work: Callable[[Client, Any], Outcome]) -> RunResult:
    """Each of `clients` threads takes jobs until none is left."""
    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    result = RunResult()
    lock = threading.Lock()

    def loop() -> None:
        client = Client(port)
        try:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = work(client, job)
                except Exception as exc:
                    outcome = Outcome(False, 0.0, f"{type(exc).__name__}: {exc}"[:300])
                with lock:
                    result.outcomes.append(outcome)
        finally:
            client.close()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - started
    return result


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0–1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]
