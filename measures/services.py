"""Writes of the plan: loading a plan directory into the database.

`plan_load` writes the plan, its sections, programmes, measures and tasks, the responsible bodies, the
proposed division of labour and the regions from a checked `PlanSource` (see `measures.plan_source`).
The indicators and targets are written by `indicators.services.plan_indicators_load`; the `load_plan`
command runs both in one transaction.

Loading is idempotent. Rows are matched by natural key (plan code, section kind and number, programme,
measure and task numbers, body code, region code), and a row is saved only when one of its fields
differs from the data, so a second load of the same data writes nothing: same rows, same ids, and no
new history records.
"""

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from simple_history.utils import bulk_create_with_history

from measures.models import Measure, Plan, PlanSection, Programme, Region, Responsibility, ResponsibleBody, Task
from measures.plan_source import PlanSource

M = TypeVar("M", bound=models.Model)
K = TypeVar("K", bound=Hashable)


@dataclass
class RowCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    # Rows of this plan in the database that the data no longer lists; left in place (reports may
    # refer to them), and shown so that whoever edited the data can decide.
    stale: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass
class LoadReport:
    plan_code: str = ""
    counts: dict[str, RowCounts] = field(default_factory=dict)
    # Measures or tasks whose division of labour a coordinator has confirmed: the loader leaves them be.
    confirmed_scopes: int = 0

    def __getitem__(self, name: str) -> RowCounts:
        return self.counts.setdefault(name, RowCounts())

    @property
    def changed(self) -> bool:
        return any(counts.changed for counts in self.counts.values())


def rows_sync(
    *,
    model: type[M],
    existing: dict[K, M],
    wanted: dict[K, dict[str, Any]],
    counts: RowCounts,
    reason: str,
    label: Callable[[K], str],
) -> dict[K, M]:
    """Create the missing rows, update the ones that differ, leave the rest untouched.

    `wanted` maps each natural key to the row's field values (foreign keys by attname, e.g. plan_id).
    Returns every wanted row by key, saved. Field validation errors name the model and the key.
    """
    rows: dict[K, M] = {}
    to_create: list[M] = []
    for key, values in wanted.items():
        row = existing.get(key)
        if row is None:
            row = model(**values)
            row_validate(row, label(key))
            to_create.append(row)
        else:
            changed = [name for name, value in values.items() if getattr(row, name) != value]
            if changed:
                for name in changed:
                    setattr(row, name, values[name])
                row_validate(row, label(key))
                row._change_reason = reason  # type: ignore[attr-defined]
                row.save()
                counts.updated += 1
            else:
                counts.unchanged += 1
        rows[key] = row
    if to_create:
        if hasattr(model, "history"):
            bulk_create_with_history(to_create, model, default_change_reason=reason)
        else:
            model._default_manager.bulk_create(to_create)
        counts.created += len(to_create)
    counts.stale += len(set(existing) - set(wanted))
    return rows


def row_validate(row: models.Model, label: str) -> None:
    """full_clean() without the checks that cost one query per row.

    The loader has already checked the natural keys of the whole data set for duplicates, takes every
    foreign key from a row it read or wrote in this same transaction, and the database enforces the
    same constraints before the transaction commits; asking the database again row by row would cost
    some two thousand queries on every load (and the test suite loads the plan often).
    """
    foreign_keys = [f.name for f in row._meta.concrete_fields if f.is_relation]
    try:
        row.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        details = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
        raise ValidationError(f"{label}: {details}") from error


def by_key(rows: Iterable[M], key: Callable[[M], K]) -> dict[K, M]:
    return {key(row): row for row in rows}


@transaction.atomic
def plan_load(*, source: PlanSource, report: LoadReport | None = None) -> tuple[Plan, LoadReport]:
    """Write everything of the plan except its indicators; returns the plan and what changed."""
    report = report if report is not None else LoadReport()
    report.plan_code = source.plan["code"]
    reason = f"load_plan {source.plan['code']}"

    bodies = bodies_sync(source=source, report=report, reason=reason)
    regions_sync(source=source, report=report, reason=reason)
    home = Region.objects.get(code=source.regions_root).pk if source.regions_root else None

    plan = rows_sync(
        model=Plan,
        existing=by_key(Plan.objects.filter(code=source.plan["code"]), lambda p: p.code),
        wanted={source.plan["code"]: {**source.plan, "home_region_id": home}},
        counts=report["plans"],
        reason=reason,
        label=lambda code: f"plan {code}",
    )[source.plan["code"]]

    rows_sync(
        model=PlanSection,
        existing=by_key(PlanSection.objects.filter(plan=plan), lambda s: (s.kind, s.number)),
        wanted={
            (s.kind, s.number): {
                "plan_id": plan.pk,
                "kind": s.kind,
                "number": s.number,
                "title": s.title,
                "title_en": s.title_en,
                "text": s.text,
            }
            for s in source.sections
        },
        counts=report["sections"],
        reason=reason,
        label=lambda key: f"section {key[0]} {key[1]}",
    )
    programmes = rows_sync(
        model=Programme,
        existing=by_key(Programme.objects.filter(plan=plan), lambda p: p.number),
        wanted={
            p.number: {
                "plan_id": plan.pk,
                "number": p.number,
                "title": p.title,
                "title_en": p.title_en,
                "heading": p.heading,
            }
            for p in source.programmes
        },
        counts=report["programmes"],
        reason=reason,
        label=lambda number: f"programme {number}",
    )
    measures = rows_sync(
        model=Measure,
        existing=by_key(Measure.objects.filter(plan=plan), lambda m: m.number),
        wanted={
            m.number: {
                "plan_id": plan.pk,
                "programme_id": programmes[m.programme].pk,
                "number": m.number,
                "title": m.title,
                "title_en": m.title_en,
                "text": m.text,
            }
            for m in source.measures
        },
        counts=report["measures"],
        reason=reason,
        label=lambda number: f"measure {number}",
    )
    tasks = rows_sync(
        model=Task,
        existing=by_key(
            Task.objects.filter(measure__plan=plan).select_related("measure"), lambda t: (t.measure.number, t.number)
        ),
        wanted={
            (m.number, t.number): {
                "measure_id": measures[m.number].pk,
                "number": t.number,
                "title": t.title,
                "title_en": t.title_en,
                "sentence": t.sentence,
                "deadline": t.deadline,
                "recurrence": t.recurrence,
            }
            for m in source.measures
            for t in m.tasks
        },
        counts=report["tasks"],
        reason=reason,
        label=lambda key: f"task {key[0]}.{key[1]}",
    )
    responsibilities_sync(
        source=source, plan=plan, measures=measures, tasks=tasks, bodies=bodies, report=report, reason=reason
    )
    return plan, report


def bodies_sync(*, source: PlanSource, report: LoadReport, reason: str) -> dict[str, ResponsibleBody]:
    codes = [b.code for b in source.bodies]
    # Bodies are shared by every plan, so a body this plan does not list is not stale.
    return rows_sync(
        model=ResponsibleBody,
        existing=by_key(ResponsibleBody.objects.filter(code__in=codes), lambda b: b.code),
        wanted={
            b.code: {"code": b.code, "name": b.name, "name_en": b.name_en, "short_name": b.short_name, "kind": b.kind}
            for b in source.bodies
        },
        counts=report["bodies"],
        reason=reason,
        label=lambda code: f"body {code}",
    )


def regions_sync(*, source: PlanSource, report: LoadReport, reason: str) -> dict[str, Region]:
    """Regions level by level, so that every parent exists before its children are written."""
    existing = by_key(Region.objects.filter(code__in=[r.code for r in source.regions]), lambda r: r.code)
    saved: dict[str, Region] = {}
    for level in ("province", "city", "county"):
        saved |= rows_sync(
            model=Region,
            existing={code: row for code, row in existing.items() if row.level == level},
            wanted={
                r.code: {
                    "code": r.code,
                    "name": r.name,
                    "name_en": r.name_en,
                    "level": r.level,
                    "parent_id": saved[r.parent].pk if r.parent else None,
                    "division_year": r.division_year,
                    "sort_order": r.sort_order,
                }
                for r in source.regions
                if r.level == level
            },
            counts=report["regions"],
            reason=reason,
            label=lambda code: f"region {code}",
        )
    # A region that changed level was counted stale at its old level and written at its new one.
    report["regions"].stale = 0
    return saved


def responsibilities_sync(
    *,
    source: PlanSource,
    plan: Plan,
    measures: dict[int, Measure],
    tasks: dict[tuple[int, int], Task],
    bodies: dict[str, ResponsibleBody],
    report: LoadReport,
    reason: str,
) -> None:
    """The proposed division of labour: one lead and any co-operating bodies per measure and per task.

    The proposal belongs to the loader only until a coordinator confirms it: once a measure or task has
    any confirmed (is_proposed=False) row, the loader leaves that measure or task alone. Elsewhere it
    deletes the proposed rows the data no longer lists, so that each scope keeps exactly one lead.
    """
    rows = Responsibility.objects.filter(measure__plan=plan).select_related("measure", "task", "body")
    by_scope: dict[tuple[int, int | None], list[Responsibility]] = {}
    for row in rows:
        scope = (row.measure.number, row.task.number if row.task else None)
        by_scope.setdefault(scope, []).append(row)
    confirmed = {scope for scope, scope_rows in by_scope.items() if any(not r.is_proposed for r in scope_rows)}

    wanted: dict[tuple[int, int | None, str], dict[str, Any]] = {}
    for m in source.measures:
        scopes: list[tuple[int | None, str, tuple[str, ...]]] = [(None, m.lead, m.cooperating)]
        scopes += [(t.number, t.lead, t.cooperating) for t in m.tasks]
        for task_number, lead, cooperating in scopes:
            if (m.number, task_number) in confirmed:
                continue
            for code, role in [
                (lead, Responsibility.Role.LEAD),
                *((c, Responsibility.Role.COOPERATING) for c in cooperating),
            ]:
                wanted[(m.number, task_number, code)] = {
                    "measure_id": measures[m.number].pk,
                    "task_id": tasks[(m.number, task_number)].pk if task_number else None,
                    "body_id": bodies[code].pk,
                    "role": role,
                    "is_proposed": True,
                }
    report.confirmed_scopes = len(confirmed)
    existing = {
        (r.measure.number, r.task.number if r.task else None, r.body.code): r
        for scope, scope_rows in by_scope.items()
        if scope not in confirmed
        for r in scope_rows
    }
    counts = report["responsibilities"]
    rows_sync(
        model=Responsibility,
        existing=existing,
        wanted=wanted,
        counts=counts,
        reason=reason,
        label=lambda key: f"responsibility {key[0]}.{key[1] or '-'} {key[2]}",
    )
    counts.stale = 0
    for key in set(existing) - set(wanted):
        row = existing[key]
        row._change_reason = reason  # type: ignore[attr-defined]
        row.delete()
        counts.deleted += 1
