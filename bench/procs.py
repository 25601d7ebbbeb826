"""The processes a benchmark run starts, and only those: a gunicorn server on 127.0.0.1 and Celery workers.

Every process is started in its own session and stopped by its own pid (SIGTERM, then SIGKILL after a
grace period); nothing is ever stopped by name."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 - our own executables, fixed arguments
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, grace: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.log.close()


def server_start(*, env: dict[str, str], workers: int, log: Path) -> tuple[Process, int]:
    """gunicorn (sync workers) on a free port of 127.0.0.1; returns once it answers."""
    port = free_port()
    process = Process(
        "server",
        [
            str(BIN / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        env,
        log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"the benchmark server exited at start; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/schema/", timeout=5) as answer:
                answer.read(1)
            break
        except urllib.error.HTTPError:
            # Any status is an answer (the schema asks for a login when SERVE_PERMISSIONS says so); an
            # HTTPError is an OSError too, so without this the loop would wait the whole minute.
            break
        except OSError:
            time.sleep(0.3)
        except Exception:
            break
    else:
        process.stop()
        raise RuntimeError(f"the benchmark server did not answer within 60 s; see {log}")
    return process, port


def worker_start(*, env: dict[str, str], name: str, log: Path) -> Process:
    """One Celery worker process with one execution slot (prefork, concurrency 1)."""
    return Process(
        name,
        [
            str(BIN / "celery"),
            "-A",
            "portal",
            "worker",
            "--concurrency",
            "1",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "warning",
        ],
        env,
        log,
    )


def workers_ready(app, names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = {next(iter(reply)) for reply in (app.control.ping(timeout=1.0) or [])}
        if all(any(a.startswith(f"{n}@") for a in answered) for n in names):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Celery workers {names} did not answer within {timeout} s")


def child_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(base)
    return env
