"""The read cache (issue 7): pages and API answers built from the figures are cached under the figures'
version, which the rollup changes in the transaction that writes them, so a reader never sees figures older
than the last committed rollup; and a cached answer never reaches a reader with other rights."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from measures.models import Region
from portal.accounts.services import membership_grant
from reporting.models import ConsistencyCheck, Figure, FiguresVersion, Submission
from reporting.services.rollups import rollup_period, rollup_slice
from reporting.services.workflow import submission_city_approve, submission_confirm
from tests.portal.test_dashboards import INDICATOR, OVERVIEW, SHANGHAI, cities, login, q3, q4, quarter, today  # noqa: F401 - the dashboards' fixtures

PER_10000 = "high-skill-workers-per-10000"


def _target(response):
    return next(t for t in response.context["data"].targets if t.indicator.code == PER_10000)


def test_overview_and_api_show_a_new_figure_once_its_rollup_commits(
    client,
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    django_user_model,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    login(client, coordinator)
    api = client_for(coordinator)
    before = client.get(OVERVIEW)
    assert _target(before).coverage.included == 2
    assert "2/13 市" in before.content.decode()
    status = api.get("/api/v1/status/").json()
    assert {t["reported_count"] for t in status["targets"] if t["indicator"] == PER_10000} == {2}
    figures = api.get("/api/v1/figures/", {"indicator": "apprentices-trained", "region": "320000", "span": "ytd"})
    assert Decimal(figures.json()["results"][0]["value"]) == Decimal(4000)

    # Changzhou's report (its draft, as if just submitted) is approved by its city and confirmed by the
    # province, then rolled up.
    changzhou = Submission.objects.get(region__name="常州市", period=quarter)
    changzhou.status = Submission.Status.SUBMITTED
    changzhou.save(update_fields=["status"])
    reviewer = django_user_model.objects.create_user(username="cz-reviewer", password="a-long-test-password")
    membership_grant(user=reviewer, role="city_reviewer", region=changzhou.region, valid_from=date(2018, 1, 1))
    submission_city_approve(submission=changzhou, user=reviewer)
    submission_confirm(submission=Submission.objects.get(pk=changzhou.pk), user=coordinator)
    token = FiguresVersion.objects.get(plan=plan).token
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    assert FiguresVersion.objects.get(plan=plan).token != token

    after = client.get(OVERVIEW)
    assert _target(after).coverage.included == 3
    assert "3/13 市" in after.content.decode()
    status = api.get("/api/v1/status/").json()
    assert {t["reported_count"] for t in status["targets"] if t["indicator"] == PER_10000} == {3}
    figures = api.get("/api/v1/figures/", {"indicator": "apprentices-trained", "region": "320000", "span": "ytd"})
    assert Decimal(figures.json()["results"][0]["value"]) == Decimal(5000)


def test_two_cities_never_share_a_cached_page_or_answer(
    client,
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    plan,
    nanjing_reporter,
    suzhou_reporter,
):
    Submission.objects.filter(region__name="苏州市", period=quarter).update(status="confirmed")
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    nanjing, suzhou = Region.objects.get(name="南京市"), Region.objects.get(name="苏州市")

    login(client, nanjing_reporter)
    first = client.get(INDICATOR)
    assert [row.region.name for row in first.context["data"].cities] == ["南京市"]
    home = client.get("/dashboard/city/")
    assert home.context["data"].city == nanjing
    nanjing_rows = client_for(nanjing_reporter).get("/api/v1/figures/", {"indicator": "apprentices-trained"}).json()
    assert {r["region"] for r in nanjing_rows["results"]} == {"320000", nanjing.code}

    login(client, suzhou_reporter)
    second = client.get(INDICATOR)
    assert [row.region.name for row in second.context["data"].cities] == ["苏州市"]
    table = second.content.decode()
    table = table[table.index('class="data-table cities-table"') :]
    assert "南京市" not in table[: table.index("</table>")]
    home = client.get("/dashboard/city/")
    assert home.context["data"].city == suzhou
    assert "南京市" not in home.content.decode()
    suzhou_rows = client_for(suzhou_reporter).get("/api/v1/figures/", {"indicator": "apprentices-trained"}).json()
    assert {r["region"] for r in suzhou_rows["results"]} == {"320000", suzhou.code}


def test_api_answers_are_kept_rendered_with_the_headers_drf_sends(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    monkeypatch,
):
    from rest_framework.renderers import JSONRenderer

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    api = client_for(coordinator)
    renders = []
    real = JSONRenderer.render
    monkeypatch.setattr(JSONRenderer, "render", lambda self, *a, **k: renders.append(1) or real(self, *a, **k))
    for path in ("/api/v1/status/", "/api/v1/figures/?region=320000&span=ytd"):
        renders.clear()
        first, second = api.get(path), api.get(path)
        assert (first.status_code, second.status_code) == (200, 200)
        assert len(renders) == 1  # the second answer is the stored body
        assert second.content == first.content
        for header in ("Content-Type", "Vary", "Allow", "Cache-Control"):
            assert second[header] == first[header], header
        assert second["Content-Type"] == "application/json"
        assert "Accept" in second["Vary"].split(", ")
        # The browsable API still renders its page (from the cached data), not the stored JSON.
        page = api.get(path, HTTP_ACCEPT="text/html")
        assert page.status_code == 200
        assert page["Content-Type"].startswith("text/html")
        # An indented answer is another body.
        indented = api.get(path, HTTP_ACCEPT="application/json; indent=2")
        assert indented.content != first.content
        assert json.loads(indented.content) == json.loads(first.content)


# -- kept page bodies: what they show from the submissions is never stale, and never another reader's ------


def _attention(response) -> str:
    content = response.content.decode()
    return content[content.index('id="attention"') :]


def test_a_kept_overview_shows_a_submission_change_at_once_without_a_rollup(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    login(client, coordinator)
    first = client.get(OVERVIEW).content.decode()
    assert client.get(OVERVIEW).content.decode().count("逾期") == first.count("逾期")  # kept, same page
    assert "按时 2 · 逾期 1 · 省级已确认 2" in first
    assert ">常州市</a>" in _attention(client.get(OVERVIEW))  # overdue, its draft linked
    token = FiguresVersion.objects.get(plan=plan).token

    # Changzhou's draft is submitted (late): completeness and the overdue list change, the figures do not.
    changzhou = Submission.objects.get(region__name="常州市", period=quarter)
    Submission.objects.filter(pk=changzhou.pk).update(status="submitted", is_late=True)
    assert "按时 2 · 逾期 2 · 省级已确认 2" in client.get(OVERVIEW).content.decode()
    assert ">常州市</a>" not in _attention(client.get(OVERVIEW))  # no longer overdue
    assert FiguresVersion.objects.get(plan=plan).token == token

    # Suzhou's return reason is edited; then Suzhou resubmits: the returned list follows at once.
    suzhou = Submission.objects.get(region__name="苏州市", period=quarter)
    Submission.objects.filter(pk=suzhou.pk).update(return_reason="请补充附件。")
    assert "请补充附件。" in _attention(client.get(OVERVIEW))
    Submission.objects.filter(pk=suzhou.pk).update(status="submitted", return_reason="")
    assert f"/report/{suzhou.public_id}/" not in _attention(client.get(OVERVIEW))

    # A consistency check that found differences shows at once too.
    ConsistencyCheck.objects.create(plan=plan, figures_checked=77, drift_count=5)
    assert "77 项汇总数据，5 项与原始数据不一致" in client.get(OVERVIEW).content.decode()


def test_a_kept_overview_follows_the_day(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    time_machine,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    time_machine.move_to(datetime(2026, 1, 20, 23, 59, tzinfo=SHANGHAI), tick=False)
    login(client, coordinator)
    assert "逾期 10 天" in client.get(OVERVIEW).content.decode()
    assert "逾期 10 天" in client.get(OVERVIEW).content.decode()
    time_machine.shift(timedelta(minutes=2))
    assert "逾期 11 天" in client.get(OVERVIEW).content.decode()


def test_a_kept_overview_is_never_another_readers(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    edu_reporter,
    plan,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    suzhou = Submission.objects.get(region__name="苏州市", period=quarter)
    link = f'href="/report/{suzhou.public_id}/"'
    login(client, coordinator)
    for _ in range(2):
        page = client.get(OVERVIEW).content.decode()
        assert link in page
        assert "口径不一致" in page
        assert "预览口径（含市级已审核）" in page  # the preview switch
    login(client, edu_reporter)
    for _ in range(2):
        page = client.get(OVERVIEW).content.decode()
        assert "苏州市 2025Q4" in page
        assert link not in page
        assert "口径不一致" not in page
        assert "预览口径（含市级已审核）" not in page
        assert f'<span class="site-nav__username">{edu_reporter.username}</span>' in page  # the frame is theirs


def test_a_kept_indicator_page_is_never_another_readers(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    nanjing_reporter,
    plan,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    login(client, coordinator)
    for _ in range(2):
        page = client.get(INDICATOR).content.decode()
        assert "预览口径（含市级已审核）" in page
        assert 'href="/dashboard/?period=2025Q4"' in page  # the province breadcrumbs
    login(client, nanjing_reporter)
    for _ in range(2):
        page = client.get(INDICATOR).content.decode()
        assert "预览口径（含市级已审核）" not in page
        assert 'href="/dashboard/?period=2025Q4"' not in page
        assert '<a href="/dashboard/city/">' in page


def test_a_kept_page_follows_the_language(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    login(client, coordinator)
    for url in (OVERVIEW, INDICATOR):
        chinese = client.get(url).content.decode()
        client.cookies["django_language"] = "en"
        english = client.get(url).content.decode()
        del client.cookies["django_language"]
        assert 'lang="en"' in english
        assert english.count("<section") == chinese.count("<section")
        assert english != chinese
        assert client.get(url).content.decode().count("需要关注" if url == OVERVIEW else "目标与序时进度") >= 1


# -- a rollup that changes no figure keeps every kept answer; the figures API still shows its new check time --


def test_a_rollup_that_changes_no_figure_keeps_the_version_and_the_kept_answers(
    client,
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    monkeypatch,
):
    from rest_framework.renderers import JSONRenderer

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    token = FiguresVersion.objects.get(plan=plan).token
    login(client, coordinator)
    api = client_for(coordinator)
    first_page, first_status = client.get(OVERVIEW), api.get("/api/v1/status/")
    # Again, nothing changed: the nightly rebuild of one slice, and a whole period's run.
    home = Region.objects.get(code="320000")
    assert rollup_slice(plan_id=plan.pk, period_id=quarter.pk, province_id=home.pk).written == 0
    assert rollup_period(plan_id=plan.pk, period_id=quarter.pk).written == 0
    assert FiguresVersion.objects.get(plan=plan).token == token
    renders = []
    real = JSONRenderer.render
    monkeypatch.setattr(JSONRenderer, "render", lambda self, *a, **k: renders.append(1) or real(self, *a, **k))
    monkeypatch.setattr("portal.dashboards.views.dashboard_overview", lambda **kwargs: pytest.fail("recomputed"))
    # The kept body (the page around it carries a fresh CSRF token and CSP nonce).
    assert client.get(OVERVIEW).context["body"] == first_page.context["body"]
    assert api.get("/api/v1/status/").content == first_status.content
    assert renders == []


def test_the_figures_api_shows_the_check_time_of_a_rollup_that_changed_no_figure(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    time_machine,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    api = client_for(coordinator)
    path = "/api/v1/figures/?region=320000&span=ytd"
    before = api.get(path).json()["results"]
    token = FiguresVersion.objects.get(plan=plan).token
    time_machine.shift(timedelta(hours=2))
    assert rollup_period(plan_id=plan.pk, period_id=quarter.pk).written == 0
    assert FiguresVersion.objects.get(plan=plan).token == token
    after = api.get(path).json()["results"]
    assert [row["value"] for row in after] == [row["value"] for row in before]
    assert [row["computed_at"] for row in after] == [row["computed_at"] for row in before]
    checked = datetime.fromisoformat(before[0]["checked_at"]) + timedelta(hours=2)
    assert all(checked <= datetime.fromisoformat(row["checked_at"]) < checked + timedelta(minutes=1) for row in after)


def test_a_rollup_that_only_removes_a_figure_changes_the_version(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
):
    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    api = client_for(coordinator)
    nantong = Region.objects.get(name="南通市")
    # A figure of a city that has no report (as one left behind by a reopened report would be).
    stale = Figure.objects.filter(plan=plan, period=quarter, region__name="南京市", basis="official").first()
    stale.pk, stale.region = None, nantong
    stale.save()
    path = f"/api/v1/figures/?region={nantong.code}"
    assert api.get(path).json()["count"] == 1
    token = FiguresVersion.objects.get(plan=plan).token
    assert rollup_period(plan_id=plan.pk, period_id=quarter.pk).written == 1
    assert FiguresVersion.objects.get(plan=plan).token != token
    assert api.get(path).json()["count"] == 0


# -- after a rollup that changed figures, what every reader shares is computed before anyone asks --------------


def test_the_warming_keeps_what_the_first_readers_would_compute(
    client,
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    monkeypatch,
):
    from django.core.cache import cache

    from reporting import api_progress
    from reporting.services.read_warm import read_cache_warm

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    login(client, coordinator)
    api = client_for(coordinator)
    cold_status = api.get("/api/v1/status/").content
    cold_page = client.get(OVERVIEW).context["body"]
    cache.clear()
    assert read_cache_warm(plan_id=plan.pk) == settings.READ_CACHE_WARMERS
    # Neither the judged figures nor the status answer is computed by a reader now.
    monkeypatch.setattr("portal.dashboards.kept.overview_judged", lambda **kwargs: pytest.fail("judged again"))
    monkeypatch.setattr(api_progress, "_status_payload", lambda *args: pytest.fail("status again"))
    assert api.get("/api/v1/status/").content == cold_status
    assert api.get("/api/v1/status/?period=2025Q4").content == cold_status
    assert client.get(OVERVIEW).context["body"] == cold_page
    # Another plan is not the dashboards': nothing kept for it, nothing broken.
    assert read_cache_warm(plan_id=plan.pk + 1000) == ["reporting.api_progress.status_warm"]


def test_a_rollup_asks_for_a_warming_once_it_commits_and_moves_the_version_only_when_figures_changed(
    quarter,  # noqa: F811 - the fixture imported above
    plan,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from reporting.services import rollups

    asked: list[int] = []
    monkeypatch.setattr(rollups, "read_cache_warm_request", lambda *, plan_id: asked.append(plan_id))
    home = Region.objects.get(code="320000")
    token = FiguresVersion.objects.get(plan=plan).token
    # The quarter fixture has rolled 2025Q4 up already: nothing changes, but the slices' check times move
    # (the figures API shows them), so each run asks for a warming, once it has committed.
    with django_capture_on_commit_callbacks(execute=True):
        rollup_period(plan_id=plan.pk, period_id=quarter.pk)
        rollup_slice(plan_id=plan.pk, period_id=quarter.pk, province_id=home.pk)
        assert asked == []
    assert asked == [plan.pk, plan.pk]
    # The nightly job's province check finds the slice unchanged and moves its check time: a warming too.
    with django_capture_on_commit_callbacks(execute=True):
        checked = rollups.rollup_province_check(plan_id=plan.pk, province_id=home.pk, period_ids=[quarter.pk])
    assert checked.checked == [quarter.pk]
    assert asked == [plan.pk, plan.pk, plan.pk]
    assert FiguresVersion.objects.get(plan=plan).token == token
    # Xuzhou's city-approved report confirmed: the official figures move, and the version with them.
    Submission.objects.filter(period=quarter, region__name="徐州市").update(status=Submission.Status.CONFIRMED)
    with django_capture_on_commit_callbacks(execute=True):
        assert rollup_period(plan_id=plan.pk, period_id=quarter.pk).written > 0
    assert asked == [plan.pk, plan.pk, plan.pk, plan.pk]
    assert FiguresVersion.objects.get(plan=plan).token != token


def test_warmings_asked_for_while_one_is_queued_are_one(plan):
    from django.core.cache import cache

    from reporting.services.read_warm import read_cache_warm, read_cache_warm_request

    cache.delete(f"read-warm:{plan.pk}")
    try:
        assert read_cache_warm_request(plan_id=plan.pk) is True
        assert read_cache_warm_request(plan_id=plan.pk) is False
        read_cache_warm(plan_id=plan.pk)  # the queued one starts: a rollup committing now asks again
        assert read_cache_warm_request(plan_id=plan.pk) is True
    finally:
        cache.delete(f"read-warm:{plan.pk}")


def test_a_kept_overview_shows_a_body_report_change_at_once(
    client,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
):
    from reporting.selectors.dashboards import reporting_bodies

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    body = reporting_bodies(plan=plan)[0]  # a body the completeness grid lists
    report = Submission.objects.create(plan=plan, period=quarter, body=body, status="draft", created_by=coordinator)
    login(client, coordinator)
    first = client.get(OVERVIEW).context["body"]
    assert client.get(OVERVIEW).context["body"] == first  # kept
    Submission.objects.filter(pk=report.pk).update(status="submitted")
    assert client.get(OVERVIEW).context["body"] != first


# -- the figures API: a kept page serves every host and query; its links are each request's own --------------


def test_a_kept_figures_page_has_the_links_of_the_request_that_reads_it(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
    monkeypatch,
):
    from reporting import api_progress

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    api = client_for(coordinator)
    path = "/api/v1/figures/?region=320000&limit=5&offset=5"
    first = api.get(path)
    assert first.json()["next"] == "http://testserver/api/v1/figures/?limit=5&offset=10&region=320000"
    assert first.json()["previous"] == "http://testserver/api/v1/figures/?limit=5&region=320000"
    # Kept: a query naming the same quarter, another host, another scheme read the same rows, each with links
    # to its own query and host (a page kept for one query carried its links; the key named the host).
    monkeypatch.setattr(api_progress.FigureSerializer, "to_representation", lambda *a: pytest.fail("serialised"))
    named = api.get(path + "&period=2025Q4")
    assert named.json()["results"] == first.json()["results"]
    assert named.json()["next"] == "http://testserver/api/v1/figures/?limit=5&offset=10&period=2025Q4&region=320000"
    other = api.get(path + "&period=2025Q4", HTTP_HOST="localhost", secure=True)
    assert other.json()["results"] == first.json()["results"]
    assert other.json()["count"] == first.json()["count"]
    assert other.json()["next"] == "https://localhost/api/v1/figures/?limit=5&offset=10&period=2025Q4&region=320000"
    assert other.json()["previous"] == "https://localhost/api/v1/figures/?limit=5&period=2025Q4&region=320000"


def test_a_kept_figures_page_is_what_drf_renders(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    plan,
):
    from django.core.cache import cache

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    api = client_for(coordinator)
    # The first page, a middle one, the last, one past the end, everything in one page.
    for query in ("", "?limit=7&offset=7", "?limit=7&offset=126", "?offset=500", "?limit=1000"):
        kept = (api.get(f"/api/v1/figures/{query}").content, api.get(f"/api/v1/figures/{query}").content)
        cache.clear()
        indented = api.get(f"/api/v1/figures/{query}", HTTP_ACCEPT="application/json; indent=2").content
        assert kept[0] == kept[1]
        # DRF's own compact rendering of the same envelope.
        assert kept[0] == json.dumps(json.loads(indented), ensure_ascii=False, separators=(",", ":")).encode()


# -- the warming keeps the province's figures page for readers who see everything --------------------------


def test_the_warming_keeps_the_province_figures_page_for_readers_who_see_everything(
    client_for,
    quarter,  # noqa: F811 - the fixture imported above
    coordinator,
    auditor,
    nanjing_reporter,
    plan,
    monkeypatch,
):
    from django.core.cache import cache

    from reporting import api_progress
    from reporting.services.read_warm import read_cache_warm

    rollup_period(plan_id=plan.pk, period_id=quarter.pk)
    path = "/api/v1/figures/?region=320000"
    cold = client_for(coordinator).get(path).content
    cache.clear()
    read_cache_warm(plan_id=plan.pk)
    serialised: list[int] = []
    real = api_progress.FigureSerializer.to_representation
    monkeypatch.setattr(api_progress.FigureSerializer, "to_representation", lambda *a: serialised.append(1) or real(*a))
    assert client_for(coordinator).get(path).content == cold
    assert client_for(auditor).get(path).content == cold
    assert client_for(coordinator).get(path, HTTP_HOST="localhost").json()["results"] == json.loads(cold)["results"]
    assert serialised == []
    # A city's reader has another scope: never the page kept for those who see everything.
    assert {r["region"] for r in client_for(nanjing_reporter).get(path).json()["results"]} == {"320000"}
    assert serialised
    # Xuzhou's report is confirmed and rolled up: the figures move, and the kept page is not shown again.
    serialised.clear()
    Submission.objects.filter(period=quarter, region__name="徐州市").update(status=Submission.Status.CONFIRMED)
    assert rollup_period(plan_id=plan.pk, period_id=quarter.pk).written > 0
    fresh = client_for(coordinator).get(path).json()["results"]
    assert serialised
    assert fresh != json.loads(cold)["results"]
