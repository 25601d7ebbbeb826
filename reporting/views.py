"""Web pages for quarterly reporting: the reporter's due list and form, the review queue, the history.

Views parse HTTP and call one service per write; every submission is looked up through
`Submission.objects.visible_to(user)`, so another city's submission answers 404. Permission checks
here decide only which buttons to show: the services check again and refuse on their own.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError
from common.requests import AuthenticatedRequest
from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from portal.accounts.models import Role
from portal.accounts.selectors import user_scope
from reporting.forms import (
    EvidenceForm,
    EvidenceRemoveForm,
    ReasonForm,
    ReportForm,
    StartForm,
    VersionForm,
    XlsxUploadForm,
    decimal_text,
)
from reporting.models import DataValue, Evidence, Narrative, Period, Submission, Transition
from reporting.selectors import (
    indicators_expected,
    measures_for_narrative,
    period_current,
    period_get_by_code,
    values_previous,
)
from reporting.selectors.submissions import due_list
from reporting.services.evidence import evidence_attach, evidence_path, evidence_remove
from reporting.services.submissions import submission_create
from reporting.services.workflow import (
    submission_city_approve,
    submission_confirm,
    submission_reopen,
    submission_return,
    submission_submit,
)
from reporting.services.xlsx import XLSX_CONTENT_TYPE, submission_template_build, submission_xlsx_import

S = Submission.Status
RECENT_PERIODS = 4
QUEUE_PAGE_SIZE = 50


def _submissions(request: HttpRequest):
    return (
        Submission.objects.visible_to(request.user)
        .with_related()
        .select_related("city_approved_by", "confirmed_by", "plan")
    )


def _get_submission(request: HttpRequest, public_id: Any) -> Submission:
    return get_object_or_404(_submissions(request), public_id=public_id)


def _report_url(submission: Submission) -> str:
    return reverse("reporting:report", kwargs={"public_id": submission.public_id})


def _error_text(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [message for messages_ in exc.message_dict.values() for message in messages_]
    return list(exc.messages)


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


# ---------------------------------------------------------------------------------------------------
# What is due


@login_required
@require_GET
def due(request: AuthenticatedRequest) -> HttpResponse:
    today = timezone.localdate()
    # Everything due, whatever its age, and the latest quarters' sent and closed ones for context: the same
    # selector as GET /api/v1/due/, so the page and a city's own system agree on what is due.
    rows = due_list(user=request.user, today=today, include_done=True, done_recent=RECENT_PERIODS)
    many_plans = len({row.plan.pk for row in rows}) > 1
    scope = user_scope(user=request.user)
    return render(
        request,
        "reporting/due.html",
        {
            "rows": rows,
            "many_plans": many_plans,
            "today": today,
            "is_reviewer": bool(
                scope.has(Role.COORDINATOR) or scope.has(Role.AUDITOR) or scope.cities(Role.CITY_REVIEWER)
            ),
        },
    )


@login_required
@require_POST
def start(request: AuthenticatedRequest) -> HttpResponse:
    form = StartForm(request.POST)
    home = reverse("reporting:due")
    if not form.is_valid():
        messages.error(request, _("请求无效，请刷新页面后重试。"))
        return redirect(home)
    data = form.cleaned_data
    plan = Plan.objects.filter(pk=data["plan"]).first()
    period = period_get_by_code(code=data["period"])
    region = Region.objects.filter(pk=data["region"]).first() if data["region"] else None
    body = ResponsibleBody.objects.filter(pk=data["body"]).first() if data["body"] else None
    if plan is None or period is None:
        raise Http404
    try:
        submission, _created = submission_create(user=request.user, plan=plan, period=period, region=region, body=body)
    except ValidationError as exc:
        for message in _error_text(exc):
            messages.error(request, message)
        return redirect(home)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(home)
    return redirect(_report_url(submission))


# ---------------------------------------------------------------------------------------------------
# The report form


def _actions_for(user: Any, submission: Submission) -> set[str]:
    """Which review buttons to show. The services decide for real; this only avoids offering
    buttons that would be refused."""
    actions: set[str] = set()
    city_step = submission.region_id is not None and settings.REPORTING_CITY_REVIEW
    reviewer = user.has_perm("reporting.city_review_submission", submission)
    coordinator = user.has_perm("reporting.confirm_submission", submission)
    if submission.status == S.SUBMITTED:
        if city_step and reviewer:
            actions |= {"city_approve", "return"}
        if not city_step and coordinator:
            actions |= {"confirm", "return"}
    elif submission.status == S.CITY_APPROVED and coordinator:
        actions |= {"confirm", "return"}
    elif submission.status == S.CONFIRMED and user.has_perm("reporting.reopen_submission", submission):
        actions.add("reopen")
    return actions


def _build_form(submission: Submission, *, data: Any = None, readonly: bool = False) -> ReportForm:
    indicators = list(indicators_expected(plan=submission.plan, region=submission.region, body=submission.body))
    measures = list(measures_for_narrative(plan=submission.plan, body=submission.body))
    # The page groups by measure and programme: load them once, not per indicator.
    known = {m.pk: m for m in measures}
    missing = {i.measure_id for i in indicators} - set(known)
    if missing:
        known.update({m.pk: m for m in Measure.objects.filter(pk__in=missing).select_related("programme")})
    for indicator in indicators:
        indicator.measure = known[indicator.measure_id]
    return ReportForm(
        data,
        submission=submission,
        indicators=indicators,
        values={v.indicator_id: v for v in DataValue.objects.filter(submission=submission)},
        previous=values_previous(submission=submission),
        measures=measures,
        narratives={n.measure_id: n for n in Narrative.objects.filter(submission=submission)},
        readonly=readonly,
    )


def _editable(user: Any, submission: Submission) -> bool:
    return (
        user.has_perm("reporting.edit_submission", submission)
        and submission.status in (S.DRAFT, S.RETURNED)
        and submission.period.status == Period.Status.OPEN
    )


def _render_report(
    request: HttpRequest,
    submission: Submission,
    *,
    form: ReportForm | None = None,
    xlsx_errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    editable = _editable(request.user, submission)
    if form is None:
        form = _build_form(submission, readonly=not editable)
    evidence = list(
        Evidence.objects.filter(submission=submission, removed_at__isnull=True).select_related("uploaded_by")
    )
    last_return = None
    if submission.status == S.RETURNED:
        last_return = (
            Transition.objects.filter(submission=submission, action__in=[Transition.Action.RETURN, "reopen"])
            .select_related("actor")
            .order_by("-at", "-id")
            .first()
        )
    return render(
        request,
        "reporting/report.html",
        {
            "submission": submission,
            "form": form,
            "blocks": form.programme_blocks(),
            "editable": editable,
            "evidence": evidence,
            "evidence_form": EvidenceForm(initial={"version": submission.version}, auto_id="evidence_%s"),
            "upload_form": XlsxUploadForm(initial={"version": submission.version}, auto_id="xlsx_%s"),
            "actions": _actions_for(request.user, submission),
            "reason_form": ReasonForm(initial={"version": submission.version}),
            "last_return": last_return,
            "xlsx_errors": xlsx_errors or [],
            "today": timezone.localdate(),
            "Kind": Indicator.Kind,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def report(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    submission = _get_submission(request, public_id)
    if request.method == "GET":
        return _render_report(request, submission)

    form = _build_form(submission, data=request.POST)
    if not form.is_valid():
        messages.error(request, _("未保存：请按标出的字段修改后重试。"))
        return _render_report(request, submission, form=form, status=400)
    try:
        saved = form.save(user=request.user)
    except ApplicationError as exc:
        # A stale version or a locked submission: keep what the user typed on the page.
        messages.error(request, exc.message)
        return _render_report(request, submission, form=form, status=exc.status_code)
    if saved is None:
        messages.error(request, _("未保存：请按标出的字段修改后重试。本次填写的内容仍在页面上。"))
        return _render_report(request, submission, form=form, status=400)

    if request.POST.get("action") != "submit":
        messages.success(request, _("草稿已保存。"))
        return redirect(_report_url(saved))
    try:
        submitted = submission_submit(submission=saved, user=request.user, expected_version=saved.version)
    except ValidationError as exc:
        # The draft is saved; show what stops the submit next to each field, with the new version.
        data = request.POST.copy()
        data["version"] = str(saved.version)
        form = _build_form(saved, data=data)
        form.is_valid()
        form.add_service_errors(exc)
        messages.error(request, _("草稿已保存，但未能提交：请按标出的字段补充或说明后再提交。"))
        return _render_report(request, saved, form=form, status=400)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_report_url(saved))
    if submitted.is_late:
        messages.warning(request, _("已提交（逾期提交）。"))
    else:
        messages.success(request, _("已提交，等待审核。"))
    return redirect(_report_url(submitted))


# ---------------------------------------------------------------------------------------------------
# Evidence


@login_required
@require_POST
def evidence_upload(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    submission = _get_submission(request, public_id)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("请选择要上传的文件。"))
        return redirect(_report_url(submission))
    upload = form.cleaned_data["file"]
    try:
        evidence_attach(
            submission=submission,
            user=request.user,
            upload=upload,
            filename=upload.name,
            description=form.cleaned_data["description"],
            expected_version=form.cleaned_data["version"],
        )
    except ValidationError as exc:
        for message in _error_text(exc):
            messages.error(request, message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("佐证材料“%(name)s”已上传。") % {"name": upload.name})
    return redirect(_report_url(submission) + "#evidence")


@login_required
@require_GET
def evidence_download(request: AuthenticatedRequest, public_id: Any, evidence_id: int) -> FileResponse:
    submission = _get_submission(request, public_id)
    evidence = get_object_or_404(Evidence, submission=submission, pk=evidence_id, removed_at__isnull=True)
    path = evidence_path(evidence)
    if not path.is_file():
        raise Http404
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=evidence.original_name, content_type=evidence.content_type
    )
    # As the API's download: no browser or proxy cache may keep a city's evidence after the user leaves.
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def evidence_delete(request: AuthenticatedRequest, public_id: Any, evidence_id: int) -> HttpResponse:
    submission = _get_submission(request, public_id)
    evidence = get_object_or_404(Evidence, submission=submission, pk=evidence_id, removed_at__isnull=True)
    form = EvidenceRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("删除佐证材料须填写原因。"))
        return redirect(_report_url(submission) + "#evidence")
    try:
        evidence_remove(evidence=evidence, user=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        for message in _error_text(exc):
            messages.error(request, message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("佐证材料“%(name)s”已删除。") % {"name": evidence.original_name})
    return redirect(_report_url(submission) + "#evidence")


# ---------------------------------------------------------------------------------------------------
# XLSX


@login_required
@require_GET
def template_xlsx(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    submission = _get_submission(request, public_id)
    content = submission_template_build(submission=submission)
    filename = f"填报模板-{submission.reporter_name}-{submission.period.code}-v{submission.version}.xlsx"
    # The template is prefilled with the submission's figures: no cache may keep a copy.
    return HttpResponse(
        content,
        content_type=XLSX_CONTENT_TYPE,
        headers={
            "Content-Disposition": content_disposition_header(True, filename),
            "Cache-Control": "private, no-store",
        },
    )


@login_required
@require_POST
def upload_xlsx(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    submission = _get_submission(request, public_id)
    form = XlsxUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("请选择要上传的填报模板（.xlsx）。"))
        return redirect(_report_url(submission))
    try:
        result = submission_xlsx_import(
            submission=submission,
            user=request.user,
            file=form.cleaned_data["file"],
            expected_version=form.cleaned_data["version"],
        )
    except ValidationError as exc:
        errors = [(key, message) for key, msgs in exc.message_dict.items() for message in msgs]
        messages.error(request, _("文件有误，未写入任何数据。请按下列单元格修改后重新上传。"))
        return _render_report(request, submission, xlsx_errors=errors, status=400)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_report_url(submission))
    messages.success(
        request,
        _("模板已导入：数值新增 %(vc)s、修改 %(vu)s、未变 %(vn)s；进展情况新增 %(nc)s、修改 %(nu)s。")
        % {
            "vc": result.values.created,
            "vu": result.values.updated,
            "vn": result.values.unchanged,
            "nc": result.narratives.created,
            "nu": result.narratives.updated,
        },
    )
    return redirect(_report_url(result.submission))


# ---------------------------------------------------------------------------------------------------
# Review


@dataclass
class QueueRow:
    submission: Submission
    actions: set[str]


@login_required
@require_GET
def review(request: AuthenticatedRequest) -> HttpResponse:
    scope = user_scope(user=request.user)
    coordinator = scope.has(Role.COORDINATOR)
    sees_all = scope.sees_everything
    reviewer_cities = scope.cities(Role.CITY_REVIEWER)
    if not (sees_all or reviewer_cities):
        raise PermissionDenied(_("只有协调小组办公室、设区市审核员和督查审计人员可以查看审核队列。"))

    waiting = Q(pk__in=[])
    if sees_all:
        waiting |= Q(status=S.CITY_APPROVED) | Q(status=S.SUBMITTED, body__isnull=False)
        if not settings.REPORTING_CITY_REVIEW:
            waiting |= Q(status=S.SUBMITTED, region__isnull=False)
    if reviewer_cities:
        waiting |= Q(status=S.SUBMITTED, region_id__in=reviewer_cities)
    pending = _submissions(request).filter(waiting).order_by("period__year", "period__quarter", "submitted_at", "id")
    page = Paginator(pending, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [QueueRow(submission=s, actions=_actions_for(request.user, s)) for s in page.object_list]

    confirmed_rows: list[QueueRow] = []
    period = None
    if sees_all:
        code = request.GET.get("period", "")
        period = period_get_by_code(code=code) if code else period_current()
        if period is not None:
            confirmed = _submissions(request).filter(status=S.CONFIRMED, period=period).order_by("confirmed_at", "id")
            confirmed_rows = [
                QueueRow(submission=s, actions=_actions_for(request.user, s)) for s in confirmed[: QUEUE_PAGE_SIZE * 4]
            ]
    return render(
        request,
        "reporting/review.html",
        {
            "rows": rows,
            "page": page,
            "confirmed_rows": confirmed_rows,
            "period": period,
            "coordinator": coordinator,
            "reason_form": ReasonForm(),
        },
    )


def _review_action(
    request: AuthenticatedRequest, public_id: Any, *, needs_reason: bool, call: Any, done: str
) -> HttpResponse:
    submission = _get_submission(request, public_id)
    form = ReasonForm(request.POST) if needs_reason else VersionForm(request.POST)
    default = reverse("reporting:review")
    if not form.is_valid():
        if needs_reason and "reason" in form.errors:
            messages.error(request, _("请填写原因。"))
        else:
            messages.error(request, _("请求无效，请刷新页面后重试。"))
        return _back(request, default)
    kwargs = {"submission": submission, "user": request.user, "expected_version": form.cleaned_data["version"]}
    if needs_reason:
        kwargs["reason"] = form.cleaned_data["reason"]
    try:
        call(**kwargs)
    except ValidationError as exc:
        for message in _error_text(exc):
            messages.error(request, message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done % {"name": f"{submission.reporter_name} {submission.period.code}"})
    return _back(request, default)


@login_required
@require_POST
def city_approve(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    return _review_action(
        request, public_id, needs_reason=False, call=submission_city_approve, done=_("%(name)s 已通过市级审核。")
    )


@login_required
@require_POST
def confirm(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    return _review_action(
        request, public_id, needs_reason=False, call=submission_confirm, done=_("%(name)s 已省级确认。")
    )


@login_required
@require_POST
def return_(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    return _review_action(
        request, public_id, needs_reason=True, call=submission_return, done=_("%(name)s 已退回填报单位。")
    )


@login_required
@require_POST
def reopen(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    return _review_action(
        request, public_id, needs_reason=True, call=submission_reopen, done=_("%(name)s 已重新打开。")
    )


# ---------------------------------------------------------------------------------------------------
# History


@dataclass
class Change:
    at: datetime.datetime
    who: Any
    subject: str
    field: str
    old: str
    new: str
    why: str


SUBMISSION_TRACKED = ("status", "return_reason", "is_late")
VALUE_TRACKED = ("value", "numerator", "denominator", "done", "done_on", "comment")
NARRATIVE_TRACKED = ("progress", "problems", "next_steps")
EVIDENCE_TRACKED = ("original_name", "sha256", "description", "removed_at", "removal_reason")


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return decimal_text(value)
    return str(value)


def _diffs(records: list[Any], tracked: tuple[str, ...], label: Any, model: Any) -> list[Change]:
    """Field-level changes between consecutive historical records of each object (already ordered)."""
    changes: list[Change] = []
    before: dict[int, Any] = {}
    choices = {name: dict(model._meta.get_field(name).flatchoices) for name in tracked}
    for record in records:
        previous = before.get(record.id)
        before[record.id] = record
        for name in tracked:
            new = getattr(record, name)
            old = getattr(previous, name) if previous is not None else None
            if previous is None and record.history_type == "+" and new in (None, "", False):
                continue
            if previous is not None and old == new:
                continue
            changes.append(
                Change(
                    at=record.history_date,
                    who=record.history_user,
                    subject=label(record),
                    field=str(model._meta.get_field(name).verbose_name),
                    old=_shown(choices[name].get(old, old) if isinstance(old, str) else old),
                    new=_shown(choices[name].get(new, new) if isinstance(new, str) else new),
                    why=record.history_change_reason or "",
                )
            )
    return changes


@login_required
@require_GET
def history(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    submission = _get_submission(request, public_id)
    if not request.user.has_perm("reporting.view_history", submission):
        raise Http404
    transitions = list(Transition.objects.filter(submission=submission).select_related("actor").order_by("at", "id"))
    labels = dict(S.choices)
    for transition in transitions:
        transition.from_label = labels.get(transition.from_status, transition.from_status)  # type: ignore[attr-defined]
        transition.to_label = labels.get(transition.to_status, transition.to_status)  # type: ignore[attr-defined]
    submission_records = list(
        submission.history.select_related("history_user").order_by("history_date", "history_id")  # type: ignore[attr-defined]
    )
    value_records = list(
        DataValue.history.filter(submission_id=submission.pk)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("id", "history_date", "history_id")
    )
    narrative_records = list(
        Narrative.history.filter(submission_id=submission.pk)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("id", "history_date", "history_id")
    )
    evidence_records = list(
        Evidence.history.filter(submission_id=submission.pk)  # type: ignore[attr-defined]
        .select_related("history_user")
        .order_by("id", "history_date", "history_id")
    )
    indicators = {
        i.pk: i for i in Indicator.objects.filter(pk__in={r.indicator_id for r in value_records}).only("code", "name")
    }
    measures = {
        m.pk: m
        for m in Measure.objects.filter(pk__in={r.measure_id for r in narrative_records}).only("number", "title")
    }

    def indicator_label(record: Any) -> str:
        indicator = indicators.get(record.indicator_id)
        return f"{indicator.name}（{indicator.code}）" if indicator else str(record.indicator_id)

    def measure_label(record: Any) -> str:
        measure = measures.get(record.measure_id)
        return f"{_('举措')} {measure.number} {measure.title}" if measure else str(record.measure_id)

    changes = [
        *_diffs(submission_records, SUBMISSION_TRACKED, lambda r: _("报表"), Submission),
        *_diffs(value_records, VALUE_TRACKED, indicator_label, DataValue),
        *_diffs(narrative_records, NARRATIVE_TRACKED, measure_label, Narrative),
        *_diffs(evidence_records, EVIDENCE_TRACKED, lambda r: f"{_('佐证材料')} {r.original_name}", Evidence),
    ]
    changes.sort(key=lambda c: c.at, reverse=True)
    return render(
        request,
        "reporting/history.html",
        {"submission": submission, "transitions": transitions[::-1], "changes": changes},
    )
