"""Web pages for supervision (督查) reports, mounted at /exports/ by portal/urls.py: ask for a report, follow
its job, download the file, read a snapshot's written summary and what changed since an earlier one,
and the export log (administrators and auditors see all of it, everyone else their own exports).

Views parse HTTP and call one service or selector each; the services decide who may export what."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.requests import AuthenticatedRequest
from measures.models import Region, ResponsibleBody
from reporting.exports.parts import PARTS
from reporting.exports.render import CONTENT_TYPES, download_name, file_extension
from reporting.models import ExportJob, ReportSnapshot
from reporting.selectors.exports import (
    Audience,
    export_audience,
    export_file_readable,
    export_jobs_visible,
    export_log_reader,
    snapshot_diff,
    snapshots_visible,
)
from reporting.services.exports import export_download_log, export_file_path, export_job_create

LOG_PAGE_SIZE = 50


def _numbers(text: str) -> list[str]:
    return [item for item in text.replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if item]


class ExportForm(forms.Form):
    period = forms.CharField(
        label=gettext_lazy("报告期"), max_length=8, help_text=gettext_lazy("季度如 2025Q4，年度如 2025")
    )
    format = forms.ChoiceField(label=gettext_lazy("格式"), choices=ExportJob.Format.choices)
    part = forms.ChoiceField(
        label=gettext_lazy("CSV 导出部分"),
        required=False,
        choices=[("", gettext_lazy("全部（每部分一个 CSV，打包为 zip）")), *[(p.key, p.title) for p in PARTS]],
    )
    programmes = forms.CharField(
        label=gettext_lazy("工程编号"), required=False, max_length=100, help_text=gettext_lazy("可选，逗号分隔，如 1,2")
    )
    measures = forms.CharField(
        label=gettext_lazy("举措编号"), required=False, max_length=200, help_text=gettext_lazy("可选，逗号分隔，如 6,7")
    )
    cities = forms.MultipleChoiceField(
        label=gettext_lazy("设区市"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=gettext_lazy("可选，按住 Ctrl 多选；不选为全部"),
    )
    bodies = forms.MultipleChoiceField(
        label=gettext_lazy("责任单位"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=gettext_lazy("可选，按住 Ctrl 多选"),
    )
    background = forms.BooleanField(label=gettext_lazy("后台生成"), required=False)

    def __init__(self, *args: Any, audience: Audience, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cities = Region.objects.filter(level=Region.Level.CITY).order_by("sort_order", "code")
        bodies = ResponsibleBody.objects.filter(is_active=True).order_by("code")
        if audience.kind == "cities":
            cities = cities.filter(pk__in=audience.city_ids)
            bodies = bodies.none()
        elif audience.kind == "bodies":
            cities = cities.none()
            bodies = bodies.filter(pk__in=audience.body_ids)
        self.fields["cities"].choices = [(c.code, c.name) for c in cities]  # type: ignore[attr-defined]
        self.fields["bodies"].choices = [(b.code, b.name) for b in bodies]  # type: ignore[attr-defined]


def _audience_or_none(user: Any) -> Audience | None:
    try:
        return export_audience(user=user)
    except PermissionDenied:
        return None


def _page(request: AuthenticatedRequest, *, form: ExportForm | None, status: int = 200) -> HttpResponse:
    jobs = export_jobs_visible(user=request.user).order_by("-created_at", "-id")
    page = Paginator(jobs, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "whole_log": export_log_reader(user=request.user),
        "snapshots": snapshots_visible(user=request.user).defer("content")[:20] if form is not None else [],
    }
    return render(request, "reporting/exports/index.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def index(request: AuthenticatedRequest) -> HttpResponse:
    audience = _audience_or_none(request.user)
    if request.method == "GET":
        form = ExportForm(audience=audience) if audience is not None else None
        if audience is None and not export_log_reader(user=request.user):
            raise PermissionDenied
        return _page(request, form=form)
    if audience is None:
        raise PermissionDenied
    form = ExportForm(request.POST, audience=audience)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        job = export_job_create(
            user=request.user,
            format=data["format"],
            period=data["period"],
            part=data["part"] if data["format"] == ExportJob.Format.CSV else "",
            programmes=_numbers(data["programmes"]),
            measures=_numbers(data["measures"]),
            cities=data["cities"],
            bodies=data["bodies"],
            background=data["background"],
        )
    except ValidationError as exc:
        for key, errors in exc.message_dict.items():
            target = key if key in form.fields else None
            for error in errors:
                form.add_error(target, error)
        return _page(request, form=form, status=400)
    if job.status == ExportJob.Status.DONE:
        messages.success(request, _("报告已生成。"))
    elif job.status == ExportJob.Status.FAILED:
        messages.error(request, _("报告生成失败，请查看错误信息。"))
    else:
        messages.info(request, _("报告正在后台生成，本页会自动刷新。"))
    return redirect("exports:job", public_id=job.public_id)


def _job(request: AuthenticatedRequest, public_id: Any) -> ExportJob:
    return get_object_or_404(export_jobs_visible(user=request.user), public_id=public_id)


@login_required
@require_GET
def job(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    item = _job(request, public_id)
    context = {
        "job": item,
        "pending": item.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
        "may_download": export_file_readable(user=request.user, job=item),
        "may_read_snapshot": item.snapshot_id is not None
        and snapshots_visible(user=request.user).filter(pk=item.snapshot_id).exists(),
    }
    return render(request, "reporting/exports/job.html", context)


@login_required
@require_GET
def download(request: AuthenticatedRequest, public_id: Any) -> FileResponse:
    item = _job(request, public_id)
    if not export_file_readable(user=request.user, job=item):
        raise PermissionDenied
    if item.status != ExportJob.Status.DONE:
        raise Http404
    path = export_file_path(item)
    if not path.is_file():
        raise Http404
    export_download_log(job=item, user=request.user)
    extension = file_extension(item.format, item.part)
    name = download_name(item.snapshot.content, item.format, item.part) if item.snapshot else f"export.{extension}"
    response = FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=CONTENT_TYPES[extension])
    response["Cache-Control"] = "private, no-store"
    return response


def _snapshot(request: AuthenticatedRequest, public_id: Any) -> ReportSnapshot:
    if _audience_or_none(request.user) is None:
        raise PermissionDenied
    return get_object_or_404(snapshots_visible(user=request.user), public_id=public_id)


@login_required
@require_GET
def snapshot(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    item = _snapshot(request, public_id)
    others = (
        snapshots_visible(user=request.user)
        .filter(plan=item.plan, period=item.period, span=item.span)
        .exclude(pk=item.pk)
        .defer("content")
        .order_by("-cut_off")[:50]
    )
    diff = None
    against_id = request.GET.get("against")
    if against_id:
        try:
            earlier = snapshots_visible(user=request.user).filter(public_id=against_id).first()
        except ValidationError:
            earlier = None
        if earlier is None:
            raise Http404
        diff = snapshot_diff(earlier=earlier, later=item)
    context = {
        "snapshot": item,
        "meta": item.content.get("meta", {}),
        "summary": item.content.get("summary", []),
        "others": others,
        "diff": diff,
        "formats": ExportJob.Format.choices,
    }
    return render(request, "reporting/exports/snapshot.html", context)


@login_required
@require_POST
def snapshot_export(request: AuthenticatedRequest, public_id: Any) -> HttpResponse:
    """Render the report again from this snapshot: the same figures, in any format."""
    item = _snapshot(request, public_id)
    try:
        job = export_job_create(user=request.user, format=request.POST.get("format"), snapshot=item)
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            for error in errors:
                messages.error(request, error)
        return redirect("exports:snapshot", public_id=item.public_id)
    return redirect("exports:job", public_id=job.public_id)
