"""Admin for indicators and targets: CSV and XLSX round trips keyed by plan and codes, unknown codes refused
whole, formula-looking text neutralised, and who may open the admin at all.

Every test database already holds the loaded plan; these tests build two plans of their own beside it
("test-a", "test-b") and export only those, except where the whole loaded plan is the point."""

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from import_export.formats.base_formats import CSV

from indicators.models import Indicator, Target
from indicators.resources import IndicatorResource, TargetResource
from measures.models import Region, ResponsibleBody
from measures.resources import FormulaFreeXLSX, RegionResource, ResponsibleBodyResource
from tests.factories import (
    IndicatorFactory,
    MeasureFactory,
    PlanFactory,
    ProgrammeFactory,
    RegionFactory,
    ResponsibleBodyFactory,
    TargetFactory,
    TaskFactory,
)

INDICATOR_FIELDS = (
    "plan__code",
    "code",
    "name",
    "name_en",
    "definition",
    "kind",
    "unit",
    "unit_en",
    "scale",
    "decimals",
    "numerator_label",
    "denominator_label",
    "measure__number",
    "task__measure__number",
    "task__number",
    "is_supporting",
    "reporter",
    "lead_body__code",
    "sort_order",
    "is_active",
)
TARGET_FIELDS = (
    "indicator__plan__code",
    "indicator__code",
    "code",
    "region__code",
    "value",
    "comparator",
    "tolerance",
    "deadline",
    "per_year",
    "baseline_value",
    "baseline_year",
    "clause",
    "source",
    "note",
)


@pytest.fixture
def superuser_client(client, django_user_model):
    # The project's `admin_user` persona is an accounts administrator, not a superuser.
    superuser = django_user_model.objects.create_superuser(username="root", password="a-long-test-password")
    client.force_login(superuser)
    return client


def export_bytes(resource, file_format, queryset=None) -> bytes:
    """Export as the admin does: native types for XLSX, UTF-8 with a byte-order mark for CSV."""
    dataset = resource.export(queryset, force_native_type=file_format.is_binary())
    data = file_format.export_data(dataset)
    return data if file_format.is_binary() else data.encode("utf-8-sig")


def import_bytes(resource, file_format, data: bytes):
    if not file_format.is_binary():
        file_format.encoding = "utf-8-sig"
    return resource.import_data(file_format.create_dataset(data), dry_run=False)


def formats():
    return [pytest.param(CSV, id="csv"), pytest.param(FormulaFreeXLSX, id="xlsx")]


TEST_PLANS = ("test-a", "test-b")


def own_indicators():
    return Indicator.objects.filter(plan__code__in=TEST_PLANS)


def own_targets():
    return Target.objects.filter(indicator__plan__code__in=TEST_PLANS)


def indicator_snapshot(queryset=None):
    queryset = Indicator.objects.all() if queryset is None else queryset
    return list(queryset.order_by("plan__code", "code").values(*INDICATOR_FIELDS))


def target_snapshot(queryset=None):
    queryset = Target.objects.all() if queryset is None else queryset
    return list(queryset.order_by("indicator__plan__code", "indicator__code", "code").values(*TARGET_FIELDS))


@pytest.fixture
def two_plans(db):
    """Two plans that reuse the same indicator code and measure numbers, so keys must include the plan."""
    plans = []
    for code in TEST_PLANS:
        plan = PlanFactory(code=code)
        programme = ProgrammeFactory(plan=plan, number=1)
        MeasureFactory(programme=programme, number=1)
        measure = MeasureFactory(programme=programme, number=2)
        TaskFactory(measure=measure, number=3)
        plans.append(plan)
    ResponsibleBodyFactory(code="t-edu", name="测试教育厅")
    ResponsibleBodyFactory(code="t-hrss", name="测试人社厅")
    return plans


def build_indicators(plans):
    js, zf = plans
    task = js.measures.get(number=2).tasks.get(number=3)
    IndicatorFactory(
        measure=task.measure,
        task=task,
        code="high-skill-per-10k",
        name="每万名劳动者中高技能人才数",
        name_en="High-skill workers per 10,000 workers",
        definition="=高技能人才数 / 就业人员数 × 10000",
        kind=Indicator.Kind.RATIO,
        unit="人/万人",
        scale=Decimal(10000),
        decimals=1,
        numerator_label="高技能人才数",
        denominator_label="就业人员数",
        is_supporting=False,
        reporter=Indicator.Reporter.BOTH,
        lead_body=ResponsibleBody.objects.get(code="t-hrss"),
        sort_order=2,
    )
    IndicatorFactory(measure=js.measures.get(number=1), code="contests", name="技能竞赛", is_active=False)
    IndicatorFactory(measure=zf.measures.get(number=1), code="contests", name="技能竞赛（全国）", sort_order=5)


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", formats())
def test_indicator_export_reimports_to_the_same_data(two_plans, file_format):
    build_indicators(two_plans)
    before = indicator_snapshot(own_indicators())
    data = export_bytes(IndicatorResource(), file_format(), own_indicators())

    Indicator.objects.filter(plan__code="test-b", code="contests").delete()
    Indicator.objects.filter(code="high-skill-per-10k").update(
        name="改过的名称", scale=Decimal(100), task=None, lead_body=None, measure=two_plans[0].measures.get(number=1)
    )
    result = import_bytes(IndicatorResource(), file_format(), data)

    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 1, 1)
    assert indicator_snapshot(own_indicators()) == before


def build_targets(plans):
    js, zf = plans
    province = RegionFactory(code="990000", name="测试省", level=Region.Level.PROVINCE)
    nanjing = RegionFactory(code="990100", name="测试市", parent=province)
    ratio = IndicatorFactory(measure=js.measures.get(number=1), code="platforms", kind=Indicator.Kind.STOCK)
    TargetFactory(
        indicator=ratio,
        code="by-2020",
        value=Decimal("100"),
        deadline=datetime.date(2020, 12, 31),
        baseline_value=Decimal("12.5"),
        baseline_year=2018,
        clause="到2020年，建成100个产教深度融合实训平台。",
        note="-按期末存量计",
    )
    TargetFactory(
        indicator=ratio,
        code="nanjing",
        region=nanjing,
        value=Decimal("0.25"),
        comparator=Target.Comparator.APPROX,
        tolerance=Decimal("5.5"),
        deadline=None,
        per_year=True,
        source=Target.Source.APPORTIONED,
    )
    other = IndicatorFactory(measure=zf.measures.get(number=1), code="platforms")
    TargetFactory(indicator=other, code="by-2020", value=Decimal("-3"), comparator=Target.Comparator.LTE)


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", formats())
def test_target_export_reimports_to_the_same_data(two_plans, file_format):
    build_targets(two_plans)
    before = target_snapshot(own_targets())
    data = export_bytes(TargetResource(), file_format(), own_targets())

    Target.objects.filter(indicator__plan__code="test-b").delete()
    Target.objects.filter(code="nanjing").update(value=Decimal(7), region=None, note="改过")
    Target.objects.filter(code="by-2020").update(baseline_value=None, baseline_year=None, deadline=None)
    result = import_bytes(TargetResource(), file_format(), data)

    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 2, 0)
    assert target_snapshot(own_targets()) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("lead_body", "no-such-body", "责任单位“no-such-body”不存在"),
        ("measure", "99", "方案“test-a”中不存在举措序号“99”"),
        ("task", "2.9", "方案“test-a”中不存在任务编号“2.9”"),
    ],
)
def test_indicator_import_with_an_unknown_code_reports_the_row_and_writes_nothing(two_plans, column, value, message):
    build_indicators(two_plans)
    dataset = IndicatorResource().export(own_indicators())
    before = indicator_snapshot()
    new_row = dict(zip(dataset.headers, dataset[0], strict=True))
    new_row.update({"code": "brand-new", column: value})
    dataset.append([new_row[header] for header in dataset.headers])
    changed = dict(zip(dataset.headers, dataset[1], strict=True))
    changed["name"] = "这一行本身有效"
    dataset[1] = [changed[header] for header in dataset.headers]

    result = IndicatorResource().import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    [invalid] = result.invalid_rows
    assert invalid.number == 4
    assert invalid.error_dict == {column: [message]}
    assert indicator_snapshot() == before


@pytest.mark.django_db
def test_target_import_with_an_unknown_indicator_or_region_writes_nothing(two_plans):
    build_targets(two_plans)
    dataset = TargetResource().export(own_targets())
    before = target_snapshot()
    row = dict(zip(dataset.headers, dataset[0], strict=True))
    dataset.append([{**row, "code": "new-1", "region": "999999"}[header] for header in dataset.headers])
    dataset.append([{**row, "code": "new-2", "indicator": "no-such-indicator"}[header] for header in dataset.headers])
    dataset.append([{**row, "code": "new-3"}[header] for header in dataset.headers])

    result = TargetResource().import_data(dataset, dry_run=False)

    assert [row.number for row in result.invalid_rows] == [4]
    assert result.invalid_rows[0].error_dict == {"region": ["行政区划“999999”不存在"]}
    assert [(row.number, [str(error.error) for error in row.errors]) for row in result.error_rows] == [
        (5, ["方案“test-a”中不存在指标代码“no-such-indicator”"])
    ]
    assert target_snapshot() == before


@pytest.mark.django_db
def test_target_export_neutralises_formula_text_and_keeps_numbers_numeric(two_plans):
    build_targets(two_plans)

    data = export_bytes(TargetResource(), FormulaFreeXLSX(), own_targets())

    sheet = openpyxl.load_workbook(io.BytesIO(data), data_only=False).active
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    negative = next(row for row in rows if row["plan"].value == "test-b")
    assert (negative["value"].value, negative["value"].data_type) == (-3, "n")
    noted = next(row for row in rows if row["code"].value == "by-2020" and row["plan"].value == "test-a")
    assert (noted["note"].value, noted["note"].data_type) == ("'-按期末存量计", "s")
    assert noted["deadline"].is_date
    assert all(cell.data_type != "f" for row in rows for cell in row.values())

    text = export_bytes(TargetResource(), CSV(), own_targets()).decode("utf-8-sig")
    assert ",'-按期末存量计" in text
    assert ",-3.0000," in text


@pytest.mark.django_db
def test_indicator_export_quotes_a_formula_looking_definition(two_plans):
    build_indicators(two_plans)

    dataset = IndicatorResource().export(own_indicators())

    row = dict(zip(dataset.headers, dataset[dataset["code"].index("high-skill-per-10k")], strict=True))
    assert row["definition"] == "'=高技能人才数 / 就业人员数 × 10000"
    assert (row["plan"], row["measure"], row["task"], row["lead_body"]) == ("test-a", "2", "2.3", "t-hrss")


@pytest.mark.django_db
def test_the_whole_loaded_plan_reimports_from_its_own_export_unchanged(plan):
    snapshots = {
        ResponsibleBodyResource: lambda: list(ResponsibleBody.objects.order_by("code").values()),
        RegionResource: lambda: list(Region.objects.order_by("code").values()),
        IndicatorResource: lambda: list(Indicator.objects.order_by("pk").values()),
        TargetResource: lambda: list(Target.objects.order_by("pk").values()),
    }
    totals = {}
    for resource_class, snapshot in snapshots.items():
        before = snapshot()
        for file_format in (CSV, FormulaFreeXLSX):
            result = import_bytes(resource_class(), file_format(), export_bytes(resource_class(), file_format()))

            assert not result.has_errors(), resource_class
            assert not result.has_validation_errors(), resource_class
            totals[resource_class.__name__, file_format.__name__] = (result.totals["skip"], result.total_rows)
            assert snapshot() == before

    assert {key: skipped == rows > 0 for key, (skipped, rows) in totals.items()} == dict.fromkeys(totals, True)


@pytest.mark.django_db
def test_non_staff_user_is_sent_to_the_admin_login(client, user):
    client.force_login(user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"


@pytest.mark.django_db
def test_staff_user_without_permissions_cannot_open_the_indicator_changelist(client, django_user_model):
    staff = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    client.force_login(staff)

    response = client.get("/admin/indicators/indicator/")

    assert response.status_code == 403
    assert client.get("/admin/indicators/indicator/export/").status_code == 403


@pytest.mark.django_db
def test_staff_user_with_view_permission_sees_the_indicator_changelist_but_cannot_import(client, django_user_model):
    staff = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_indicator"))
    client.force_login(staff)

    assert client.get("/admin/indicators/indicator/").status_code == 200
    assert client.get("/admin/indicators/indicator/import/").status_code == 403


@pytest.mark.django_db
def test_superuser_opens_indicator_and_target_admin(superuser_client, two_plans):
    build_targets(two_plans)
    indicator = Indicator.objects.get(plan__code="test-a", code="platforms")
    paths = [
        "/admin/indicators/indicator/",
        f"/admin/indicators/indicator/{indicator.pk}/change/",
        f"/admin/indicators/indicator/{indicator.pk}/history/",
        "/admin/indicators/indicator/import/",
        "/admin/indicators/indicator/export/",
        "/admin/indicators/target/",
        "/admin/indicators/target/export/",
    ]

    statuses = {path: superuser_client.get(path).status_code for path in paths}

    assert statuses == dict.fromkeys(paths, 200)


@pytest.mark.django_db
def test_target_changelist_queries_do_not_grow_with_rows(superuser_client, django_assert_max_num_queries):
    TargetFactory.create_batch(2)
    with django_assert_max_num_queries(15) as small:
        before = superuser_client.get("/admin/indicators/target/").context["cl"].result_count
    TargetFactory.create_batch(10, region=RegionFactory())

    with django_assert_max_num_queries(len(small.captured_queries)):
        response = superuser_client.get("/admin/indicators/target/")

    assert response.context["cl"].result_count == before + 10
