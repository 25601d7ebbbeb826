"""Dashboards: who may open which page, what each page shows (figures, 序时进度, coverage, attention,
narratives, completeness, a city's own page), and that nothing is loaded from another host."""

import json
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from indicators.models import Indicator
from measures.models import Region
from reporting.models import ConsistencyCheck, DataValue, Figure, Narrative, Submission, Transition
from reporting.selectors import indicators_expected
from reporting.selectors.dashboards import audience_for, indicator_detail
from reporting.selectors.progress import target_progress
from reporting.services.periods import period_ensure
from reporting.services.rollups import rollup_period
from reporting.status import Status

SHANGHAI = ZoneInfo("Asia/Shanghai")
OVERVIEW = "/dashboard/"
MEASURE = "/dashboard/measures/6/"
INDICATOR = "/dashboard/indicators/high-skill-workers-per-10000/"
COMPLETENESS = "/dashboard/completeness/"
CITY = "/dashboard/city/"
PAGES = [OVERVIEW, MEASURE, INDICATOR, COMPLETENESS, CITY]


@pytest.fixture(autouse=True)
def today(time_machine):
    """After the 2025Q4 deadline (2026-01-10): missing reports are overdue."""
    time_machine.move_to(datetime(2026, 1, 20, 10, tzinfo=SHANGHAI))


@pytest.fixture
def cities(plan):
    return list(Region.objects.filter(level="city").order_by("sort_order"))


def report(plan, period, region, user, *, status="confirmed", size=1, is_late=False, reason="", narrative=""):
    """A city's submission with a value for every indicator a city reports (as load_demo builds them)."""
    submission = Submission.objects.create(
        plan=plan,
        period=period,
        region=region,
        status=status,
        created_by=user,
        is_late=is_late,
        return_reason=reason,
    )
    rows = []
    for indicator in indicators_expected(plan=plan, region=region):
        row = DataValue(submission=submission, indicator=indicator, updated_by=user)
        if indicator.kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
            row.numerator, row.denominator = Decimal(80 * size), Decimal(1000 * size)
            if indicator.code == "high-skill-workers-per-10000":
                row.numerator, row.denominator = Decimal(9000 * size), Decimal(100000 * size)
        elif indicator.kind == Indicator.Kind.MILESTONE:
            row.done = True
        else:
            row.value = Decimal(1000 * size)
        rows.append(row)
    DataValue.objects.bulk_create(rows)
    if narrative:
        Narrative.objects.create(
            submission=submission, measure=plan.measures.get(number=6), progress=narrative, updated_by=user
        )
    if status == "returned":
        Transition.objects.create(
            submission=submission, action="return", from_status="city_approved", to_status="returned",
            actor=user, reason=reason,
        )  # fmt: skip
    return submission


@pytest.fixture
def q4(db):
    return period_ensure(year=2025, quarter=4)


@pytest.fixture
def q3(db):
    return period_ensure(year=2025, quarter=3)


@pytest.fixture
def quarter(plan, q3, q4, cities, coordinator):
    """2025Q4: Nanjing confirmed (on time), Wuxi confirmed late, Xuzhou city-approved, Suzhou returned,
    Changzhou draft, the rest missing; 2025Q3: Nanjing confirmed."""
    user = coordinator
    report(plan, q3, cities[0], user, size=1)
    report(plan, q4, cities[0], user, size=2, narrative="南京：本季度新增高技能人才培训基地两个。")
    report(plan, q4, cities[1], user, size=1, is_late=True)
    report(plan, q4, cities[2], user, status="city_approved", size=1, narrative="徐州：待省级确认的进展。")
    report(plan, q4, cities[4], user, status="returned", reason="高技能人才数与上季度口径不一致，请核实。")
    report(plan, q4, cities[3], user, status="draft", narrative="常州：草稿中的进展。")
    rollup_period(plan_id=plan.pk, period_id=q3.pk)
    return q4


def login(client, user):
    client.force_login(user)
    return client


# -- who may open what ------------------------------------------------------------------------------


def test_every_page_needs_a_login(client, plan):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("coordinator", {OVERVIEW: 200, MEASURE: 200, INDICATOR: 200, COMPLETENESS: 200, CITY: 403}),
        ("auditor", {OVERVIEW: 200, MEASURE: 200, INDICATOR: 200, COMPLETENESS: 200, CITY: 403}),
        ("edu_reporter", {OVERVIEW: 200, MEASURE: 200, INDICATOR: 200, COMPLETENESS: 200, CITY: 403}),
        ("nanjing_reporter", {OVERVIEW: 302, MEASURE: 403, INDICATOR: 200, COMPLETENESS: 403, CITY: 200}),
        ("nanjing_reviewer", {OVERVIEW: 302, MEASURE: 403, INDICATOR: 200, COMPLETENESS: 403, CITY: 200}),
        ("admin_user", {OVERVIEW: 403, MEASURE: 403, INDICATOR: 200, COMPLETENESS: 403, CITY: 403}),
        ("outsider", {OVERVIEW: 403, MEASURE: 403, INDICATOR: 403, COMPLETENESS: 403, CITY: 403}),
    ],
)
def test_role_matrix(client, quarter, request, persona, expected):
    login(client, request.getfixturevalue(persona))
    got = {url: client.get(url).status_code for url in PAGES}
    assert got == expected


def test_city_people_are_sent_to_their_city_home_and_denied_province_pages(client, quarter, nanjing_reporter):
    login(client, nanjing_reporter)
    response = client.get(OVERVIEW)
    assert response["Location"] == "/dashboard/city/"
    denied = client.get(COMPLETENESS)
    content = denied.content.decode()
    assert denied.status_code == 403
    assert "本页面仅向协调小组办公室、督查审计人员和省级责任单位开放" in content
    assert "苏州市" not in content
    assert 'href="/dashboard/city/"' in content


def test_unknown_measure_indicator_and_period_answer_404(client, quarter, coordinator):
    login(client, coordinator)
    assert client.get("/dashboard/measures/99/").status_code == 404
    assert client.get("/dashboard/indicators/no-such-indicator/").status_code == 404
    assert client.get(OVERVIEW, {"period": "2030Q1"}).status_code == 404
    assert client.get(OVERVIEW, {"period": "nonsense"}).status_code == 404


# -- overview -------------------------------------------------------------------------------------------


def test_overview_grid_targets_and_coverage(client, quarter, coordinator):
    login(client, coordinator)
    response = client.get(OVERVIEW)
    assert response.status_code == 200
    data = response.context["data"]
    assert data.period.code == "2025Q4"
    assert [p.programme.number for p in data.programmes] == [1, 2, 3, 4, 5]
    assert sum(len(p.measures) for p in data.programmes) == 23
    row = next(t for t in data.targets if t.target.code == "high-skill-workers-new-150000-per-year")
    # Official: Nanjing (2,000 in Q4 + 1,000 in Q3, year to date) and Wuxi (1,000); Xuzhou only city-approved.
    assert row.judgement.actual == Decimal(4000)
    assert row.judgement.expected == Decimal(150000)
    assert row.judgement.gap == Decimal(-146000)
    assert row.status == Status.OFF_TRACK
    assert (row.coverage.included, row.coverage.expected) == (2, 13)
    assert row.coverage.reported == ["南京市", "无锡市"]
    assert row.coverage.pending == ["徐州市"]
    assert "常州市" in row.coverage.missing
    assert row.share_of_target == Decimal("2.7")
    measure6 = next(m for p in data.programmes for m in p.measures if m.measure.number == 6)
    assert measure6.status == Status.OFF_TRACK
    content = response.content.decode()
    assert "2/13 市" in content
    # Colour plus a text label, never colour alone.
    chip = '<span class="status-chip status-chip--off_track"><span class="status-chip__icon" aria-hidden="true">'
    assert chip + "✕</span>明显滞后</span>" in content
    assert "正式口径：仅统计省级已确认的报表。" in content


def test_overview_completeness_and_needs_attention(client, quarter, coordinator, plan):
    ConsistencyCheck.objects.create(plan=plan, figures_checked=120, drift_count=2, repaired=True)
    login(client, coordinator)
    response = client.get(OVERVIEW)
    data = response.context["data"]
    summary = data.completeness
    bodies = summary.expected - 13
    assert (summary.on_time, summary.late, summary.returned, summary.draft, summary.confirmed) == (2, 1, 1, 1, 2)
    assert summary.missing == 8 + bodies
    assert [str(o.reporter) for o in data.attention.overdue][:10] == [
        "常州市", "苏州市", "南通市", "连云港市", "淮安市", "盐城市", "扬州市", "镇江市", "泰州市", "宿迁市",
    ]  # fmt: skip
    assert {o.days for o in data.attention.overdue} == {10}
    assert [r.submission.region.name for r in data.attention.returned] == ["苏州市"]
    # Shares of 8 % against per-year targets of 30 %–100 %, and 4,000 of 150,000 new high-skill workers.
    assert [t.target.code for t in data.attention.off_track] == [
        "high-skill-workers-new-150000-per-year",
        "frontline-wage-growth-share-all",
        "education-surcharge-vocational-share-30",
        "staff-education-funds-frontline-share-60",
    ]
    assert data.attention.drift.drift_count == 2
    content = response.content.decode()
    assert "高技能人才数与上季度口径不一致，请核实。" in content
    returned = data.attention.returned[0].submission
    assert f'href="/report/{returned.public_id}/"' in content
    assert "120 项汇总数据，2 项与原始数据不一致" in content


def test_body_reporter_sees_returned_city_without_link_or_reason(client, quarter, edu_reporter):
    login(client, edu_reporter)
    response = client.get(OVERVIEW)
    content = response.content.decode()
    returned = response.context["data"].attention.returned[0].submission
    assert "苏州市 2025Q4" in content
    assert f"/report/{returned.public_id}/" not in content
    assert "口径不一致" not in content


def test_overview_period_selector_defaults_to_latest_ended_quarter(client, quarter, coordinator):
    login(client, coordinator)
    assert client.get(OVERVIEW).context["period"].code == "2025Q4"
    older = client.get(OVERVIEW, {"period": "2025q3"})
    assert older.context["period"].code == "2025Q3"
    row = next(t for t in older.context["data"].targets if t.target.code == "high-skill-workers-new-150000-per-year")
    assert row.judgement.actual == Decimal(1000)
    assert (row.coverage.included, row.coverage.expected) == (1, 13)
    assert '<option value="2025Q3" selected>' in older.content.decode()


def test_preview_basis_only_for_coordinators_and_auditors_and_always_labelled(
    client, quarter, coordinator, edu_reporter
):
    login(client, coordinator)
    preview = client.get(OVERVIEW, {"basis": "preview"})
    row = next(t for t in preview.context["data"].targets if t.target.code == "high-skill-workers-new-150000-per-year")
    assert row.judgement.actual == Decimal(5000)  # Xuzhou's city-approved 1,000 counts in the preview
    assert "预览口径" in preview.content.decode()
    assert "不是正式数据" in preview.content.decode()
    login(client, edu_reporter)
    official = client.get(OVERVIEW, {"basis": "preview"})
    assert official.context["basis"] == Figure.Basis.OFFICIAL
    row = next(t for t in official.context["data"].targets if t.target.code == "high-skill-workers-new-150000-per-year")
    assert row.judgement.actual == Decimal(4000)
    assert "不是正式数据" not in official.content.decode()


# -- measure ----------------------------------------------------------------------------------------------


def test_measure_page_text_tasks_bodies_indicators(client, quarter, coordinator, plan):
    login(client, coordinator)
    response = client.get(MEASURE)
    data = response.context["data"]
    content = response.content.decode()
    assert data.measure.number == 6
    assert data.measure.text[:20] in content
    assert len(data.tasks) == plan.measures.get(number=6).tasks.count()
    assert all(r.role == "lead" for t in data.tasks for r in t.leads)
    assert any(t.leads and t.leads[0].is_proposed for t in data.tasks)
    assert '<span class="proposed">建议</span>' in content
    codes = [row.indicator.code for row in data.indicators]
    assert "high-skill-workers-per-10000" in codes
    ratio = next(row for row in data.indicators if row.indicator.code == "high-skill-workers-per-10000")
    # (18,000 + 9,000) / (200,000 + 100,000) × 10,000 = 900
    assert ratio.figure.value == Decimal(900)
    assert data.status == Status.OFF_TRACK


def test_measure_narratives_follow_submission_visibility(client, quarter, coordinator, edu_reporter):
    login(client, coordinator)
    shown = [(n.reporter, n.status) for n in client.get(MEASURE).context["data"].narratives]
    # Drafts never; confirmed and in-review ones for the coordinator.
    assert shown == [("南京市", "confirmed"), ("徐州市", "city_approved")]
    login(client, edu_reporter)
    response = client.get(MEASURE)
    assert [n.reporter for n in response.context["data"].narratives] == ["南京市"]
    assert "待省级确认的进展" not in response.content.decode()
    assert "草稿中的进展" not in response.content.decode()


# -- indicator ----------------------------------------------------------------------------------------


def test_indicator_trend_chart_and_table_carry_the_same_numbers(client, quarter, coordinator):
    login(client, coordinator)
    response = client.get(INDICATOR)
    data = response.context["data"]
    content = response.content.decode()
    assert [p.code for p in data.trend if not p.is_future] == ["2025Q3", "2025Q4"]
    chart = json.loads(re.search(r'<script id="trend-data" type="application/json">(.*?)</script>', content).group(1))
    actual = dict(zip(chart["categories"], chart["series"][0]["data"], strict=True))
    assert Decimal(actual["2025Q3"]) == Decimal(900)
    assert Decimal(actual["2025Q4"]) == Decimal(900)
    assert chart["target"] == "800.0000"
    # The deadline (2020) has passed: no future quarters, no projection.
    assert data.projection is None
    table = content[content.index('class="data-table trend-table"') :]
    assert "900.0" in table[: table.index("</table>")]
    cities = json.loads(re.search(r'<script id="cities-data" type="application/json">(.*?)</script>', content).group(1))
    assert cities["categories"] == ["南京市", "无锡市"]
    assert [row.figure.numerator for row in data.cities] == [Decimal(18000), Decimal(9000)]
    assert [row.figure.denominator for row in data.cities] == [Decimal(200000), Decimal(100000)]
    assert "18,000" in content
    assert "200,000" in content


def test_indicator_judgement_matches_the_status_grid(plan, quarter, coordinator, q4):
    audience = audience_for(user=coordinator)
    for code in ("high-skill-workers-new", "high-skill-workers-per-10000", "frontline-wage-growth-share"):
        detail = indicator_detail(plan=plan, code=code, period=q4, audience=audience, user=coordinator)
        grid = next(p for p in target_progress(plan=plan, period=q4) if p.target.indicator.code == code)
        assert detail.primary.judgement == grid.judgement


def test_per_year_indicator_projects_to_the_year_end(client, quarter, coordinator):
    login(client, coordinator)
    response = client.get("/dashboard/indicators/high-skill-workers-new/", {"period": "2025Q3"})
    data = response.context["data"]
    assert [(p.code, p.is_future) for p in data.trend] == [("2025Q3", False), ("2025Q4", True)]
    assert data.trend[-1].expected == Decimal(150000)
    assert data.projection[0] == "2025Q4"


def test_indicator_coverage_names_the_cities(client, quarter, coordinator):
    login(client, coordinator)
    response = client.get(INDICATOR)
    coverage = response.context["data"].current.coverage
    assert coverage.reported == ["南京市", "无锡市"]
    assert coverage.pending == ["徐州市"]
    # Ratios are carried one quarter like stocks: nothing was reported in 2025Q3 except Nanjing's own.
    assert coverage.carried == []
    assert coverage.missing == [
        "常州市", "苏州市", "南通市", "连云港市", "淮安市", "盐城市", "扬州市", "镇江市", "泰州市", "宿迁市",
    ]  # fmt: skip
    content = response.content.decode()
    assert "2/13 市" in content
    assert "连云港市" in content


def test_city_reporter_sees_province_and_own_city_only_on_indicator(client, quarter, suzhou_reporter, cities, plan, q4):
    # Give Suzhou a confirmed figure; Nanjing's and Wuxi's stay hidden from Suzhou's reporter.
    Submission.objects.filter(region=cities[4], period=q4).update(status="confirmed")
    rollup_period(plan_id=plan.pk, period_id=q4.pk)
    login(client, suzhou_reporter)
    response = client.get(INDICATOR)
    data = response.context["data"]
    assert data.cities_scope == "own"
    assert [row.region.name for row in data.cities] == ["苏州市"]
    content = response.content.decode()
    assert 'id="cities-data"' not in content
    table = content[content.index('class="data-table cities-table"') :]
    assert "南京市" not in table[: table.index("</table>")]
    assert data.current.value == Decimal(900)


# -- completeness ------------------------------------------------------------------------------------------


def test_completeness_grid_categories_and_links(client, quarter, coordinator, cities, q4):
    login(client, coordinator)
    response = client.get(COMPLETENESS)
    grid = response.context["grid"]
    assert [p.code for p in grid.periods] == ["2025Q3", "2025Q4"]
    rows = {str(r.reporter): [c.category for c in r.cells] for r in grid.rows}
    assert rows["南京市"] == ["on_time", "on_time"]
    assert rows["无锡市"] == ["missing", "late"]
    assert rows["徐州市"] == ["missing", "on_time"]
    assert rows["常州市"] == ["missing", "draft"]
    assert rows["苏州市"] == ["missing", "returned"]
    assert rows["宿迁市"] == ["missing", "missing"]
    assert "省教育厅" in rows
    content = response.content.decode()
    nanjing = Submission.objects.get(region=cities[0], period=q4)
    assert f'href="/report/{nanjing.public_id}/"' in content
    assert [(s.received, s.on_time, s.late) for s in grid.summaries] == [(1, 1, 0), (3, 2, 1)]


def test_completeness_links_only_what_the_reader_may_open(client, quarter, edu_reporter, cities, q4):
    login(client, edu_reporter)
    content = client.get(COMPLETENESS).content.decode()
    nanjing = Submission.objects.get(region=cities[0], period=q4)
    assert f"/report/{nanjing.public_id}/" not in content
    assert "按时报送" in content


# -- city home -----------------------------------------------------------------------------------------------


def test_city_home_due_returned_and_figures(client, quarter, suzhou_reporter, cities, q4):
    login(client, suzhou_reporter)
    response = client.get(CITY)
    data = response.context["data"]
    assert data.city.name == "苏州市"
    assert [(r.period.code, r.category) for r in data.due] == [("2025Q4", "returned"), ("2025Q3", "missing")]
    assert [r.transition.reason for r in data.returned] == ["高技能人才数与上季度口径不一致，请核实。"]
    content = response.content.decode()
    assert "高技能人才数与上季度口径不一致，请核实。" in content
    suzhou = Submission.objects.get(region=cities[4], period=q4)
    assert f'href="/report/{suzhou.public_id}/"' in content
    row = next(f for f in data.figures if f.indicator.code == "high-skill-workers-per-10000")
    assert row.city is None  # Suzhou has no confirmed figure
    assert row.province.value == Decimal(900)
    assert (row.coverage.included, row.coverage.expected) == (2, 13)
    assert "南京市" not in content


def test_city_home_shows_own_figure_beside_province(client, quarter, nanjing_reviewer):
    login(client, nanjing_reviewer)
    response = client.get(CITY)
    data = response.context["data"]
    row = next(f for f in data.figures if f.indicator.code == "apprentices-trained")
    # A flow, year to date: Nanjing 1,000 (Q3) + 2,000 (Q4); the province adds Wuxi's 1,000.
    assert (row.city.value, row.province.value) == (Decimal(3000), Decimal(4000))
    assert row.city_share == Decimal("75.0")
    assert data.is_reviewer
    assert [r.period.code for r in data.due] == ["2025Q4", "2025Q3"]
    assert {r.category for r in data.due} == {"on_time"}


# -- pages carry nothing from elsewhere ----------------------------------------------------------------------

URL_ATTR = re.compile(r'\b(?:src|href|action)="([^"]*)"')


@pytest.mark.parametrize("url", PAGES)
def test_pages_load_nothing_from_another_host_and_carry_no_inline_script(
    client, quarter, coordinator, nanjing_reporter, url
):
    login(client, nanjing_reporter if url == CITY else coordinator)
    content = client.get(url).content.decode()
    for link in URL_ATTR.findall(content):
        assert not re.match(r"^(?:https?:)?//", link), link
    for tag in re.findall(r"<script\b[^>]*>", content):
        assert ' src="/static/' in tag or 'type="application/json"' in tag, tag
    assert " style=" not in content


def test_english_switch_translates_the_dashboard(client, quarter, coordinator):
    login(client, coordinator)
    client.cookies["django_language"] = "en"
    content = client.get(OVERVIEW).content.decode()
    assert "Progress overview" in content
    assert "Off track" in content
    assert '<html lang="en">' in content


def test_navigation_leads_signed_in_users_to_the_dashboards(client, plan, coordinator):
    assert 'href="/dashboard/"' not in client.get("/").content.decode()
    login(client, coordinator)
    assert '<a href="/dashboard/">进展看板</a>' in client.get("/").content.decode()
    assert '<a href="/dashboard/" aria-current="page">进展看板</a>' in client.get(OVERVIEW).content.decode()


def test_completeness_counts_only_the_home_provinces_cities(client, quarter, coordinator, cities, q4):
    # National-scale data puts other provinces' cities in the same table: they are not this plan's reporters.
    zhejiang = Region.objects.create(
        code="330000", name="浙江省", name_en="Zhejiang", level="province", division_year=2021, sort_order=99
    )
    Region.objects.create(
        code="330100", name="杭州市", name_en="Hangzhou", level="city", parent=zhejiang, division_year=2021
    )
    login(client, coordinator)

    grid = client.get(COMPLETENESS).context["grid"]

    names = [str(r.reporter) for r in grid.rows]
    assert "杭州市" not in names
    assert names[:13] == [c.name for c in cities]
