"""Writes to a submission's content: creating it, its values, its narratives.

Each public function is one transaction that locks the submission row first, so two people editing
at once are serialised and the second, holding a stale version, is refused instead of overwriting."""

import datetime
import functools
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from simple_history.utils import get_change_reason_from_object

from common.errors import ApplicationError
from common.numbers import decimal_parse
from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from reporting.models import DataValue, Narrative, Period, Submission, Transition
from reporting.selectors import indicators_expected, measures_for_narrative
from reporting.selectors.definitions import INDICATOR_FIELDS_FOR_VALUES

MAX_COMMENT = 2000
MAX_NARRATIVE = 5000
VALUE_FIELDS = ("value", "numerator", "denominator", "done", "done_on", "comment")


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ValuesWritten:
    """What a values write leaves behind, for a submit in the same transaction to check without reading it
    back: the reporter's expected indicators (in their order) and the submission's values after the write
    (DataValue rows; a row this write made may be its columns only, the fields a DataValue has by attname)."""

    summary: WriteSummary
    indicators: list[Indicator]
    values: dict[int, DataValue | SimpleNamespace]


def _today() -> datetime.date:
    return timezone.localdate()


def submission_lock(*, submission: Submission, expected_version: int | None) -> Submission:
    """Re-read the row under a lock and check the caller saw the current version."""
    locked = (
        # of=self: PostgreSQL refuses FOR UPDATE on the nullable side of the region/body outer joins.
        Submission.objects.select_for_update(of=("self",))
        .select_related("period", "plan", "region", "body")
        .get(pk=submission.pk)
    )
    version_check(submission=locked, expected_version=expected_version)
    return locked


def version_check(*, submission: Submission, expected_version: int | None) -> None:
    """412 when the caller read another version than the one it is about to overwrite."""
    if expected_version is not None and expected_version != submission.version:
        raise ApplicationError(
            _("该报表已被他人修改（当前版本 %(current)s，您提交的版本 %(given)s），请刷新后重试，您的修改未保存。")
            % {"current": submission.version, "given": expected_version},
            errors={"version": [_("版本已过期。")]},
            status_code=412,
        )


def ensure_period_open(period: Period) -> None:
    if period.status == Period.Status.CLOSED:
        raise ApplicationError(
            _("填报期 %(period)s 已关闭，须由协调小组办公室重新开放后方可修改。") % {"period": period.code},
            errors={"period": [_("填报期已关闭。")]},
        )


def ensure_editable(*, submission: Submission, user: User) -> None:
    if not user.has_perm("reporting.edit_submission", submission):
        raise PermissionDenied(_("您无权修改该报表。"))
    if submission.status == Submission.Status.CONFIRMED:
        raise ApplicationError(
            _("该报表已由省级确认并锁定；如需修改，须由协调小组办公室说明原因后重新打开。"),
            errors={"status": [_("已确认，已锁定。")]},
        )
    if submission.status in (Submission.Status.SUBMITTED, Submission.Status.CITY_APPROVED):
        raise ApplicationError(
            _("该报表已提交，审核期间处于锁定状态；如需修改，请审核人退回。"),
            errors={"status": [_("已提交，已锁定。")]},
        )
    ensure_period_open(submission.period)


def _bump_in_memory(submission: Submission) -> None:
    """Every content write moves a returned submission back to draft and bumps the version."""
    if submission.status == Submission.Status.RETURNED:
        submission.status = Submission.Status.DRAFT
    submission.version += 1


def _bump(submission: Submission, user: User) -> None:
    _bump_in_memory(submission)
    submission_save(submission=submission)


def _rows_upsert(
    *,
    model: type[DataValue] | type[Narrative],
    key: str,
    submission: Submission,
    user: User,
    cleaned: list,
    fresh: bool = False,
) -> tuple[WriteSummary, dict[int, Any]]:
    """Create or update one row per (submission, key object), writing only rows whose fields changed so
    that history records real changes only; bump the submission's version if anything was written.

    Set-based, so a report costs the same few queries whatever its size: one read of the rows there are,
    one INSERT … ON CONFLICT DO UPDATE of the new and changed ones (the submission row is locked, so no
    one else writes them meanwhile), and their historical rows in one INSERT per kind (created, changed),
    as the per-row save() of simple-history would have written them. A submission created in this
    transaction (`fresh`) has no rows yet, so they are not read.

    Returns the summary and the submission's rows after the write, keyed by the key object's id."""
    summary = WriteSummary()
    existing = {} if fresh else {getattr(row, f"{key}_id"): row for row in model.objects.filter(submission=submission)}
    after = dict(existing)
    fields = list(cleaned[0][1]) if cleaned else []
    created: list[Any] = []
    changed: list[Any] = []
    targets: dict[int, Any] = {}
    key_id = f"{key}_id"
    submission_id, user_id = submission.pk, user.pk
    for target, clean in cleaned:
        target_id = target.pk
        current = existing.get(target_id)
        if current is not None and all(getattr(current, k) == v for k, v in clean.items()):
            summary.unchanged += 1
            continue
        # Each row as its columns (attnames): the one-statement write reads nothing else, and a model instance
        # costs more to build than that statement takes to send it. The ORM path below makes instances.
        row = SimpleNamespace(submission_id=submission_id, updated_by_id=user_id, **{key_id: target_id}, **clean)
        (created if current is None else changed).append(row)
        targets[target_id] = target
        after[target_id] = row
    if not created and not changed:
        return summary, after
    summary.created, summary.updated = len(created), len(changed)
    if _upsert_with_history_sql(
        model=model, key=key, created=created, changed=changed, fields=fields, submission=submission
    ):
        return summary, after

    def instance(row: SimpleNamespace) -> Any:
        target = targets[getattr(row, key_id)]
        made = model(submission=submission, updated_by=user, **{key: target}, **{f: getattr(row, f) for f in fields})
        after[target.pk] = made
        return made

    created, changed = [instance(r) for r in created], [instance(r) for r in changed]
    written = model.objects.bulk_create(
        [*created, *changed],
        update_conflicts=True,
        unique_fields=["submission", key],
        update_fields=[*fields, "updated_by", "updated_at"],
    )
    if any(saved.pk is None for saved in written):  # a back end that returns no ids from an upsert
        ids = dict(model.objects.filter(submission=submission).values_list(f"{key}_id", "pk"))
        for saved in written:
            saved.pk = ids[getattr(saved, f"{key}_id")]
    when = timezone.now()
    for rows, update in ((created, False), (changed, True)):
        if rows:
            # The default user is the request's, read the same way a save() of simple-history reads it.
            model.history.bulk_history_create(  # type: ignore[attr-defined]
                rows, update=update, default_change_reason=None, default_date=when
            )
    _bump(submission, user)
    return summary, after


# Values the driver takes as they are, by field class: what `get_db_prep_save` would return unchanged for
# them (a DecimalField's to_python keeps a Decimal of at most 20 digits as it is, and `decimal_parse` lets
# through at most 15 integer and 4 decimal digits; PostgreSQL takes an aware datetime as it is, only a naive
# one is made aware). Anything else goes through `get_db_prep_save`.
_PASS_THROUGH: dict[type, tuple[type, ...]] = {
    models.DecimalField: (Decimal,),
    models.ForeignKey: (int,),
    models.BooleanField: (bool,),
    models.TextField: (str,),
    models.CharField: (str,),
    models.DateField: (datetime.date,),
}


def _db_prep(field: Any, connection: Any) -> Any:
    accepted = _PASS_THROUGH.get(type(field), ())
    aware_as_is = isinstance(field, models.DateTimeField) and connection.vendor == "postgresql"

    def prep(value: Any) -> Any:
        if value is None or type(value) in accepted:
            return value
        if aware_as_is and type(value) is datetime.datetime and value.tzinfo is not None:
            return value
        return field.get_db_prep_save(value, connection)

    return prep


def _column(model: type[models.Model], name: str) -> str:
    """The column of the model's concrete field `name`. The casts are for mypy: get_field may also answer
    with a reverse relation (which has no column) and Field.column is None for a field without a column;
    the names asked for here are always concrete fields of the model."""
    return cast(str, cast(models.Field, model._meta.get_field(name)).column)


# The columns simple-history adds to a historical table; every other column is the tracked row's own.
_HISTORY_COLUMNS = {"history_id", "history_date", "history_change_reason", "history_type", "history_user_id"}


@functools.cache
def _history_layout(model: type[models.Model]) -> tuple[Any, tuple[str, ...]] | None:
    """The historical model of `model` and the columns of its table but history_id, or None when that table
    has columns other than the tracked row's own and simple-history's (then only simple-history writes it).
    Cached: models do not change while the process runs, and `model.history` builds a manager each time."""
    history: Any = model.history.model  # type: ignore[attr-defined]
    tracked = {f.attname for f in model._meta.concrete_fields}
    columns = tuple(f.attname for f in history._meta.concrete_fields if f.attname != "history_id")
    if set(columns) - tracked - _HISTORY_COLUMNS or hasattr(history, "history_relation"):
        return None
    return history, columns


def _history_sql(model: type[models.Model]) -> tuple[Any, tuple[str, ...]] | None:
    """The layout of `model`'s history when a write and its historical rows may be one statement: on
    PostgreSQL (data-modifying WITH), with history switched on, for a historical table of the usual shape."""
    from django.db import connection

    if connection.vendor != "postgresql" or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return None
    return _history_layout(model)


def _history_insert_from(
    *, layout: tuple[Any, tuple[str, ...]], source: str, when: Any, user: Any, reason: Any, kind: tuple[str, list]
) -> tuple[str, list[Any]]:
    """INSERT INTO the historical table the rows simple-history's save() would write for the rows that the
    WITH query `source` returns (every tracked column): one date for all, the change reason, the user, and
    the history type `kind` (an SQL expression over `source` with its parameters)."""
    from django.db import connection

    history, columns = layout
    quote = connection.ops.quote_name
    selected: list[str] = []
    params: list[Any] = []
    extra = {"history_date": [when], "history_change_reason": [reason], "history_user_id": [getattr(user, "pk", None)]}
    for column in columns:
        if column == "history_type":
            selected.append(kind[0])
            params.extend(kind[1])
        elif column in extra:
            selected.append("%s")
            params.extend(extra[column])
        else:
            selected.append(f"{source}.{quote(column)}")
    targets = ", ".join(quote(c) for c in columns)
    table = quote(history._meta.db_table)
    return f"INSERT INTO {table} ({targets}) SELECT {', '.join(selected)} FROM {source}", params  # noqa: S608


def _submission_cte(*, submission: Submission, insert: bool, name: str = "s") -> tuple[str, list[Any]]:
    """`<name> AS (…)`: the UPDATE of the submission's row to its state in memory, as save() writes it, or
    for a new one its INSERT … ON CONFLICT DO NOTHING (an identical request holding the natural key, or
    having committed it, leaves nothing returned); RETURNING every column, for its historical row."""
    from django.db import connection

    quote = connection.ops.quote_name
    fields = [f for f in Submission._meta.concrete_fields if not f.primary_key]
    params = [_db_prep(f, connection)(getattr(submission, f.attname)) for f in fields]
    columns = [quote(cast(str, f.column)) for f in fields]
    returning = ", ".join(quote(cast(str, f.column)) for f in Submission._meta.concrete_fields)
    table = quote(Submission._meta.db_table)
    if insert:
        placeholders = ", ".join(["%s"] * len(columns))
        sql = (
            f"{name} AS (INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "  # noqa: S608
            f"ON CONFLICT DO NOTHING RETURNING {returning})"
        )
        return sql, params
    assignments = ", ".join(f"{c} = %s" for c in columns)
    pk = quote(cast(str, Submission._meta.pk.column))
    return f"{name} AS (UPDATE {table} SET {assignments} WHERE {pk} = %s RETURNING {returning})", [  # noqa: S608
        *params,
        submission.pk,
    ]


def _submission_write_parts(
    *, submission: Submission, insert: bool, layout: tuple[Any, tuple[str, ...]], when: datetime.datetime
) -> tuple[list[str], list[Any]]:
    """The WITH queries that write the submission (`s`) and its historical row (`s_history`), with the
    fields save() would set first: auto_now(_add) dates; the history's user and reason read as
    simple-history reads them (the instance's `_history_user` or the request's user; `_change_reason`)."""
    submission.updated_at = when
    if insert:
        submission.created_at = when
    written, params = _submission_cte(submission=submission, insert=insert)
    history, _columns = layout
    rows, history_params = _history_insert_from(
        layout=layout,
        source="s",
        when=when,
        user=history.get_default_history_user(submission),
        reason=get_change_reason_from_object(submission),
        kind=("%s", ["+" if insert else "~"]),
    )
    return [written, f"s_history AS ({rows})"], [*params, *history_params]


def _transition_part(transition: Transition) -> tuple[str, list[Any]]:
    """`t AS (…)`: the Transition row of the submission written by `s`, returning its id."""
    from django.db import connection

    quote = connection.ops.quote_name
    table = quote(Transition._meta.db_table)
    sql = (
        f"t AS (INSERT INTO {table} (submission_id, action, from_status, to_status, actor_id, at, reason) "  # noqa: S608
        "SELECT s.id, %s, %s, s.status, %s, %s, %s FROM s RETURNING id)"
    )
    return sql, [transition.action, transition.from_status, transition.actor_id, transition.at, transition.reason]


def _submission_write_sql(*, submission: Submission, insert: bool, transition: Transition | None) -> bool | None:
    """On PostgreSQL, save the submission (insert or update), its historical row and the Transition that
    moved it in one statement; None (nothing written) where that path does not apply. For an insert,
    False when the natural key was taken (nothing written), as save() would have raised IntegrityError."""
    from django.db import connection

    layout = _history_sql(Submission)
    if layout is None:
        return None
    when = timezone.now()
    parts, params = _submission_write_parts(submission=submission, insert=insert, layout=layout, when=when)
    if transition is not None:
        transition.at = when
        sql, transition_params = _transition_part(transition)
        parts.append(sql)
        params.extend(transition_params)
    last = "(SELECT id FROM t)" if transition is not None else "NULL"
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT s.id, {last} FROM s", params)  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return False
    submission.pk = row[0]
    submission._state.adding, submission._state.db = False, connection.alias
    if transition is not None:
        transition.pk = row[1]
        transition._state.adding, transition._state.db = False, connection.alias
    return True


def submission_save(*, submission: Submission, transition: Transition | None = None) -> None:
    """Save a submission's changed state with its historical row and, for a state change, its Transition:
    on PostgreSQL one statement, the rows being those save() with simple-history and Transition.save()
    write; elsewhere exactly those calls."""
    written = _submission_write_sql(submission=submission, insert=False, transition=transition)
    if written is False:
        # The caller holds the row's lock, so it cannot have gone; save(force_update=True) would say the same.
        raise DatabaseError("Forced update did not affect any rows.")
    if written is None:
        submission.save()
        if transition is not None:
            transition.save()


def _upsert_with_history_sql(
    *,
    model: type[DataValue] | type[Narrative],
    key: str,
    created: list,
    changed: list,
    fields: list[str],
    submission: Submission | None = None,
) -> bool:
    """On PostgreSQL, the upsert and its historical rows in one statement: INSERT … ON CONFLICT DO UPDATE …
    RETURNING feeds INSERT INTO the historical table, so the historical rows are copies of what was written,
    made by the database instead of as one Python object each. The rows are those `bulk_history_create`
    writes: every tracked column, the same date for all, no change reason, "+" for a created row and "~"
    for a changed one, and the user simple-history would take (the request's). With `submission`, the same
    statement also bumps it (`_bump`) and writes its historical row, as its save() would.
    False (nothing written) where that does not hold: another database, history switched off, a historical
    table with more columns."""
    from django.db import connection

    layout = _history_sql(model)
    submission_layout = _history_sql(Submission) if submission is not None else None
    if layout is None or (submission is not None and submission_layout is None):
        return False
    history, _columns = layout
    columns = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = [*created, *changed]
    if any(not hasattr(rows[0], f.attname) for f in columns if f.attname != "updated_at"):
        return False  # a column the rows do not carry: the ORM path writes its default
    when = timezone.now()
    user = history.get_default_history_user(rows[0])
    ops = connection.ops
    params: list[Any] = []
    prepare = [(f.attname, _db_prep(f, connection)) for f in columns]
    for row in rows:
        row.updated_at = when  # auto_now, as bulk_create's pre_save would set it
        params.extend([prep(getattr(row, attname)) for attname, prep in prepare])
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Concrete fields, each with a column (Field.column is None only for a field without one).
    names = [ops.quote_name(cast(str, f.column)) for f in columns]
    update = [*fields, "updated_by", "updated_at"]
    conflict = [ops.quote_name(_column(model, n)) for n in ("submission", key)]
    assignments = ", ".join(
        f"{ops.quote_name(c)} = EXCLUDED.{ops.quote_name(c)}" for c in (_column(model, n) for n in update)
    )
    pk = ops.quote_name(cast(str, model._meta.pk.column))  # the primary key, a concrete field, has a column
    # Identifiers come from the models' metadata, quoted; every value is a parameter.
    table = ops.quote_name(model._meta.db_table)
    values = ", ".join([placeholder] * len(rows))
    upsert = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES {values} ON CONFLICT ({', '.join(conflict)}) "  # noqa: S608
        f"DO UPDATE SET {assignments} RETURNING {pk}, {', '.join(names)}"
    )
    parts = [f"w AS ({upsert})"]
    if submission is not None and submission_layout is not None:
        _bump_in_memory(submission)
        more, more_params = _submission_write_parts(
            submission=submission, insert=False, layout=submission_layout, when=when
        )
        parts.extend(more)
        params.extend(more_params)
    kind = f"CASE WHEN w.{ops.quote_name(key + '_id')} = ANY(%s::bigint[]) THEN '~' ELSE '+' END"
    rows_sql, rows_params = _history_insert_from(
        layout=layout,
        source="w",
        when=when,
        user=user,
        reason=None,
        kind=(kind, [[getattr(r, f"{key}_id") for r in changed]]),
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {rows_sql}", [*params, *rows_params])
    return True


@transaction.atomic
def submission_create(
    *,
    user: User,
    plan: Plan,
    period: Period,
    region: Region | None = None,
    body: ResponsibleBody | None = None,
) -> tuple[Submission, bool]:
    """Get or create the (reporter, period) submission: the natural key makes a retry harmless."""
    return submission_get_or_create_in_transaction(user=user, plan=plan, period=period, region=region, body=body)


# The foreign keys of a new submission: `full_clean` would check each one exists with a query of its own,
# but every one is an object this request read from the database (or the user it authenticated), and the
# database's foreign keys refuse a row that lost its target anyway.
_CREATE_FOREIGN_KEYS = ["plan", "period", "region", "body", "created_by"]


def submission_get_or_create_in_transaction(
    *,
    user: User,
    plan: Plan,
    period: Period,
    region: Region | None = None,
    body: ResponsibleBody | None = None,
) -> tuple[Submission, bool]:
    """`submission_create` for a caller that already holds a transaction (no savepoint of its own: an error
    must roll the caller's whole transaction back, as `report_upload`'s does)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("submission_get_or_create_in_transaction needs the caller's transaction")
    if (region is None) == (body is None):
        raise ValidationError({"reporter": _("须且只能指定一个填报主体：设区市或省级责任单位。")})
    if region is not None and region.level != Region.Level.CITY:
        raise ValidationError({"region": _("“%(name)s”不是设区市，目前只接受设区市填报。") % {"name": region.name}})
    probe = Submission(plan=plan, period=period, region=region, body=body)
    if not user.has_perm("reporting.edit_submission", probe):
        raise PermissionDenied(_("您无权为“%(name)s”填报。") % {"name": region or body})
    if period.start > _today():
        raise ValidationError({"period": _("%(period)s 尚未开始，不能填报未来季度。") % {"period": period.code}})
    lookup = {"plan": plan, "period": period, "region": region, "body": body}
    if period.status == Period.Status.CLOSED or _history_sql(Submission) is None:
        existing = Submission.objects.filter(**lookup).first()
        if existing is not None:
            return existing, False
        ensure_period_open(period)
    submission = Submission(**lookup, created_by=user)
    # Uniqueness is the database's to decide: a check here races with an identical request, which would
    # answer a confusing "constraint invalid" instead of returning that submission.
    submission.full_clean(exclude=_CREATE_FOREIGN_KEYS, validate_unique=False, validate_constraints=False)
    transition = Transition(
        submission=submission, action=Transition.Action.CREATE, from_status="", to_status=submission.status, actor=user
    )
    # On PostgreSQL the row, its historical row and its Transition are one INSERT … ON CONFLICT DO NOTHING:
    # it waits, as a plain INSERT would, for an identical request holding the natural key, then inserts
    # (that one rolled back) or does nothing (it committed, or the report was there before), and then
    # the report is read. An open period is checked first, a closed one only for a report not there yet.
    written = _submission_write_sql(submission=submission, insert=True, transition=transition)
    if written is False:
        return Submission.objects.get(**lookup), False
    if written is None:
        try:
            with transaction.atomic():
                submission.save()
        except IntegrityError:
            # Two identical requests raced; the other one created it.
            return Submission.objects.get(**lookup), False
        transition.save()
    return submission, True


def _parse_bool(raw: Any, *, field: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in {"true", "1", "yes", "是", "已完成", "y"}:
            return True
        if text in {"false", "0", "no", "否", "未完成", "n"}:
            return False
    raise ValidationError({field: _("应为“是”或“否”。")})


def _parse_date(raw: Any, *, field: str) -> datetime.date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    if isinstance(raw, str):
        try:
            parsed = parse_date(raw.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise ValidationError({field: _("应为日期，格式 YYYY-MM-DD。")})


def value_clean(*, indicator: Indicator, item: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Parse and check one value against its indicator's kind. Raises ValidationError keyed by
    `<prefix>.<field>`; returns the clean fields, every one of VALUE_FIELDS present."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = dict.fromkeys(VALUE_FIELDS)
    clean["comment"] = ""

    def collect(fn, key: str) -> Any:
        try:
            return fn(item.get(key), field=f"{prefix}.{key}")
        except ValidationError as exc:
            for k, msgs in exc.message_dict.items():
                errors.setdefault(k, []).extend(msgs)
            return None

    unknown = set(item) - {*VALUE_FIELDS, "indicator"}
    for key in sorted(unknown):
        errors[f"{prefix}.{key}"] = [_("未知字段。")]

    comment = item.get("comment") or ""
    if not isinstance(comment, str):
        errors[f"{prefix}.comment"] = [_("说明应为文本。")]
    elif len(comment) > MAX_COMMENT:
        errors[f"{prefix}.comment"] = [_("说明不能超过 %(n)s 个字符。") % {"n": MAX_COMMENT}]
    else:
        clean["comment"] = comment.strip()

    kind = indicator.kind
    given = {k for k in ("value", "numerator", "denominator", "done", "done_on") if item.get(k) not in (None, "")}
    if kind == Indicator.Kind.MILESTONE:
        for key in sorted(given & {"value", "numerator", "denominator"}):
            errors[f"{prefix}.{key}"] = [_("里程碑指标只填是否完成及完成日期。")]
        clean["done"] = collect(_parse_bool, "done")
        clean["done_on"] = collect(_parse_date, "done_on")
        if clean["done"] is False and clean["done_on"] is not None:
            errors[f"{prefix}.done_on"] = [_("未完成的事项不应填写完成日期。")]
        if clean["done_on"] is not None and clean["done_on"] > _today():
            errors[f"{prefix}.done_on"] = [_("完成日期不能晚于今天。")]
    elif kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        for key in sorted(given & {"value", "done", "done_on"}):
            errors[f"{prefix}.{key}"] = [_("比率指标请分别填写分子和分母。")]
        numerator = collect(decimal_parse, "numerator")
        denominator = collect(decimal_parse, "denominator")
        if numerator is not None and numerator < 0:
            errors[f"{prefix}.numerator"] = [_("分子不能为负数。")]
        if denominator is not None and denominator <= 0:
            errors[f"{prefix}.denominator"] = [_("分母必须大于 0。")]
        if (
            kind == Indicator.Kind.SHARE
            and numerator is not None
            and denominator is not None
            and denominator > 0
            and numerator > denominator
        ):
            errors[f"{prefix}.numerator"] = [_("占比指标的分子不能大于分母（占比须在 0–100% 之间）。")]
        clean["numerator"], clean["denominator"] = numerator, denominator
    else:
        for key in sorted(given & {"numerator", "denominator", "done", "done_on"}):
            errors[f"{prefix}.{key}"] = [_("该指标只填写数值。")]
        value = collect(decimal_parse, "value")
        if value is not None and value < 0:
            errors[f"{prefix}.value"] = [_("数值不能为负数。")]
        clean["value"] = value
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def submission_values_put(
    *,
    submission: Submission,
    user: User,
    values: list[dict[str, Any]],
    expected_version: int | None = None,
) -> tuple[Submission, WriteSummary]:
    """Write many values at once. Each item is the whole state of one indicator's value; indicators
    not named are left as they are. All or nothing: one bad item and nothing is written."""
    submission = submission_lock(submission=submission, expected_version=expected_version)
    ensure_editable(submission=submission, user=user)
    return submission, values_write_locked(submission=submission, user=user, values=values).summary


def values_write_locked(
    *,
    submission: Submission,
    user: User,
    values: Any,
    fresh: bool = False,
    indicators: list[Indicator] | None = None,
) -> ValuesWritten:
    """Check every item, then write them, for a submission the caller has locked and found editable
    (`fresh`: created in this transaction, so it has no values yet; `indicators`: its reporter's
    `indicators_for_values`, when the caller has read them). Raises ValidationError naming each failing
    item (`values.<code>.<field>`) before anything is written."""
    if indicators is None:
        indicators = indicators_for_values(submission=submission)
    cleaned = values_clean(submission=submission, values=values, indicators=indicators)
    summary, after = _rows_upsert(
        model=DataValue, key="indicator", submission=submission, user=user, cleaned=cleaned, fresh=fresh
    )
    return ValuesWritten(summary=summary, indicators=indicators, values=after)


def indicators_for_values(*, submission: Submission) -> list[Indicator]:
    """The reporter's expected indicators, in their order, without the related rows and the texts nothing
    here reads."""
    expected = indicators_expected(plan=submission.plan, region=submission.region, body=submission.body)
    return list(expected.select_related(None).only(*INDICATOR_FIELDS_FOR_VALUES))


def values_clean(
    *, submission: Submission, values: Any, indicators: list[Indicator] | None = None
) -> list[tuple[Indicator, dict[str, Any]]]:
    """Every item checked against its indicator's kind, the indicators read in one query (two when some
    codes are not the reporter's: one more to tell "not yours" from "unknown"); none when the caller
    passes the reporter's `indicators`."""
    if not isinstance(values, list):
        raise ValidationError({"values": [_("应为列表。")]})
    if indicators is None:
        indicators = indicators_for_values(submission=submission)
    expected = {i.code: i for i in indicators}
    errors: dict[str, list[str]] = {}
    cleaned: list[tuple[Indicator, dict[str, Any]]] = []
    seen: set[str] = set()
    strangers: list[str] = []
    for index, item in enumerate(values):
        if not isinstance(item, dict):
            errors[f"values[{index}]"] = [_("每一项应为对象。")]
            continue
        code = item.get("indicator")
        if not isinstance(code, str) or not code:
            errors[f"values[{index}].indicator"] = [_("缺少指标代码。")]
            continue
        if code in seen:
            errors[f"values.{code}"] = [_("同一指标在一次提交中出现了多次。")]
            continue
        seen.add(code)
        indicator = expected.get(code)
        if indicator is None:
            strangers.append(code)
            continue
        try:
            cleaned.append((indicator, value_clean(indicator=indicator, item=item, prefix=f"values.{code}")))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if strangers:
        known = set(Indicator.objects.filter(plan=submission.plan, code__in=strangers).values_list("code", flat=True))
        for code in strangers:
            unknown = _("未知的指标代码“%(code)s”。") % {"code": code[:64]}
            errors[f"values.{code}"] = [_("该指标不由本填报主体填报。") if code in known else unknown]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def submission_narratives_put(
    *,
    submission: Submission,
    user: User,
    narratives: list[dict[str, Any]],
    expected_version: int | None = None,
) -> tuple[Submission, WriteSummary]:
    """Write the per-measure narratives (进展情况, 存在问题, 下步计划); all or nothing."""
    submission = submission_lock(submission=submission, expected_version=expected_version)
    ensure_editable(submission=submission, user=user)
    if not isinstance(narratives, list):
        raise ValidationError({"narratives": [_("应为列表。")]})
    allowed = {m.number: m for m in measures_for_narrative(plan=submission.plan, body=submission.body)}
    errors: dict[str, list[str]] = {}
    cleaned: list[tuple[Measure, dict[str, str]]] = []
    seen: set[int] = set()
    for index, item in enumerate(narratives):
        if not isinstance(item, dict):
            errors[f"narratives[{index}]"] = [_("每一项应为对象。")]
            continue
        number = item.get("measure")
        if isinstance(number, bool) or not isinstance(number, int):
            errors[f"narratives[{index}].measure"] = [_("举措编号应为整数。")]
            continue
        if number in seen:
            errors[f"narratives.{number}"] = [_("同一举措出现了多次。")]
            continue
        seen.add(number)
        measure = allowed.get(number)
        if measure is None:
            errors[f"narratives.{number}.measure"] = [_("举措 %(n)s 不存在或不由本单位牵头。") % {"n": number}]
            continue
        clean: dict[str, str] = {}
        for key in ("progress", "problems", "next_steps"):
            text = item.get(key) or ""
            if not isinstance(text, str):
                errors[f"narratives.{number}.{key}"] = [_("应为文本。")]
            elif len(text) > MAX_NARRATIVE:
                errors[f"narratives.{number}.{key}"] = [_("不能超过 %(n)s 个字符。") % {"n": MAX_NARRATIVE}]
            else:
                clean[key] = text.strip()
        unknown = set(item) - {"measure", "progress", "problems", "next_steps"}
        for key in sorted(unknown):
            errors[f"narratives.{number}.{key}"] = [_("未知字段。")]
        cleaned.append((measure, clean))
    if errors:
        raise ValidationError(errors)

    summary, _rows = _rows_upsert(model=Narrative, key="measure", submission=submission, user=user, cleaned=cleaned)
    return submission, summary


def jump_exceeds(*, current: Decimal | None, previous: Decimal | None) -> bool:
    """True when the move from last quarter is larger than REPORTING_JUMP_THRESHOLD (a share of the old value)."""
    if current is None or previous is None:
        return False
    if previous == 0:
        return current != 0
    threshold = Decimal(str(settings.REPORTING_JUMP_THRESHOLD))
    return abs(current - previous) / abs(previous) > threshold
