"""Admin for the plan: bodies and regions round-trip through CSV and XLSX keyed by code; text cells that a
spreadsheet would run as formulas are neutralised on export and restored on import.

Every test database already holds the loaded plan; these tests build their own rows beside it (body codes
starting "t-", region codes starting "99") and export only those, except where the whole table is the point."""

import csv
import io

import openpyxl
import pytest
from import_export.formats.base_formats import CSV

from measures.models import Region, ResponsibleBody
from measures.resources import (
    FormulaFreeXLSX,
    RegionResource,
    ResponsibleBodyResource,
    spreadsheet_text_escape,
    spreadsheet_text_unescape,
)
from tests.factories import MeasureFactory, RegionFactory, ResponsibleBodyFactory, TaskFactory

BODY_FIELDS = ("code", "name", "name_en", "short_name", "kind", "is_active")
REGION_FIELDS = ("code", "name", "name_en", "level", "parent__code", "division_year", "sort_order")


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
    dataset = file_format.create_dataset(data)
    return resource.import_data(dataset, dry_run=False)


def formats():
    return [pytest.param(CSV, id="csv"), pytest.param(FormulaFreeXLSX, id="xlsx")]


def own_bodies():
    return ResponsibleBody.objects.filter(code__startswith="t-")


def own_regions():
    return Region.objects.filter(code__startswith="99")


def body_snapshot(queryset=None):
    queryset = ResponsibleBody.objects.all() if queryset is None else queryset
    return list(queryset.order_by("code").values(*BODY_FIELDS))


def region_snapshot(queryset=None):
    queryset = Region.objects.all() if queryset is None else queryset
    return list(queryset.order_by("code").values(*REGION_FIELDS))


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+86", "-2", "@SUM(A1)", "\tx", "\rx", "'=1", "''", "'a", "'", "a=b", "普通文字", ""],
)
def test_spreadsheet_escape_is_undone_by_unescape(text):
    assert spreadsheet_text_unescape(text=spreadsheet_text_escape(text=text)) == text


def test_spreadsheet_escape_prefixes_only_formula_triggers():
    assert spreadsheet_text_escape(text="=1+1") == "'=1+1"
    assert spreadsheet_text_escape(text="-2") == "'-2"
    assert spreadsheet_text_escape(text="'=1") == "''=1"
    assert spreadsheet_text_escape(text="'a") == "'a"
    assert spreadsheet_text_escape(text="省教育厅") == "省教育厅"


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", formats())
def test_body_export_reimports_to_the_same_data(file_format):
    ResponsibleBodyFactory(code="t-edu", name="测试教育厅", short_name="教育厅", kind=ResponsibleBody.Kind.GOVERNMENT)
    ResponsibleBodyFactory(
        code="t-union", name="测试总工会", kind=ResponsibleBody.Kind.MASS_ORGANISATION, is_active=False
    )
    ResponsibleBodyFactory(code="t-tricky", name="=HYPERLINK(1)", name_en="-minus", short_name="'quoted")
    before = body_snapshot(own_bodies())
    data = export_bytes(ResponsibleBodyResource(), file_format(), own_bodies())

    ResponsibleBody.objects.filter(code="t-union").delete()
    ResponsibleBody.objects.filter(code="t-edu").update(name="改过的名称", is_active=False)
    result = import_bytes(ResponsibleBodyResource(), file_format(), data)

    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 1, 1)
    assert body_snapshot(own_bodies()) == before


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", formats())
def test_region_export_reimports_to_the_same_data(file_format):
    # Sort orders deliberately put the county first: the export must still list parents before children.
    province = RegionFactory(code="990000", name="测试省", level=Region.Level.PROVINCE, sort_order=9)
    city = RegionFactory(code="990100", name="测试一市", parent=province, sort_order=5)
    RegionFactory(code="990200", name="测试二市", parent=province, sort_order=6)
    RegionFactory(code="990102", name="测试区", level=Region.Level.COUNTY, parent=city, sort_order=0)
    before = region_snapshot(own_regions())
    data = export_bytes(RegionResource(), file_format(), own_regions())

    Region.objects.filter(code="990102").delete()
    Region.objects.filter(code="990200").update(name="改过的名称", sort_order=99)
    result = import_bytes(RegionResource(), file_format(), data)

    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 1, 2)
    assert region_snapshot(own_regions()) == before


@pytest.mark.django_db
def test_region_export_lists_parents_before_children():
    province = RegionFactory(code="990000", level=Region.Level.PROVINCE, sort_order=9)
    city = RegionFactory(code="990100", parent=province, sort_order=5)
    RegionFactory(code="990102", level=Region.Level.COUNTY, parent=city, sort_order=0)

    dataset = RegionResource().export(own_regions())

    assert dataset["code"] == ["990000", "990100", "990102"]
    assert dataset["parent"] == ["", "990000", "990100"]


@pytest.mark.django_db
def test_region_import_with_unknown_parent_reports_the_row_and_writes_nothing():
    province = RegionFactory(code="990000", name="测试省", level=Region.Level.PROVINCE)
    RegionFactory(code="990100", name="测试一市", parent=province)
    dataset = RegionResource().export(own_regions())
    before = region_snapshot()
    dataset.append(["990500", "测试五市", "Fifth", "city", "999999", 2018, 3])
    dataset.append(["990600", "测试六市", "Sixth", "city", "990000", 2018, 4])

    result = RegionResource().import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    [invalid] = result.invalid_rows
    assert invalid.number == 3
    assert invalid.error_dict == {"parent": ["行政区划“999999”不存在"]}
    assert region_snapshot() == before


@pytest.mark.django_db
def test_body_import_with_unknown_kind_writes_nothing():
    ResponsibleBodyFactory(code="t-edu", name="测试教育厅")
    before = body_snapshot()
    data = "code,name,name_en,short_name,kind,is_active\nt-edu,改过的名称,Education,,government,1\n"
    data += "t-new,测试新单位,New body,,government,1\nt-bad,某单位,Some body,,no-such-kind,1\n"

    result = import_bytes(ResponsibleBodyResource(), CSV(), data.encode("utf-8"))

    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [3]
    assert list(result.invalid_rows[0].error_dict) == ["kind"]
    assert body_snapshot() == before


@pytest.mark.django_db
def test_formula_looking_text_is_neutralised_in_csv_export():
    ResponsibleBodyFactory(
        code="t-evil", name="=cmd|' /C calc'!A0", name_en="+1+1", short_name="@SUM(A1)", kind="government"
    )
    ResponsibleBodyFactory(code="t-tabbed", name="\t=1", name_en="\r=2", short_name="-3", kind="government")

    text = export_bytes(ResponsibleBodyResource(), CSV(), own_bodies()).decode("utf-8-sig")

    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["code", "name", "name_en", "short_name", "kind", "is_active"],
        ["t-evil", "'=cmd|' /C calc'!A0", "'+1+1", "'@SUM(A1)", "government", "1"],
        ["t-tabbed", "'\t=1", "'\r=2", "'-3", "government", "1"],
    ]


@pytest.mark.django_db
def test_formula_looking_text_is_a_plain_string_cell_in_xlsx_export():
    province = RegionFactory(code="990000", name="=1+1", name_en="@x", level=Region.Level.PROVINCE, sort_order=0)
    RegionFactory(code="99-0100", name="-测试市", name_en="+City", parent=province, division_year=2018, sort_order=7)

    data = export_bytes(RegionResource(), FormulaFreeXLSX(), own_regions())

    sheet = openpyxl.load_workbook(io.BytesIO(data), data_only=False).active
    rows = [[(cell.value, cell.data_type) for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert rows == [
        [("990000", "s"), ("'=1+1", "s"), ("'@x", "s"), ("province", "s"), (None, "n"), (2018, "n"), (0, "n")],
        [("99-0100", "s"), ("'-测试市", "s"), ("'+City", "s"), ("city", "s"), ("990000", "s"), (2018, "n"), (7, "n")],
    ]


@pytest.mark.django_db
def test_xlsx_import_refuses_formula_cells():
    book = openpyxl.Workbook()
    book.active.append(["code", "name", "name_en", "short_name", "kind", "is_active"])
    book.active.append(["edu", "=1+1", "Education", "", "government", 1])
    buffer = io.BytesIO()
    book.save(buffer)

    with pytest.raises(ValueError, match="B2"):
        FormulaFreeXLSX().create_dataset(buffer.getvalue())


@pytest.mark.django_db
def test_admin_exports_and_imports_bodies_as_csv(superuser_client):
    ResponsibleBodyFactory(code="t-edu", name="测试教育厅", name_en="Education", kind="government")
    ResponsibleBodyFactory(code="t-union", name="测试总工会", name_en="Trade unions", kind="mass_org")
    before = body_snapshot()
    field_names = {f"responsiblebodyresource_{name}": "on" for name in BODY_FIELDS}

    response = superuser_client.post(
        "/admin/measures/responsiblebody/export/", {"format": "0", "resource": "0", **field_names}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    exported = response.content
    assert exported.startswith("\ufeff".encode())
    assert exported.decode("utf-8-sig").count("\n") == len(before) + 1
    ResponsibleBody.objects.filter(code="t-union").delete()
    ResponsibleBody.objects.filter(code="t-edu").update(name="改过的名称")

    upload = io.BytesIO(exported)
    upload.name = "bodies.csv"
    preview = superuser_client.post(
        "/admin/measures/responsiblebody/import/", {"format": "0", "resource": "0", "import_file": upload}
    )
    assert preview.status_code == 200
    confirm = preview.context["confirm_form"]
    assert ResponsibleBody.objects.count() == len(before) - 1
    done = superuser_client.post("/admin/measures/responsiblebody/process_import/", confirm.initial)

    assert done.status_code == 302
    assert body_snapshot() == before


@pytest.mark.django_db
def test_admin_changelists_of_the_plan_open_for_a_superuser(superuser_client):
    task = TaskFactory()
    MeasureFactory(programme=task.measure.programme)
    paths = [
        "/admin/",
        "/admin/measures/plan/",
        "/admin/measures/plansection/",
        "/admin/measures/programme/",
        "/admin/measures/measure/",
        f"/admin/measures/measure/{task.measure_id}/change/",
        "/admin/measures/task/",
        "/admin/measures/responsiblebody/",
        "/admin/measures/responsibility/",
        "/admin/measures/region/",
        f"/admin/measures/measure/{task.measure_id}/history/",
    ]

    statuses = {path: superuser_client.get(path).status_code for path in paths}

    assert statuses == dict.fromkeys(paths, 200)


@pytest.mark.django_db
def test_admin_shows_the_plan_in_chinese(superuser_client):
    response = superuser_client.get("/admin/")

    assert response.status_code == 200
    text = response.content.decode()
    assert '<html lang="zh-hans"' in text
    assert "产业工人队伍建设改革 推进平台 · 管理后台" in text
    assert "责任单位" in text
    assert "行政区划" in text


@pytest.mark.django_db
def test_task_changelist_queries_do_not_grow_with_rows(superuser_client, django_assert_max_num_queries):
    TaskFactory.create_batch(2)
    # 12 for the page and one for the second-factor device a superuser's session is verified with.
    with django_assert_max_num_queries(13) as small:
        before = superuser_client.get("/admin/measures/task/").context["cl"].result_count
    TaskFactory.create_batch(10)

    with django_assert_max_num_queries(len(small.captured_queries)):
        response = superuser_client.get("/admin/measures/task/")

    assert response.context["cl"].result_count == before + 10


@pytest.mark.django_db
def test_measure_page_offers_only_its_own_tasks_for_responsibilities(superuser_client):
    own = TaskFactory(title="本举措的任务")
    TaskFactory(measure=MeasureFactory(programme=own.measure.programme), title="别的举措的任务")

    response = superuser_client.get(f"/admin/measures/measure/{own.measure_id}/change/")

    choices = response.context["inline_admin_formsets"][1].formset.empty_form.fields["task"].queryset
    assert list(choices) == [own]
