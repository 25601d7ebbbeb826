"""The export API and pages: who may export what, the log, downloads, snapshots and their diff; every
denial answers without writing anything."""

import hashlib

import pytest

from reporting.models import ExportJob, ReportSnapshot, Submission
from tests.reporting.test_exports_support import UNAPPROVED_NUMERATOR, all_cells, build_world, job_path, sheet_rows

API = "/api/v1"


@pytest.fixture
def world(
    plan,
    period,
    django_user_model,
    time_machine,
    coordinator,
    nanjing_reporter,
    nanjing_reviewer,
    suzhou_reporter,
    suzhou_reviewer,
):
    return build_world(
        plan=plan,
        period=period,
        django_user_model=django_user_model,
        time_machine=time_machine,
        coordinator=coordinator,
        nanjing_reporter=nanjing_reporter,
        nanjing_reviewer=nanjing_reviewer,
        suzhou_reporter=suzhou_reporter,
        suzhou_reviewer=suzhou_reviewer,
    )


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _jobs() -> list[tuple]:
    return list(ExportJob.objects.order_by("pk").values_list("pk", "status", "sha256", "file_path", "snapshot_id"))


def _submissions() -> list[tuple]:
    return list(Submission.objects.order_by("pk").values_list("pk", "status", "version", "updated_at"))


def test_auditor_exports_and_downloads_the_file_with_its_sha256(world, auditor, client_for):
    client = client_for(auditor)
    response = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "xlsx"}, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["status"], data["mode"], data["format"], data["created_by"]) == ("done", "inline", "xlsx", "auditor")
    assert response["Location"] == f"{API}/exports/{data['id']}/"
    assert data["file_url"] == f"{API}/exports/{data['id']}/file/"
    download = client.get(data["file_url"])
    assert download.status_code == 200
    body = _body(download)
    assert hashlib.sha256(body).hexdigest() == data["sha256"]
    assert len(body) == data["size"]
    assert download["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=utf-8''" in download["Content-Disposition"]
    snapshot = client.get(f"{API}/report-snapshots/{data['snapshot']}/")
    assert snapshot.status_code == 200
    assert snapshot.json()["content"]["meta"]["period"] == "2025Q4"


def test_auditor_can_export_but_cannot_change_anything(world, auditor, client_for):
    client = client_for(auditor)
    job = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json").json()
    before_jobs, before_submissions = _jobs(), _submissions()
    nanjing = world.nanjing
    url = f"{API}/submissions/{nanjing.public_id}/"
    headers = {"HTTP_IF_MATCH": f'"{nanjing.version}"'}
    writes = [
        ("put", f"{url}values/", {"values": [{"indicator": "high-skill-workers-new", "value": "1"}]}),
        ("put", f"{url}narratives/", {"narratives": [{"measure": 6, "progress": "x"}]}),
        ("post", f"{url}submit/", {}),
        ("post", f"{url}city-approve/", {}),
        ("post", f"{url}confirm/", {}),
        ("post", f"{url}return/", {"reason": "审计要求退回"}),
        ("post", f"{url}reopen/", {"reason": "审计要求重开"}),
        ("patch", f"{API}/periods/2025Q4/", {"deadline": "2026-02-01"}),
        ("post", f"{API}/periods/2025Q4/close/", {}),
        ("post", f"{API}/submissions/", {"plan": world.plan.code, "period": "2025Q4", "region": nanjing.region.code}),
    ]
    for method, path, payload in writes:
        response = getattr(client, method)(path, payload, format="json", **headers)
        assert response.status_code == 403, (path, response.status_code, response.content[:200])
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(f"{API}/exports/{job['id']}/", {}, format="json").status_code == 405
        assert (
            getattr(client, method)(f"{API}/report-snapshots/{job['snapshot']}/", {}, format="json").status_code == 405
        )
    assert _jobs() == before_jobs
    assert _submissions() == before_submissions


def test_city_reporter_cannot_export_other_cities_data(world, nanjing_reporter, suzhou, client_for):
    client = client_for(nanjing_reporter)
    for cities in ([suzhou.code], [world.wuxi.region.code], ["320100", world.wuxi.region.code]):
        response = client.post(
            f"{API}/exports/", {"period": "2025Q4", "format": "xlsx", "cities": cities}, format="json"
        )
        assert response.status_code == 403
        assert response.json()["message"] == "您只能导出本市的数据。"
    response = client.post(
        f"{API}/exports/", {"period": "2025Q4", "format": "xlsx", "bodies": ["js-education"]}, format="json"
    )
    assert response.status_code == 403
    assert ExportJob.objects.count() == 0
    assert ReportSnapshot.objects.count() == 0

    own = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "xlsx"}, format="json")
    assert own.status_code == 201
    job = ExportJob.objects.get()
    path = job_path(job)
    assert {r["地区"] for r in sheet_rows(path, "各地数据")} == {"江苏省", "南京市"}
    values = [str(c.value) for c in all_cells(path) if c.value is not None]
    assert not [v for v in values if UNAPPROVED_NUMERATOR in v or "无锡" in v]


def test_city_reporter_reads_only_their_own_jobs_and_snapshots(world, auditor, nanjing_reporter, client_for):
    theirs = client_for(auditor).post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json").json()
    client = client_for(nanjing_reporter)
    assert client.get(f"{API}/exports/{theirs['id']}/").status_code == 404
    assert client.get(f"{API}/exports/{theirs['id']}/file/").status_code == 404
    assert client.get(f"{API}/report-snapshots/{theirs['snapshot']}/").status_code == 404
    assert client.get(f"{API}/exports/").json()["results"] == []
    again = client.post(f"{API}/exports/", {"snapshot": theirs["snapshot"], "format": "xlsx"}, format="json")
    assert again.status_code == 404
    assert ExportJob.objects.count() == 1


def test_admin_reads_the_whole_log_but_exports_nothing_and_reads_no_file(world, auditor, admin_user, client_for):
    theirs = client_for(auditor).post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json").json()
    client = client_for(admin_user)
    before = _jobs()
    response = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "xlsx"}, format="json")
    assert response.status_code == 403
    assert _jobs() == before
    log = client.get(f"{API}/exports/").json()["results"]
    assert [(j["id"], j["created_by"], j["format"], j["scope"]["period"]) for j in log] == [
        (theirs["id"], "auditor", "csv", "2025Q4")
    ]
    assert client.get(f"{API}/exports/{theirs['id']}/").status_code == 200
    assert client.get(f"{API}/exports/{theirs['id']}/file/").status_code == 403
    assert client.get(f"{API}/report-snapshots/").status_code == 403
    assert client.get(f"{API}/report-snapshots/{theirs['snapshot']}/").status_code == 403


def test_the_log_is_read_by_auditors_in_full_and_by_others_as_their_own(
    world, auditor, coordinator, nanjing_reporter, client_for
):
    mine = client_for(nanjing_reporter).post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json")
    coordinators = client_for(coordinator).post(f"{API}/exports/", {"period": "2025", "format": "csv"}, format="json")
    assert (mine.status_code, coordinators.status_code) == (201, 201)
    full = client_for(auditor).get(f"{API}/exports/").json()["results"]
    assert sorted(j["created_by"] for j in full) == ["coordinator", "nj-reporter"]
    own = client_for(coordinator).get(f"{API}/exports/").json()["results"]
    assert [(j["created_by"], j["span"], j["scope"]["period"]) for j in own] == [("coordinator", "year", "2025")]


def test_outsider_exports_nothing(world, user, client_for):
    client = client_for(user)
    assert client.post(f"{API}/exports/", {"period": "2025Q4", "format": "xlsx"}, format="json").status_code == 403
    assert client.get(f"{API}/exports/").json()["results"] == []
    assert client.get(f"{API}/report-snapshots/").status_code == 403
    assert ExportJob.objects.count() == 0


def test_body_reporter_exports_their_bodies_measures_only(world, edu_reporter, client_for):
    client = client_for(edu_reporter)
    response = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "xlsx"}, format="json")
    assert response.status_code == 201
    job = ExportJob.objects.get()
    content = job.snapshot.content
    measures = {row["measure_number"] for row in content["parts"]["plan_status"]}
    from measures.models import Responsibility

    led = set(
        Responsibility.objects.filter(body__code="js-education").values_list("measure__number", flat=True).distinct()
    )
    assert measures == led
    assert {row["region"] for row in content["parts"]["figures"]} <= {"江苏省"}
    assert {row["reporter"] for row in content["parts"]["completeness"]} == {"省教育厅"}
    other = client.post(
        f"{API}/exports/", {"period": "2025Q4", "format": "xlsx", "bodies": ["js-human-resources"]}, format="json"
    )
    assert other.status_code == 403
    assert ExportJob.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"period": "2025Q9", "format": "xlsx"}, "period"),
        ({"period": "2099Q1", "format": "xlsx"}, "period"),
        ({"period": "2025Q4", "format": "docx"}, "format"),
        ({"period": "2025Q4", "format": "xlsx", "part": "figures"}, "part"),
        ({"period": "2025Q4", "format": "csv", "part": "nonsense"}, "part"),
        ({"period": "2025Q4", "format": "xlsx", "measures": [99]}, "measures"),
        ({"period": "2025Q4", "format": "xlsx", "cities": ["999999"]}, "cities"),
        ({"format": "xlsx"}, "period"),
    ],
)
def test_bad_export_requests_name_the_field_and_log_nothing(world, auditor, client_for, payload, field):
    response = client_for(auditor).post(f"{API}/exports/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ExportJob.objects.count() == 0


def test_snapshot_diff_endpoint_shows_the_revision(
    world, auditor, coordinator, nanjing_reporter, nanjing_reviewer, client_for
):
    from reporting.services import workflow
    from reporting.services.rollups import rollup_period
    from reporting.services.submissions import submission_values_put

    client = client_for(auditor)
    first = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json").json()
    s = workflow.submission_reopen(submission=world.nanjing, user=coordinator, reason="更正")
    s, _ = submission_values_put(
        submission=s,
        user=nanjing_reporter,
        values=[{"indicator": "high-skill-workers-per-10000", "numerator": "91000", "denominator": "1000000"}],
    )
    s = workflow.submission_submit(submission=s, user=nanjing_reporter)
    s = workflow.submission_city_approve(submission=s, user=nanjing_reviewer)
    workflow.submission_confirm(submission=s, user=coordinator)
    rollup_period(plan_id=world.plan.pk, period_id=world.period.pk)
    second = client.post(f"{API}/exports/", {"period": "2025Q4", "format": "csv"}, format="json").json()
    response = client.get(f"{API}/report-snapshots/{second['snapshot']}/diff/", {"against": first["snapshot"]})
    assert response.status_code == 200
    revised = {(r["key"], r["field"]): (r["old"], r["new"]) for r in response.json()["revised"]}
    assert revised[("figure:high-skill-workers-per-10000:320100", "value")] == ("900", "910")
    listing = client.get(f"{API}/report-snapshots/").json()["results"]
    assert [s["id"] for s in listing] == [second["snapshot"], first["snapshot"]]
    assert "content" not in listing[0]


def test_export_pages(world, auditor, admin_user, user, client):
    client.force_login(auditor)
    page = client.get("/exports/")
    assert page.status_code == 200
    assert "督查报告" in page.content.decode()
    response = client.post("/exports/", {"period": "2025Q4", "format": "xlsx", "part": ""})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/exports/{job.public_id}/"
    detail = client.get(response["Location"]).content.decode()
    assert job.sha256 in detail
    download = client.get(f"/exports/{job.public_id}/download/")
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == job.sha256
    snapshot_page = client.get(f"/exports/snapshots/{job.snapshot.public_id}/").content.decode()
    assert "全省每万名劳动者中高技能人才数为 750.0人/万人" in snapshot_page
    again = client.post(f"/exports/snapshots/{job.snapshot.public_id}/export/", {"format": "csv"})
    assert again.status_code == 302
    assert ExportJob.objects.filter(snapshot=job.snapshot).count() == 2
    bad = client.post("/exports/", {"period": "2099Q1", "format": "xlsx"})
    assert bad.status_code == 400
    assert "报告期应为已有的季度（如 2025Q4）或年度（如 2025）。" in bad.content.decode()
    assert ExportJob.objects.count() == 2

    client.force_login(admin_user)
    log = client.get("/exports/").content.decode()
    assert "导出日志（全部）" in log
    assert 'name="period"' not in log
    assert client.post("/exports/", {"period": "2025Q4", "format": "xlsx"}).status_code == 403
    assert client.get(f"/exports/{job.public_id}/download/").status_code == 403
    assert client.get(f"/exports/snapshots/{job.snapshot.public_id}/").status_code == 403

    client.force_login(user)
    assert client.get("/exports/").status_code == 403
    assert client.get(f"/exports/{job.public_id}/").status_code == 404
    assert ExportJob.objects.count() == 2
