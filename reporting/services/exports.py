"""Writes for supervision (督查) reports: snapshots, export jobs and their files.

- `snapshot_create` freezes what a report states (`report_content`) at a cut-off, in one consistent
  read (REPEATABLE READ on PostgreSQL), so every table in it comes from the same moment.
- `export_job_create` checks the request and writes the job row (the export log). Small exports are
  built while the request waits; large ones, and every PDF, go to a Celery worker after commit.
- `export_job_run` builds a job's snapshot (unless it reuses one) and its file. It is safe to run twice
  or at once: a done job is never rebuilt, each run writes its own file, and only the first run to
  finish records its file, so the recorded SHA-256 always matches the file on disk.
"""

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from measures.models import Plan
from reporting.exports.parts import PARTS_BY_KEY
from reporting.exports.render import file_extension, render
from reporting.models import ExportJob, Figure, ReportSnapshot
from reporting.selectors.exports import (
    Audience,
    ReportScope,
    export_audience,
    report_content,
    report_scope_resolve,
    snapshots_visible,
)
from reporting.services.broker import task_send

logger = logging.getLogger(__name__)

EXPORT_DIR = "exports"
# Above this many figure rows an XLSX or CSV goes to a worker instead of being built in the request.
DEFAULT_INLINE_MAX_ROWS = 3000


def exports_root() -> Path:
    root = Path(settings.PRIVATE_FILES_ROOT) / EXPORT_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_file_path(job: ExportJob) -> Path:
    return Path(settings.PRIVATE_FILES_ROOT) / job.file_path


def canonical_json(content: dict[str, Any]) -> str:
    """The content as the text its SHA-256 is taken of: sorted keys, no spaces, UTF-8 rather than \\u escapes."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_sha256(content: dict[str, Any]) -> str:
    return _text_sha256(canonical_json(content))


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _consistent_read() -> Iterator[None]:
    """One transaction whose reads all see the same moment. On PostgreSQL that takes REPEATABLE READ,
    which can only be set as a transaction's first statement, so only when this is the outermost one;
    SQLite serialises writers and already reads consistently within a transaction."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _validated(instance: ExportJob | ReportSnapshot, *, checked: tuple[str, ...] = ()) -> None:
    """Field validation without the round trips full_clean() would add: it asks the database whether each
    foreign key's row exists (they are rows this service has just read, kept by PROTECT and the
    database's constraints) and whether the random public_id is unique (a unique index guards it).
    `checked`: fields the caller has already validated another way."""
    foreign_keys = [f.name for f in instance._meta.concrete_fields if f.is_relation]
    instance.full_clean(exclude=[*foreign_keys, *checked], validate_unique=False)


def _audience_json(audience: Audience, content: dict[str, Any]) -> dict[str, Any]:
    return {"kind": audience.kind, "text": content["meta"]["audience_text"]}


def _snapshot_build(*, user: User, scope: ReportScope, audience: Audience) -> ReportSnapshot:
    cut_off = timezone.now()
    content = report_content(scope=scope, audience=audience, cut_off=cut_off)
    text = canonical_json(content)
    snapshot = ReportSnapshot(
        plan=scope.plan,
        period=scope.period,
        span=scope.span,
        scope=scope.as_json(),
        audience=_audience_json(audience, content),
        cut_off=cut_off,
        rule_version=content["meta"]["rule_version"][:16],
        content=content,
        content_sha256=_text_sha256(text),
        created_by=user,
    )
    # The content goes to the database as the canonical text just hashed, serialised once: JSONField would
    # serialise it twice more (validate() and the INSERT), with every Chinese character as a \u escape
    # for PostgreSQL to decode. Serialising it above is the check that validate() would repeat. The column
    # is `json` on PostgreSQL, so the text is stored as it is (see JSONTextField).
    _validated(snapshot, checked=("content",))
    snapshot.content = Cast(Value(text), output_field=ReportSnapshot._meta.get_field("content"))
    snapshot.save()
    snapshot.content = content
    return snapshot


def snapshot_create(*, user: User, scope: ReportScope, audience: Audience) -> ReportSnapshot:
    """Freeze what a report for this scope and audience states now."""
    with _consistent_read():
        return _snapshot_build(user=user, scope=scope, audience=audience)


def _clean_choice(value: Any, choices: list[str], field: str, message: str) -> str:
    text = str(value or "").strip().lower()
    if text not in choices:
        raise ValidationError({field: [message]})
    return text


def export_job_create(
    *,
    user: User,
    format: Any,
    period: Any = None,
    plan: Plan | None = None,
    programmes: Any = None,
    measures: Any = None,
    cities: Any = None,
    bodies: Any = None,
    part: Any = "",
    snapshot: ReportSnapshot | None = None,
    background: bool = False,
) -> ExportJob:
    """Log and start one export. With `snapshot`, the report is rendered again from it (same figures);
    without, a new snapshot is taken when the job runs."""
    export_audience(user=user)  # refuses administrators and outsiders before anything else
    fmt = _clean_choice(format, ExportJob.Format.values, "format", _("格式应为 xlsx、pdf 或 csv。"))
    part_key = str(part or "").strip()
    if part_key and (fmt != ExportJob.Format.CSV or part_key not in PARTS_BY_KEY):
        raise ValidationError(
            {"part": [_("只有 CSV 可以单独导出一部分，可选：%(parts)s。") % {"parts": "、".join(PARTS_BY_KEY)}]}
        )
    resolved: tuple[ReportScope, Audience] | None = None
    if snapshot is not None:
        if not snapshots_visible(user=user).filter(pk=snapshot.pk).exists():
            raise ValidationError({"snapshot": [_("快照不存在或不在您的权限范围内。")]})
        job = ExportJob(
            created_by=user,
            plan=snapshot.plan,
            period=snapshot.period,
            span=snapshot.span,
            scope=snapshot.scope,
            snapshot=snapshot,
            format=fmt,
            part=part_key,
        )
    else:
        resolved = report_scope_resolve(
            user=user,
            period=period,
            plan=plan,
            programmes=programmes,
            measures=measures,
            cities=cities,
            bodies=bodies,
        )
        scope = resolved[0]
        job = ExportJob(
            created_by=user,
            plan=scope.plan,
            period=scope.period,
            span=scope.span,
            scope=scope.as_json(),
            format=fmt,
            part=part_key,
        )
    job.mode = ExportJob.Mode.QUEUED if background or _is_large(job) else ExportJob.Mode.INLINE
    if job.mode == ExportJob.Mode.INLINE:
        # Claimed as it is written (what _claim would do next): no other run can know of it yet.
        job.status = ExportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.attempts = 1
    _validated(job)
    job.save()
    logger.info(
        "export requested job=%s user=%s format=%s scope=%s snapshot=%s mode=%s",
        job.public_id,
        user.get_username(),
        fmt,
        json.dumps(job.scope, ensure_ascii=False, sort_keys=True),
        snapshot.public_id if snapshot else "-",
        job.mode,
    )
    if job.mode == ExportJob.Mode.INLINE:
        # Built while the request waits: the scope was checked a moment ago, in this request.
        return _run(job, resolved)
    _enqueue(job.pk)
    return job


def _is_large(job: ExportJob) -> bool:
    if job.format == ExportJob.Format.PDF:
        return True  # laying out pages takes seconds even for a small report
    limit = getattr(settings, "EXPORT_INLINE_MAX_ROWS", DEFAULT_INLINE_MAX_ROWS)
    if job.snapshot is not None:
        rows = sum(len(rows) for rows in job.snapshot.content.get("parts", {}).values())
    else:
        # Counted only up to one past the limit, which is all the choice needs: counting every official figure
        # of a national plan's quarter took longer than reading the figures the report states.
        official = Figure.objects.filter(plan=job.plan, period=job.period, basis=Figure.Basis.OFFICIAL)
        rows = official[: limit + 1].count()
    return rows > limit


def export_job_send(job_id: int) -> bool:
    """Ask a worker to build a queued job; a refused send (Redis down) leaves it for `export_jobs_sweep`."""
    from reporting.tasks import export_job_task

    if not task_send(export_job_task, job_id):
        return False
    ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(sent_at=timezone.now())
    return True


def _enqueue(job_id: int) -> None:
    # After commit: a worker must find the row, and a rolled-back request must start nothing.
    transaction.on_commit(lambda: export_job_send(job_id))


def _scope_of(job: ExportJob) -> tuple[ReportScope, Audience]:
    """The job's scope checked again at run time: a membership revoked since the request counts."""
    scope = job.scope or {}
    return report_scope_resolve(
        user=job.created_by,
        period=scope.get("period"),
        plan=job.plan,
        programmes=scope.get("programmes"),
        measures=scope.get("measures"),
        cities=scope.get("cities"),
        bodies=scope.get("bodies"),
    )


def _claim(job_id: int) -> ExportJob | None:
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.status == ExportJob.Status.DONE:
            return None
        job.status = ExportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "attempts", "error"])
        return job


def _ensure_snapshot(job_id: int, resolved: tuple[ReportScope, Audience] | None = None) -> ReportSnapshot:
    """The job's snapshot, taken once: the row lock makes a second run wait and then reuse it. `resolved`:
    the scope as the request that runs the job inline has just checked it."""
    with _consistent_read():
        job = ExportJob.objects.select_for_update().select_related("created_by", "plan").get(pk=job_id)
        if job.snapshot_id is not None:
            return ReportSnapshot.objects.get(pk=job.snapshot_id)
        scope, audience = resolved if resolved is not None else _scope_of(job)
        snapshot = _snapshot_build(user=job.created_by, scope=scope, audience=audience)
        job.snapshot = snapshot
        job.save(update_fields=["snapshot"])
        return snapshot


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def export_job_run(*, job_id: int) -> ExportJob:
    """Build a job's file. Harmless to run again: a done job returns as it is."""
    job = _claim(job_id)
    if job is None:
        return ExportJob.objects.get(pk=job_id)
    return _run(job, None)


def _run(job: ExportJob, resolved: tuple[ReportScope, Audience] | None) -> ExportJob:
    """Build the file of a job this run has claimed. Its scope is checked again here (a membership revoked
    since the request counts), unless `resolved`: a job run inline by the request that has just checked it."""
    job_id = job.pk
    path: Path | None = None
    try:
        snapshot = _ensure_snapshot(job_id, resolved)
        content = {**snapshot.content, "meta": {**snapshot.content["meta"], "snapshot": str(snapshot.public_id)}}
        content["meta"]["content_sha256"] = snapshot.content_sha256
        # Each run writes its own file: two runs at once never write into the same one.
        name = f"{job.public_id}-{uuid.uuid4().hex[:12]}.{file_extension(job.format, job.part)}"
        path = exports_root() / name
        render(content, fmt=job.format, part=job.part, path=path)
        sha256, size = _file_digest(path)
    except OperationalError:
        # The database went away: the task's retry runs the job again from the start.
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    except Exception as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        logger.exception("export failed job=%s", job.public_id)
        with transaction.atomic():
            failed = ExportJob.objects.select_for_update().get(pk=job_id)
            if failed.status != ExportJob.Status.DONE:
                failed.status = ExportJob.Status.FAILED
                failed.error = f"{type(exc).__name__}: {exc}"[:2000]
                failed.finished_at = timezone.now()
                failed.save(update_fields=["status", "error", "finished_at"])
            return failed
    finished = {
        "status": ExportJob.Status.DONE,
        "file_path": f"{EXPORT_DIR}/{name}",
        "sha256": sha256,
        "size": size,
        "finished_at": timezone.now(),
        "error": "",
    }
    for field_name, value in finished.items():
        setattr(job, field_name, value)
    _validated(job)
    # One conditional UPDATE: of two runs finishing at once, the second waits for the first's row lock,
    # then finds the job done and records nothing.
    recorded = ExportJob.objects.filter(pk=job_id).exclude(status=ExportJob.Status.DONE).update(**finished)
    done = ExportJob.objects.get(pk=job_id)
    if not recorded:
        # Another run finished first; its file is the one on record.
        path.unlink(missing_ok=True)
        return done
    logger.info("export done job=%s sha256=%s size=%s", done.public_id, sha256, size)
    return done


def export_download_log(*, job: ExportJob, user: User) -> None:
    """A download is logged as well as the export itself: who fetched which file, when."""
    logger.info(
        "export downloaded job=%s by=%s format=%s sha256=%s snapshot=%s",
        job.public_id,
        user.get_username(),
        job.format,
        job.sha256,
        job.snapshot.public_id if job.snapshot else "-",
    )
