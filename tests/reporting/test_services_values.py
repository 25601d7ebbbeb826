"""Values and narratives through the services: bad input is refused by field and nothing is written."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from common.errors import ApplicationError
from indicators.models import Indicator
from reporting.models import DataValue, Narrative, Submission
from reporting.services.submissions import (
    submission_create,
    submission_narratives_put,
    submission_values_put,
)
from tests.reporting.conftest import first_of_kind, full_values


def _stored(submission):
    return sorted(
        DataValue.objects.filter(submission=submission).values_list(
            "indicator__code", "value", "numerator", "denominator", "done"
        )
    )


@pytest.mark.parametrize(
    ("raw", "message_part"),
    [
        ("abc", "不是有效的数字"),
        (True, "布尔"),
        ({"x": 1}, "应为数字"),
        ("-5", "负数"),
        ("NaN", "NaN"),
        ("Infinity", "无穷大"),
        ("-Infinity", "无穷大"),
        ("1e309", "数值过大"),
        ("123456789012345678901234567890", "数值过大"),
        ("1.23456", "4 位小数"),
    ],
)
def test_bad_count_values_are_refused_by_field_and_nothing_is_written(filled, nanjing_reporter, raw, message_part):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    before = (_stored(filled), Submission.objects.get(pk=filled.pk).version)
    with pytest.raises(ValidationError) as excinfo:
        submission_values_put(
            submission=filled,
            user=nanjing_reporter,
            values=[*full_values(filled, scale=2)[:1], {"indicator": stock.code, "value": raw}],
        )
    errors = excinfo.value.message_dict
    assert list(errors) == [f"values.{stock.code}.value"]
    assert message_part in errors[f"values.{stock.code}.value"][0]
    assert (_stored(filled), Submission.objects.get(pk=filled.pk).version) == before


@pytest.mark.parametrize(
    ("raw", "stored"), [("１２", Decimal(12)), ("-0", Decimal(0)), ("1,200.5", Decimal("1200.5")), (7, Decimal(7))]
)
def test_full_width_digits_and_minus_zero_are_normalised(draft, nanjing_reporter, raw, stored):
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    submission_values_put(submission=draft, user=nanjing_reporter, values=[{"indicator": stock.code, "value": raw}])
    value = DataValue.objects.get(submission=draft, indicator=stock).value
    assert value == stored
    assert str(value).lstrip("-") == str(value)


def test_share_numerator_above_denominator_and_zero_denominator_are_refused(draft, nanjing_reporter):
    share = first_of_kind(draft, Indicator.Kind.SHARE)
    with pytest.raises(ValidationError) as excinfo:
        submission_values_put(
            submission=draft,
            user=nanjing_reporter,
            values=[{"indicator": share.code, "numerator": "120", "denominator": "100"}],
        )
    assert list(excinfo.value.message_dict) == [f"values.{share.code}.numerator"]
    with pytest.raises(ValidationError) as excinfo:
        submission_values_put(
            submission=draft,
            user=nanjing_reporter,
            values=[{"indicator": share.code, "numerator": "0", "denominator": "0"}],
        )
    assert list(excinfo.value.message_dict) == [f"values.{share.code}.denominator"]
    assert DataValue.objects.filter(submission=draft).count() == 0


def test_wrong_fields_for_the_kind_and_unknown_codes_are_named(draft, nanjing_reporter):
    share = first_of_kind(draft, Indicator.Kind.SHARE)
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    with pytest.raises(ValidationError) as excinfo:
        submission_values_put(
            submission=draft,
            user=nanjing_reporter,
            values=[
                {"indicator": share.code, "value": "3"},
                {"indicator": stock.code, "numerator": "3"},
                {"indicator": "no-such-indicator", "value": "1"},
                {"indicator": stock.code, "value": "1"},
            ],
        )
    errors = excinfo.value.message_dict
    assert f"values.{share.code}.value" in errors
    assert f"values.{stock.code}.numerator" in errors
    assert "未知的指标代码" in errors["values.no-such-indicator"][0]
    assert "多次" in errors[f"values.{stock.code}"][0]
    assert DataValue.objects.filter(submission=draft).count() == 0


def test_body_only_indicator_is_refused_for_a_city(draft, nanjing_reporter, plan):
    body_only = Indicator.objects.filter(plan=plan, reporter="body").first()
    assert body_only is not None
    with pytest.raises(ValidationError) as excinfo:
        submission_values_put(
            submission=draft, user=nanjing_reporter, values=[{"indicator": body_only.code, "value": "1"}]
        )
    assert "不由本填报主体填报" in excinfo.value.message_dict[f"values.{body_only.code}"][0]


def test_another_citys_reporter_and_the_auditor_cannot_write(draft, suzhou_reporter, auditor, nanjing_reviewer):
    for intruder in (suzhou_reporter, auditor, nanjing_reviewer):
        with pytest.raises(PermissionDenied):
            submission_values_put(submission=draft, user=intruder, values=full_values(draft))
    assert DataValue.objects.filter(submission=draft).count() == 0


def test_reporter_cannot_create_for_another_city(plan, period, suzhou, nanjing_reporter):
    with pytest.raises(PermissionDenied):
        submission_create(user=nanjing_reporter, plan=plan, period=period, region=suzhou)
    assert Submission.objects.count() == 0


def test_create_twice_returns_the_same_submission(draft, plan, period, nanjing, nanjing_reporter):
    again, created = submission_create(user=nanjing_reporter, plan=plan, period=period, region=nanjing)
    assert (again.pk, created) == (draft.pk, False)
    assert Submission.objects.count() == 1


def test_stale_version_is_refused_and_keeps_the_first_writers_data(draft, nanjing_reporter):
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    seen = draft.version
    submission_values_put(
        submission=draft,
        user=nanjing_reporter,
        values=[{"indicator": stock.code, "value": "10"}],
        expected_version=seen,
    )
    with pytest.raises(ApplicationError) as excinfo:
        submission_values_put(
            submission=draft,
            user=nanjing_reporter,
            values=[{"indicator": stock.code, "value": "20"}],
            expected_version=seen,
        )
    assert excinfo.value.status_code == 412
    assert DataValue.objects.get(submission=draft, indicator=stock).value == Decimal(10)


def test_rewriting_the_same_values_changes_nothing(filled, nanjing_reporter):
    version = Submission.objects.get(pk=filled.pk).version
    history = DataValue.history.count()
    _, summary = submission_values_put(submission=filled, user=nanjing_reporter, values=full_values(filled))
    assert (summary.created, summary.updated) == (0, 0)
    assert Submission.objects.get(pk=filled.pk).version == version
    assert DataValue.history.count() == history


def test_every_value_change_is_kept_with_who_and_what(filled, nanjing_reporter):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    submission_values_put(submission=filled, user=nanjing_reporter, values=[{"indicator": stock.code, "value": "1500"}])
    value = DataValue.objects.get(submission=filled, indicator=stock)
    records = list(value.history.order_by("history_date"))
    assert [r.value for r in records] == [Decimal(1000), Decimal(1500)]
    assert records[-1].updated_by == nanjing_reporter
    delta = records[-1].diff_against(records[0])
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("value", Decimal(1000), Decimal(1500))]


def test_milestone_needs_yes_no_and_no_future_date(plan, period, edu_body, edu_reporter, time_machine):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    submission, _ = submission_create(user=edu_reporter, plan=plan, period=period, body=edu_body)
    milestone = Indicator.objects.filter(plan=plan, kind="milestone", reporter="body", lead_body=edu_body).first()
    if milestone is None:
        pytest.skip("省教育厅 leads no milestone in the loaded plan")
    bad = [
        ({"done": "maybe"}, "done"),
        ({"done": False, "done_on": "2025-10-01"}, "done_on"),
        ({"done": True, "done_on": "2027-01-01"}, "done_on"),
        ({"done": True, "value": "1"}, "value"),
    ]
    for payload, field in bad:
        with pytest.raises(ValidationError) as excinfo:
            submission_values_put(
                submission=submission, user=edu_reporter, values=[{"indicator": milestone.code, **payload}]
            )
        assert f"values.{milestone.code}.{field}" in excinfo.value.message_dict
    assert DataValue.objects.filter(submission=submission).count() == 0


def test_narratives_are_written_per_measure_and_refuse_unknown_measures(draft, nanjing_reporter):
    submission_narratives_put(
        submission=draft,
        user=nanjing_reporter,
        narratives=[{"measure": 5, "progress": "新建实训平台 3 个", "problems": "", "next_steps": "推进产教融合"}],
    )
    assert Narrative.objects.get(submission=draft, measure__number=5).progress == "新建实训平台 3 个"
    with pytest.raises(ValidationError) as excinfo:
        submission_narratives_put(
            submission=draft,
            user=nanjing_reporter,
            narratives=[{"measure": 99, "progress": "x"}, {"measure": 6, "progress": "y"}],
        )
    assert list(excinfo.value.message_dict) == ["narratives.99.measure"]
    assert Narrative.objects.filter(submission=draft).count() == 1


def _history_rows(model, submission):
    skip = {"history_id", "history_date", "id", "submission_id", "updated_at"}
    rows = [
        tuple(sorted((k, v) for k, v in row.items() if k not in skip))
        for row in model.history.filter(submission_id=submission.pk).values()
    ]
    return sorted(rows, key=repr)


def test_the_one_statement_upsert_writes_the_history_rows_simple_history_writes(
    plan, period, previous_period, nanjing, nanjing_reporter, monkeypatch, time_machine
):
    """PostgreSQL writes values and their historical rows in one statement; another database (or this one
    with that path switched off) through bulk_create and bulk_history_create. Both leave the same rows."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reporting.services import submissions

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai")))

    def write(period_):
        submission, _ = submission_create(user=nanjing_reporter, plan=plan, period=period_, region=nanjing)
        values = full_values(submission)
        submission_values_put(submission=submission, user=nanjing_reporter, values=values[:10])
        changed = [{**item, "comment": "核实"} for item in values[5:15]]
        submission_values_put(submission=submission, user=nanjing_reporter, values=changed)
        return submission

    fast = write(period)
    monkeypatch.setattr(submissions, "_upsert_with_history_sql", lambda **_kwargs: False)
    slow = write(previous_period)

    assert _history_rows(DataValue, fast) == _history_rows(DataValue, slow)
    kinds = sorted(DataValue.history.filter(submission_id=fast.pk).values_list("history_type", flat=True))
    assert kinds == ["+"] * 15 + ["~"] * 5
    row = DataValue.history.filter(submission_id=fast.pk).first()
    assert (row.history_change_reason, row.history_date) == (None, row.updated_at)
