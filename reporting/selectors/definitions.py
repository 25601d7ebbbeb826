"""What a whole-report upload reads before it writes, in one statement: the user's memberships, the period,
the reporter (city or body) and the plan it names, and a digest of the reporter's indicator set.

Each of these was an ORM query of its own, and building and compiling those querysets took longer than
PostgreSQL took to answer them, once for every report of a quarter-end burst. The rows are read on every
request, as before: nothing here is kept between requests but the reporter's indicator list, kept per
process under a digest of exactly the rows it was built from (their ids, codes, names, kinds and scales, in
their order), which this statement reads afresh; any change to the set (an indicator added, deactivated,
renamed, renumbered) changes the digest and the list is read again. The memberships are read per request,
so a role ended a moment ago counts at once.

Every answer is a hint: the serializer's validators use an object only when it was read for exactly the
code they are checking, and read it themselves otherwise (another database, an unexpected input, a code
that matched nothing, whose error message they own)."""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, models
from django.utils import timezone

from common.rows import model_column, model_columns, model_fields, model_from_row
from indicators.models import Indicator
from measures.models import Plan, Region, ResponsibleBody
from portal.accounts.selectors import memberships_attach, memberships_sql
from reporting.models import Period
from reporting.selectors import period_code_parse

# What checking, writing and the completeness check read of an indicator (`value_clean`, `_rows_upsert`,
# `submission_completeness_errors`, `value_as_number`): its long texts (definition, labels) are not read.
INDICATOR_FIELDS_FOR_VALUES = ("id", "plan_id", "code", "name", "kind", "scale")

# Indicator lists kept by this process, by (plan, reporter, digest): a handful of reporter kinds and plans, so
# the bound only stops lists of old digests piling up. A plain dict: each get and set is atomic in threads too.
_KEPT_MAX = 64
_indicator_sets: dict[tuple[int, str, str], list[Indicator]] = {}


def _indicators_from_where(*, plan: tuple[str, list[Any]], body: tuple[str, list[Any]] | None) -> tuple[str, list[Any]]:
    """FROM … WHERE of the reporter's indicators (`indicators_expected`): a city's those marked for cities, a
    body's the ones it leads marked for bodies; `plan` and `body` are SQL giving their ids, with parameters."""
    reporters = [Indicator.Reporter.BODY if body is not None else Indicator.Reporter.CITY, Indicator.Reporter.BOTH]
    sql = (
        "FROM indicators_indicator i LEFT JOIN measures_measure m ON m.id = i.measure_id "
        f"WHERE i.plan_id = {plan[0]} AND i.is_active AND i.reporter IN (%s, %s)"
    )
    params = [*plan[1], *(str(r) for r in reporters)]
    if body is not None:
        sql += f" AND i.lead_body_id = {body[0]}"
        params.extend(body[1])
    return sql, params


# Indicator's ordering (plan, measure number, sort order, code) within one plan; code is unique in a plan.
_INDICATOR_ORDER = "m.number, i.sort_order, i.code"


def _indicator_columns() -> str:
    return ", ".join(f"i.{model_column(f)}" for f in model_fields(Indicator, INDICATOR_FIELDS_FOR_VALUES))


def _indicators_digest(*, plan: tuple[str, list[Any]], body: tuple[str, list[Any]] | None) -> tuple[str, list[Any]]:
    """SELECT of the digest of the reporter's indicator list: every field kept, in the list's order."""
    source, params = _indicators_from_where(plan=plan, body=body)
    aggregate = f"json_agg(json_build_array({_indicator_columns()}) ORDER BY {_INDICATOR_ORDER})"
    return f"SELECT md5({aggregate}::text) {source}", params


@dataclass
class ReportDefinitions:
    """The rows read for the codes a report names, each with the code it was read for."""

    found: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    indicators: list[Indicator] | None = None
    indicators_for: tuple[Any, ...] = ()

    def get(self, name: str, key: Any) -> Any:
        """The object read for `name` under exactly `key`, or None (not read, or nothing matched)."""
        read = self.found.get(name)
        if read is None or read[0] != key:
            return None
        return read[1]

    def indicators_of(
        self, *, plan: Plan, region: Region | None, body: ResponsibleBody | None
    ) -> list[Indicator] | None:
        """The reporter's indicators when they were read for these very objects, else None."""
        if self.indicators is None or len(self.indicators_for) != 3:
            return None
        if any(a is not b for a, b in zip(self.indicators_for, (plan, region, body), strict=True)):
            return None
        return list(self.indicators)


def _code(data: dict[str, Any], name: str) -> str | None:
    """The code as the serializer's CharField leaves it (stripped), for string input only."""
    raw = data.get(name)
    return raw.strip() if isinstance(raw, str) and raw.strip() else None


def report_definitions_read(*, user: User, data: Any) -> ReportDefinitions | None:
    """One statement on PostgreSQL; None elsewhere or for a body that is not a JSON object (then the
    serializer and the services read what they need as usual). The user's memberships are attached to
    `user` for `user_scope`, as `with_memberships` does for a session's user."""
    if connection.vendor != "postgresql" or not isinstance(data, dict):
        return None
    day = timezone.localdate()
    members, params = memberships_sql(user_id=user.pk, day=day)
    select = [f"{members}"]
    joins: list[str] = []
    join_params: list[Any] = []
    wanted: list[tuple[str, Any, type[models.Model]]] = []

    def lateral(name: str, key: Any, model: type[models.Model], where: tuple[str, list[Any]], order: str) -> None:
        alias = f"d_{name}"
        table = connection.ops.quote_name(model._meta.db_table)
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {model_columns(model, 't')} FROM {table} t "  # noqa: S608 - the models' own names
            f"WHERE {where[0]} ORDER BY {order} LIMIT 1) {alias} ON TRUE"
        )
        select.append(model_columns(model, alias))
        join_params.extend(where[1])
        wanted.append((name, key, model))

    period_code = _code(data, "period")
    parsed = period_code_parse(code=period_code) if period_code else None
    if parsed is not None:
        lateral("period", period_code, Period, ("t.year = %s AND t.quarter = %s", list(parsed)), "t.id")
    region_code, body_code = _code(data, "region"), _code(data, "body")
    if region_code is not None:
        lateral("region", region_code, Region, ("t.code = %s", [region_code]), "t.sort_order, t.code")
    if body_code is not None:
        lateral("body", body_code, ResponsibleBody, ("t.code = %s", [body_code]), "t.code")
    plan_given = "plan" in data
    plan_code = _code(data, "plan")
    if plan_code is not None or not plan_given:
        where = ("t.code = %s", [plan_code]) if plan_code is not None else ("TRUE", [])
        lateral("plan", plan_code, Plan, where, "t.issued_on, t.code")
    # The indicator set's digest, for a city or a body (not both: that report is refused before any value).
    reporter: str | None = None
    if "plan" in {w[0] for w in wanted} and (region_code is None) != (body_code is None):
        reporter = "city" if region_code is not None else "body"
        digest, more = _indicators_digest(
            plan=("d_plan.id", []), body=("d_body.id", []) if reporter == "body" else None
        )
        select.append(f"({digest})")
        params.extend(more)
    sql = f"SELECT {', '.join(select)} FROM (SELECT 1) one {' '.join(joins)}"  # noqa: S608 - built above
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *join_params])
        row = cursor.fetchone()
    memberships_attach(user=user, rows=row[0], day=day)
    known = ReportDefinitions()
    position = 1
    for name, key, model in wanted:
        width = len(model._meta.concrete_fields)
        values = row[position : position + width]
        position += width
        known.found[name] = (key, model_from_row(model, values) if values[0] is not None else None)
    plan = known.found.get("plan", (None, None))[1]
    holder = known.found.get("region" if reporter == "city" else "body", (None, None))[1]
    if reporter is not None and plan is not None and holder is not None:
        known.indicators = _indicator_set(plan=plan, reporter=reporter, body=holder, digest=row[position])
        region, body = (holder, None) if reporter == "city" else (None, holder)
        known.indicators_for = (plan, region, body)
    return known


def _indicator_set(*, plan: Plan, reporter: str, body: Any, digest: str | None) -> list[Indicator]:
    """The kept list for this digest, or the list read with its digest in one statement and kept under it."""
    key = (plan.pk, reporter if reporter == "city" else f"body:{body.pk}", digest or "")
    kept = _indicator_sets.get(key)
    if kept is not None:
        return kept
    names = INDICATOR_FIELDS_FOR_VALUES
    plan_id = ("%s", [plan.pk])
    body_id = ("%s", [body.pk]) if reporter == "body" else None
    source, params = _indicators_from_where(plan=plan_id, body=body_id)
    digest_sql, digest_params = _indicators_digest(plan=plan_id, body=body_id)
    with connection.cursor() as cursor:
        # The rows and their digest in one statement: the list is kept under the digest of these very rows.
        cursor.execute(
            f"SELECT ({digest_sql}), {_indicator_columns()} {source} ORDER BY {_INDICATOR_ORDER}",
            [*digest_params, *params],
        )
        rows = cursor.fetchall()
    indicators = [model_from_row(Indicator, tuple(r[1:]), names) for r in rows]
    if rows:
        if len(_indicator_sets) >= _KEPT_MAX:
            _indicator_sets.clear()
        _indicator_sets[(key[0], key[1], rows[0][0])] = indicators
    return indicators


def indicator_sets_forget() -> None:
    """Drop the indicator lists this process keeps (for tests that count a cold request's queries)."""
    _indicator_sets.clear()
