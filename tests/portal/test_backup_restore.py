"""Backup and restore (等保 2.0): the README's procedure, run as written, gives a database whose submissions,
values, history, workflow, figures and security log are identical row for row, whose hash chain verifies,
and whose security log still refuses UPDATE and DELETE."""

import os
import re
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from measures.models import Region
from portal.accounts.models import SecurityEvent
from portal.accounts.security import security_chain_verify, security_event_record
from reporting.models import DataValue, Figure, RollupRequest, Submission, Transition
from reporting.services import workflow
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period
from reporting.services.submissions import submission_create, submission_values_put
from tests.reporting.conftest import full_values

ROOT = Path(__file__).resolve().parents[2]
FLOW = "apprentices-trained"


def _readme_procedure() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- backup-restore:[^\n]*-->\n```bash\n(.*?)\n```", text, re.DOTALL)
    assert found, "README.md has no backup-restore block"
    return found.group(1)


def _url(name: str) -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _connect(name: str):
    import psycopg2

    db = connection.settings_dict
    return psycopg2.connect(
        dbname=name,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
    )


def _drop(name: str) -> None:
    admin = _connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _rows(conn, table: str, key: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')  # noqa: S608 - names from model metadata
        return cursor.fetchall()


def _refused(conn, statement: str, params: list):
    """The database error a statement raises (rolled back), or None when it went through."""
    import psycopg2

    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
    except psycopg2.Error as error:
        conn.rollback()
        return error
    conn.rollback()
    return None


def _build(plan, django_user_model, coordinator):
    """Three cities' reports through the workflow (one returned and corrected, one reopened and confirmed
    again), rolled up; a login and a role change in the security log besides the approvals."""
    from portal.accounts.services import membership_grant

    period = period_ensure(year=2025, quarter=4)
    cities = list(Region.objects.filter(level="city").order_by("sort_order")[:3])
    for index, city in enumerate(cities):
        reporter = django_user_model.objects.create_user(username=f"br-r{index}", password="x" * 14)
        reviewer = django_user_model.objects.create_user(username=f"br-v{index}", password="x" * 14)
        membership_grant(user=reporter, role="city_reporter", region=city, valid_from=date(2018, 1, 1))
        membership_grant(user=reviewer, role="city_reviewer", region=city, valid_from=date(2018, 1, 1))
        security_event_record(event=SecurityEvent.Event.LOGIN, success=True, user=reporter)
        draft, _ = submission_create(user=reporter, plan=plan, period=period, region=city)
        values = full_values(draft)
        for item in values:
            if item["indicator"] == FLOW:
                item["value"] = str(100 * (index + 1))
        s, _ = submission_values_put(submission=draft, user=reporter, values=values)
        s = workflow.submission_submit(submission=s, user=reporter)
        if index == 1:
            s = workflow.submission_return(submission=s, user=reviewer, reason="学徒人数与台账不符，请核对。")
            s, _ = submission_values_put(submission=s, user=reporter, values=values)
            s = workflow.submission_submit(submission=s, user=reporter)
        s = workflow.submission_city_approve(submission=s, user=reviewer)
        s = workflow.submission_confirm(submission=s, user=coordinator)
        if index == 2:
            s = workflow.submission_reopen(submission=s, user=coordinator, reason="口径调整，重新确认。")
            s = workflow.submission_submit(submission=s, user=reporter)
            s = workflow.submission_city_approve(submission=s, user=reviewer)
            s = workflow.submission_confirm(submission=s, user=coordinator)
    # The outbox's requests are taken here, in-process: figures exist before the dump.
    rollup_period(plan_id=plan.pk, period_id=period.pk)
    return period


def test_a_dump_restored_into_a_fresh_database_is_identical_and_its_chain_verifies(
    plan, transactional_db, django_user_model, coordinator, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore back up PostgreSQL; SQLite is the zero-set-up default only")
    if not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "createdb")):
        pytest.skip("needs the PostgreSQL client tools")
    period = _build(plan, django_user_model, coordinator)
    assert RollupRequest.objects.count() == 0
    assert security_chain_verify() is None
    assert Figure.objects.get(
        plan=plan, indicator__code=FLOW, region__code="320000", period=period, span="quarter", basis="official"
    ).value == Decimal(600)
    tables = {
        "submissions": (Submission._meta.db_table, "id"),
        "values": (DataValue._meta.db_table, "id"),
        "submission history": (Submission.history.model._meta.db_table, "history_id"),
        "value history": (DataValue.history.model._meta.db_table, "history_id"),
        "workflow transitions": (Transition._meta.db_table, "id"),
        "figures": (Figure._meta.db_table, "id"),
        "security events": (SecurityEvent._meta.db_table, "id"),
    }
    expected_counts = {
        "submissions": 3,
        "values": DataValue.objects.count(),
        "submission history": Submission.history.count(),
        "value history": DataValue.history.count(),
        # create, submit, city approve, confirm each; a return and a resubmission; a reopening and three more.
        "workflow transitions": 3 * 4 + 2 + 4,
        "figures": Figure.objects.count(),
        "security events": SecurityEvent.objects.count(),
    }
    assert Transition.objects.count() == expected_counts["workflow transitions"]
    # Three approvals and three confirmations, a return, a reopening, two more approvals; three logins and
    # six role grants.
    assert SecurityEvent.objects.filter(event__in=["approval", "return", "reopen"]).count() == 10
    assert SecurityEvent.objects.filter(event="login").count() == 3

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored_{os.getpid()}"
    _drop(restored)
    env = {
        **os.environ,
        "DATABASE_URL": _url(source),
        "BACKUP_FILE": str(tmp_path / "portal.dump"),
        "RESTORE_DB": restored,
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
    }
    try:
        done = subprocess.run(  # noqa: S603 - our README's block, run by bash
            ["/bin/bash", "-euo", "pipefail", "-c", _readme_procedure()],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # The chain check, the project's own, ran against the restored database and found it whole.
        assert done.stdout.strip().splitlines()[-1] == "None"
        assert (tmp_path / "portal.dump").stat().st_size > 0

        original, copy = _connect(source), _connect(restored)
        try:
            compared = {}
            for label, (table, key) in tables.items():
                before, after = _rows(original, table, key), _rows(copy, table, key)
                assert after == before, label
                compared[label] = len(after)
            assert compared == expected_counts
            # The restored chain, verified row by row as the project's verifier does: same rows, same links.
            with copy.cursor() as cursor:
                cursor.execute(f'SELECT "prev_hash", "hash" FROM "{SecurityEvent._meta.db_table}" ORDER BY "id"')  # noqa: S608
                links = cursor.fetchall()
            assert links[0][0] == "0" * 64
            assert all(prev == links[i - 1][1] for i, (prev, _hash) in enumerate(links) if i)
            # The append-only trigger came with the dump: UPDATE and DELETE are refused in the copy too.
            events = SecurityEvent._meta.db_table
            first = _rows(copy, events, "id")[0][0]
            for statement in (
                f'UPDATE "{events}" SET "username" = \'tampered\' WHERE "id" = %s',  # noqa: S608
                f'DELETE FROM "{events}" WHERE "id" = %s',  # noqa: S608
            ):
                refused = _refused(copy, statement, [first])
                assert refused is not None, statement
                assert refused.pgcode == "42501"
                assert "security log is append-only" in str(refused)
            assert _rows(copy, events, "id") == _rows(original, events, "id")
        finally:
            original.close()
            copy.close()
    finally:
        _drop(restored)
