"""The reporter's pages: the due list, the report form (save, submit, stale, read-only), evidence."""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from indicators.models import Indicator
from reporting.models import DataValue, Evidence, Narrative, Submission
from reporting.selectors import indicators_expected
from reporting.services import workflow
from reporting.services.submissions import submission_create, submission_narratives_put, submission_values_put
from tests.reporting.conftest import first_of_kind, full_values

S = Submission.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _url(name, submission, **kwargs):
    return reverse(f"reporting:{name}", kwargs={"public_id": submission.public_id, **kwargs})


def _form_data(submission, values=(), narratives=(), *, action="save", version=None):
    """POST data as the page sends it: one field per input, named v-<code>-<field> / n-<number>-<field>."""
    data = {"version": str(version if version is not None else submission.version), "action": action}
    for item in values:
        for key, value in item.items():
            if key == "indicator":
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else ("" if value is None else str(value))
            data[f"v-{item['indicator']}-{key}"] = text
    for item in narratives:
        for key in ("progress", "problems", "next_steps"):
            data[f"n-{item['measure']}-{key}"] = item.get(key, "")
    return data


def _state(submission):
    row = Submission.objects.get(pk=submission.pk)
    return (
        row.status,
        row.version,
        sorted(
            DataValue.objects.filter(submission=row).values_list("indicator__code", "value", "numerator", "comment")
        ),
        sorted(Narrative.objects.filter(submission=row).values_list("measure__number", "progress")),
    )


@pytest.fixture
def today(time_machine):
    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))


# -- due list ----------------------------------------------------------------------------------------


def test_due_list_shows_own_city_only(client, plan, period, nanjing_reporter, suzhou_reporter, suzhou, today):
    submission_create(user=suzhou_reporter, plan=plan, period=period, region=suzhou)
    client.force_login(nanjing_reporter)
    response = client.get(reverse("reporting:due"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "南京市" in content
    assert "苏州市" not in content
    assert [(r.period.code, str(r.reporter), r.submission) for r in response.context["rows"]] == [
        ("2025Q4", "南京市", None)
    ]
    row = response.context["rows"][0]
    assert (row.days_left, row.overdue, row.can_start) == (5, False, True)
    assert "还剩 5 天" in content
    assert "开始填报" in content


def test_due_list_marks_overdue_after_the_deadline(client, plan, period, nanjing_reporter, time_machine):
    time_machine.move_to(datetime(2026, 1, 13, 10, tzinfo=SHANGHAI))
    client.force_login(nanjing_reporter)
    response = client.get(reverse("reporting:due"))
    row = response.context["rows"][0]
    assert (row.days_left, row.overdue) == (-3, True)
    assert "逾期 3 天" in response.content.decode()


def test_start_creates_the_draft_and_opens_the_form(client, plan, period, nanjing, nanjing_reporter, today):
    client.force_login(nanjing_reporter)
    response = client.post(reverse("reporting:start"), {"plan": plan.pk, "period": "2025Q4", "region": nanjing.pk})
    submission = Submission.objects.get(plan=plan, period=period, region=nanjing)
    assert response.status_code == 302
    assert response["Location"] == _url("report", submission)
    # Pressing it again finds the same submission (natural key), nothing twice.
    client.post(reverse("reporting:start"), {"plan": plan.pk, "period": "2025Q4", "region": nanjing.pk})
    assert Submission.objects.filter(region=nanjing).count() == 1


def test_start_for_another_city_is_refused(client, plan, period, suzhou, nanjing_reporter, today):
    client.force_login(nanjing_reporter)
    response = client.post(reverse("reporting:start"), {"plan": plan.pk, "period": "2025Q4", "region": suzhou.pk})
    assert response.status_code == 403
    assert Submission.objects.count() == 0


def test_returned_submission_listed_first_with_its_reason(
    client, filled, nanjing_reporter, nanjing_reviewer, plan, previous_period, nanjing
):
    submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    submitted = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    workflow.submission_return(submission=submitted, user=nanjing_reviewer, reason="技能人才数口径有误，请核对")
    client.force_login(nanjing_reporter)
    response = client.get(reverse("reporting:due"))
    rows = response.context["rows"]
    assert [(r.period.code, r.submission.status) for r in rows] == [("2025Q4", "returned"), ("2025Q3", "draft")]
    assert "技能人才数口径有误，请核对" in response.content.decode()


# -- the form ----------------------------------------------------------------------------------------


def test_form_shows_each_indicator_with_definition_unit_and_last_value(
    client, draft, plan, previous_period, nanjing, nanjing_reporter
):
    earlier, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    submission_values_put(
        submission=earlier, user=nanjing_reporter, values=[{"indicator": stock.code, "value": "4321.5"}]
    )
    client.force_login(nanjing_reporter)
    response = client.get(_url("report", draft))
    assert response.status_code == 200
    content = response.content.decode()
    expected = list(indicators_expected(plan=plan, region=nanjing))
    for indicator in expected:
        assert f'id="indicator-{indicator.code}"' in content
    assert stock.unit in content
    assert stock.definition.split("\n")[0][:20] in content
    assert "4321.5" in content
    ratio = first_of_kind(draft, Indicator.Kind.SHARE)
    assert f'name="v-{ratio.code}-numerator"' in content
    assert f'name="v-{ratio.code}-denominator"' in content
    assert f'name="v-{ratio.code}-value"' not in content
    assert 'name="n-1-progress"' in content
    assert "保存草稿" in content


def test_other_city_form_answers_404(client, draft, suzhou_reporter, suzhou_reviewer):
    for user in (suzhou_reporter, suzhou_reviewer):
        client.force_login(user)
        for name in ("report", "history", "template"):
            assert client.get(_url(name, draft)).status_code == 404
        assert client.post(_url("report", draft), _form_data(draft)).status_code == 404


def test_outsider_sees_nothing_and_anonymous_is_sent_to_login(client, draft, outsider):
    response = client.get(_url("report", draft))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(_url("report", draft)).status_code == 404
    assert client.get(reverse("reporting:due")).context["rows"] == []


def test_auditor_sees_the_form_read_only_and_a_post_is_refused(client, filled, auditor):
    before = _state(filled)
    client.force_login(auditor)
    response = client.get(_url("report", filled))
    assert response.status_code == 200
    content = response.content.decode()
    assert "保存草稿" not in content
    assert "您可以查看本报表，但无权修改。" in content
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    field = re.search(rf'<input[^>]*name="v-{stock.code}-value"[^>]*>', content).group(0)
    assert 'value="1000"' in field
    assert " disabled" in field

    data = _form_data(filled, [{"indicator": stock.code, "value": "5"}])
    assert client.post(_url("report", filled), data).status_code == 403
    assert client.post(_url("report", filled), {**data, "action": "submit"}).status_code == 403
    assert _state(filled) == before


def test_save_draft_then_submit_through_the_form(client, draft, nanjing_reporter):
    client.force_login(nanjing_reporter)
    values = full_values(draft)
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    share = first_of_kind(draft, Indicator.Kind.SHARE)
    for item in values:
        if item["indicator"] == stock.code:
            item["value"] = "１２,345.25"  # full-width digits and a thousands separator, as typed
            item["comment"] = "含新认定企业"
    narratives = [{"measure": 1, "progress": "已召开专题会议", "problems": "", "next_steps": "继续推进"}]
    response = client.post(_url("report", draft), _form_data(draft, values, narratives))
    assert response.status_code == 302
    assert response["Location"] == _url("report", draft)
    saved = Submission.objects.get(pk=draft.pk)
    assert saved.status == S.DRAFT
    assert saved.version == draft.version + 2  # one write of values, one of narratives
    stored = DataValue.objects.get(submission=draft, indicator=stock)
    assert (stored.value, stored.comment) == (Decimal("12345.25"), "含新认定企业")
    ratio = DataValue.objects.get(submission=draft, indicator=share)
    assert (ratio.numerator, ratio.denominator, ratio.value) == (Decimal(40), Decimal(100), None)
    assert DataValue.objects.filter(submission=draft).count() == len(values)
    narrative = Narrative.objects.get(submission=draft, measure__number=1)
    assert (narrative.progress, narrative.problems, narrative.next_steps) == ("已召开专题会议", "", "继续推进")
    page = client.get(response["Location"]).content.decode()
    assert "草稿已保存。" in page
    assert 'value="12345.25"' in page

    response = client.post(_url("report", draft), _form_data(saved, values, narratives, action="submit"), follow=True)
    submitted = Submission.objects.get(pk=draft.pk)
    assert submitted.status == S.SUBMITTED
    assert submitted.submitted_by == nanjing_reporter
    assert submitted.version == saved.version + 1  # nothing changed in the content, only the state
    assert "已提交，等待审核。" in response.content.decode()
    assert "本报表已提交，审核期间内容只读" in response.content.decode()


def test_clearing_a_field_clears_the_stored_value(client, filled, nanjing_reporter):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    client.force_login(nanjing_reporter)
    response = client.post(_url("report", filled), _form_data(filled, [{"indicator": stock.code, "value": ""}]))
    assert response.status_code == 302
    assert DataValue.objects.get(submission=filled, indicator=stock).value is None


def test_blank_indicators_create_no_rows(client, draft, nanjing_reporter):
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    client.force_login(nanjing_reporter)
    data = _form_data(draft, [{"indicator": i["indicator"], "value": ""} for i in full_values(draft)])
    data[f"v-{stock.code}-value"] = "7"
    assert client.post(_url("report", draft), data).status_code == 302
    assert list(DataValue.objects.filter(submission=draft).values_list("indicator__code", "value")) == [
        (stock.code, Decimal(7))
    ]


def test_stale_save_shows_the_message_keeps_the_input_and_changes_nothing(client, filled, nanjing_reporter):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    old_version = filled.version
    client.force_login(nanjing_reporter)
    # Someone else saves first (another tab, the API, an XLSX upload).
    submission_values_put(submission=filled, user=nanjing_reporter, values=[{"indicator": stock.code, "value": "2"}])
    before = _state(filled)
    data = _form_data(filled, [{"indicator": stock.code, "value": "98765"}], version=old_version)
    response = client.post(_url("report", filled), data)
    assert response.status_code == 412
    content = response.content.decode()
    assert "该报表已被他人修改" in content
    assert "您的修改未保存" in content
    assert 'value="98765"' in content  # what the user typed is still on the page
    assert _state(filled) == before
    assert DataValue.objects.get(submission=filled, indicator=stock).value == Decimal(2)


def test_invalid_values_are_shown_next_to_their_fields_and_nothing_is_written(client, filled, nanjing_reporter):
    stock = first_of_kind(filled, Indicator.Kind.STOCK)
    share = first_of_kind(filled, Indicator.Kind.SHARE)
    before = _state(filled)
    client.force_login(nanjing_reporter)
    data = _form_data(
        filled,
        [
            {"indicator": stock.code, "value": "-5"},
            {"indicator": share.code, "numerator": "120", "denominator": "100"},
        ],
        [{"measure": 2, "progress": "这一条本身是有效的"}],
    )
    response = client.post(_url("report", filled), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors[f"v-{stock.code}-value"] == ["数值不能为负数。"]
    assert form.errors[f"v-{share.code}-numerator"] == ["占比指标的分子不能大于分母（占比须在 0–100% 之间）。"]
    content = response.content.decode()
    assert 'value="-5"' in content
    assert "这一条本身是有效的" in content
    # All or nothing: the valid narrative was not written either.
    assert _state(filled) == before


def test_submit_errors_appear_next_to_each_field_and_the_draft_is_kept(client, draft, nanjing_reporter):
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    share = first_of_kind(draft, Indicator.Kind.SHARE)
    client.force_login(nanjing_reporter)
    data = _form_data(draft, [{"indicator": stock.code, "value": "10"}], action="submit")
    response = client.post(_url("report", draft), data)
    assert response.status_code == 400
    saved = Submission.objects.get(pk=draft.pk)
    assert saved.status == S.DRAFT
    assert DataValue.objects.get(submission=draft, indicator=stock).value == Decimal(10)
    form = response.context["form"]
    assert form.errors[f"v-{share.code}-numerator"] == [f"请填写“{share.name}”的分子和分母。"]
    assert f"v-{stock.code}-value" not in form.errors
    # The page carries the new version, so the next save is not refused as stale.
    assert form.data["version"] == str(saved.version)
    assert "草稿已保存，但未能提交" in response.content.decode()


def test_submit_needs_a_comment_for_a_jump_from_last_quarter(
    client, draft, plan, previous_period, nanjing, nanjing_reporter
):
    earlier, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    submission_values_put(submission=earlier, user=nanjing_reporter, values=full_values(earlier))
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    values = full_values(draft)
    for item in values:
        if item["indicator"] == stock.code:
            item["value"] = "5000"  # 1000 last quarter
    client.force_login(nanjing_reporter)
    response = client.post(_url("report", draft), _form_data(draft, values, action="submit"))
    assert response.status_code == 400
    assert response.context["form"].errors[f"v-{stock.code}-comment"] == [
        "与上季度（1000.0000）相比变化幅度超过 50%，请在说明中解释原因。"
    ]
    assert Submission.objects.get(pk=draft.pk).status == S.DRAFT

    for item in values:
        if item["indicator"] == stock.code:
            item["comment"] = "新增统计口径"
    saved = Submission.objects.get(pk=draft.pk)
    response = client.post(_url("report", draft), _form_data(saved, values, action="submit"))
    assert response.status_code == 302
    assert Submission.objects.get(pk=draft.pk).status == S.SUBMITTED


def test_a_locked_submission_renders_read_only_with_who_confirmed_when(
    client, filled, nanjing_reporter, nanjing_reviewer, coordinator
):
    s = workflow.submission_submit(submission=filled, user=nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    s = workflow.submission_confirm(submission=s, user=coordinator)
    client.force_login(nanjing_reporter)
    response = client.get(_url("report", s))
    content = response.content.decode()
    assert "省级已确认" in content
    assert f"本报表已由 coordinator 于 {s.confirmed_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 省级确认并锁定" in content
    assert "保存草稿" not in content
    assert "上传模板" not in content
    before = _state(s)
    response = client.post(_url("report", s), _form_data(s, full_values(s, scale=2)))
    assert response.status_code == 409
    assert "该报表已由省级确认并锁定" in response.content.decode()
    assert _state(s) == before


def test_form_page_query_count_does_not_grow_with_values(
    client, draft, plan, previous_period, nanjing, nanjing_reporter
):
    client.force_login(nanjing_reporter)
    earlier, _ = submission_create(user=nanjing_reporter, plan=plan, period=previous_period, region=nanjing)
    url = _url("report", draft)
    client.get(url)  # warm caches that are not per request (content types, translations)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200

    submission_values_put(submission=earlier, user=nanjing_reporter, values=full_values(earlier))
    draft = Submission.objects.get(pk=draft.pk)
    submission_values_put(submission=draft, user=nanjing_reporter, values=full_values(draft))
    submission_narratives_put(
        submission=draft,
        user=nanjing_reporter,
        narratives=[{"measure": n, "progress": f"进展 {n}"} for n in range(1, 24)],
    )
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(few) <= 20


# -- evidence ----------------------------------------------------------------------------------------


def test_evidence_upload_list_and_download(client, draft, nanjing_reporter, suzhou_reporter, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path
    client.force_login(nanjing_reporter)
    pdf = b"%PDF-1.4\n%demo evidence\n"
    response = client.post(
        _url("evidence_upload", draft),
        {"version": draft.version, "file": SimpleUploadedFile("会议纪要.pdf", pdf), "description": "专题会议纪要"},
    )
    assert response.status_code == 302
    evidence = Evidence.objects.get(submission=draft)
    assert (evidence.original_name, evidence.size, evidence.description) == ("会议纪要.pdf", len(pdf), "专题会议纪要")
    page = client.get(_url("report", draft)).content.decode()
    download = _url("evidence_download", draft, evidence_id=evidence.pk)
    assert download in page
    response = client.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf
    assert response["Content-Type"] == "application/pdf"
    client.force_login(suzhou_reporter)
    assert client.get(download).status_code == 404


def test_evidence_with_wrong_content_is_refused_with_a_message(client, draft, nanjing_reporter, settings, tmp_path):
    settings.PRIVATE_FILES_ROOT = tmp_path
    client.force_login(nanjing_reporter)
    response = client.post(
        _url("evidence_upload", draft),
        {"version": draft.version, "file": SimpleUploadedFile("report.pdf", b"MZ not a pdf")},
        follow=True,
    )
    assert "文件内容与扩展名 .pdf 不符。" in response.content.decode()
    assert Evidence.objects.count() == 0
    assert Submission.objects.get(pk=draft.pk).version == draft.version


def test_an_upload_over_the_portal_limit_is_refused_before_it_is_read(
    client, draft, nanjing_reporter, settings, tmp_path
):
    settings.PRIVATE_FILES_ROOT = tmp_path
    settings.REQUEST_BODY_MAX_BYTES = 4096
    client.force_login(nanjing_reporter)
    pdf = b"%PDF-1.4\n" + b"0" * 8192
    response = client.post(
        _url("evidence_upload", draft), {"version": draft.version, "file": SimpleUploadedFile("大文件.pdf", pdf)}
    )
    assert response.status_code == 413
    assert "请求体过大，上限为 4 KB。" in response.content.decode()
    assert Evidence.objects.count() == 0
    assert not any(tmp_path.rglob("*.pdf"))
    # Under the limit the same page takes it.
    settings.REQUEST_BODY_MAX_BYTES = 64 * 1024
    response = client.post(
        _url("evidence_upload", draft), {"version": draft.version, "file": SimpleUploadedFile("大文件.pdf", pdf)}
    )
    assert response.status_code == 302
    assert Evidence.objects.get(submission=draft).size == len(pdf)


def test_due_list_query_count_does_not_grow_with_periods_and_submissions(
    client, plan, nanjing, nanjing_reporter, time_machine
):
    from reporting.services.periods import period_ensure

    time_machine.move_to(datetime(2026, 1, 5, 10, tzinfo=SHANGHAI))
    period_ensure(year=2025, quarter=4)
    client.force_login(nanjing_reporter)
    url = reverse("reporting:due")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(url).context["rows"]) == 1
    for year, quarter in ((2024, 1), (2024, 2), (2024, 3), (2024, 4), (2025, 1), (2025, 2), (2025, 3)):
        submission_create(
            user=nanjing_reporter, plan=plan, period=period_ensure(year=year, quarter=quarter), region=nanjing
        )
    with CaptureQueriesContext(connection) as many:
        rows = client.get(url).context["rows"]
    # The last four quarters, plus the older drafts still open.
    assert [r.period.code for r in rows] == [
        "2025Q4", "2025Q3", "2025Q2", "2025Q1", "2024Q4", "2024Q3", "2024Q2", "2024Q1",
    ]  # fmt: skip
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_body_reporter_fills_a_milestone_through_the_form(client, plan, period, edu_body, edu_reporter, today):
    submission, _ = submission_create(user=edu_reporter, plan=plan, period=period, body=edu_body)
    milestone = first_of_kind(submission, Indicator.Kind.MILESTONE)
    client.force_login(edu_reporter)
    page = client.get(_url("report", submission)).content.decode()
    assert f'<select name="v-{milestone.code}-done"' in page
    assert f'type="date" name="v-{milestone.code}-done_on"' in page
    assert f'name="v-{milestone.code}-value"' not in page
    data = _form_data(submission, [{"indicator": milestone.code, "done": True, "done_on": "2025-11-03"}])
    assert client.post(_url("report", submission), data).status_code == 302
    value = DataValue.objects.get(submission=submission, indicator=milestone)
    assert (value.done, value.done_on) == (True, datetime(2025, 11, 3).date())

    saved = Submission.objects.get(pk=submission.pk)
    data = _form_data(saved, [{"indicator": milestone.code, "done": True, "done_on": ""}])
    response = client.post(_url("report", submission), {**data, "action": "submit"})
    assert response.status_code == 400
    assert response.context["form"].errors[f"v-{milestone.code}-done_on"] == ["已完成的事项须填写完成日期。"]


def test_posts_without_a_csrf_token_are_refused(draft, nanjing_reporter):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(nanjing_reporter)
    stock = first_of_kind(draft, Indicator.Kind.STOCK)
    before = _state(draft)
    assert (
        client.post(_url("report", draft), _form_data(draft, [{"indicator": stock.code, "value": "1"}])).status_code
        == 403
    )
    assert _state(draft) == before
