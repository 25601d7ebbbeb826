"""`manage.py load_plan`: the whole of 苏发〔2018〕28号 in the database, loaded idempotently, and a second
plan beside it through the same path."""

import datetime
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from indicators.models import Indicator, Target
from measures.models import (
    Measure,
    Plan,
    PlanSection,
    Programme,
    Region,
    Responsibility,
    ResponsibleBody,
    Task,
)

PLAN_DIR = Path("fixtures/plans/js-2018-28")
SECOND_PLAN_DIR = Path("tests/data/plans/test-cn-2017-14")
MODELS = [Plan, PlanSection, Programme, Measure, Task, ResponsibleBody, Responsibility, Region, Indicator, Target]
HISTORY_MODELS = [m for m in MODELS if hasattr(m, "history")]


def load(directory=PLAN_DIR, verbosity=0):
    out = io.StringIO()
    call_command("load_plan", str(directory), verbosity=verbosity, stdout=out)
    return out.getvalue()


def snapshot():
    """Every row's id and the number of history records, per model."""
    return {
        "ids": {m.__name__: sorted(m.objects.values_list("pk", flat=True)) for m in MODELS},
        "history": {m.__name__: m.history.count() for m in HISTORY_MODELS},
    }


def fixture_copy(tmp_path):
    """The plan directory and the region list it refers to, copied so a test can break them."""
    shutil.copytree(PLAN_DIR, tmp_path / "fixtures/plans/js-2018-28")
    shutil.copytree("fixtures/regions", tmp_path / "fixtures/regions")
    return tmp_path / "fixtures/plans/js-2018-28"


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_plan_is_loaded_with_its_document_data(plan):
    source = PLAN_DIR / "jiangsu-industrial-workforce-reform-plan-2018.txt"

    assert plan.document_number == "苏发〔2018〕28号"
    assert plan.title == "新时代江苏产业工人队伍建设改革实施方案"
    assert plan.title_en.startswith("Implementation Plan")
    assert plan.issuing_bodies == "中共江苏省委、江苏省人民政府"
    assert plan.issued_on == datetime.date(2018, 11, 18)
    assert (plan.start_year, plan.end_year) == (2018, 2022)
    assert plan.preamble.startswith("为贯彻落实中共中央、国务院《新时期产业工人队伍建设改革方案》")
    assert plan.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def test_sections_hold_the_general_requirements_and_the_implementation(plan):
    sections = list(plan.sections.order_by("kind", "number").values_list("kind", "number", "title"))

    assert sections == [
        ("goal", 1, "目标任务"),
        ("guiding_idea", 1, "指导思想"),
        ("implementation", 1, "构建推进改革新格局"),
        ("implementation", 2, "加强分类指导"),
        ("implementation", 3, "强化督促检查"),
        ("implementation", 4, "加大宣传力度"),
        ("principle", 1, "坚持党的领导，把握正确方向"),
        ("principle", 2, "坚持服务大局，发挥支撑作用"),
        ("principle", 3, "坚持以人为本，强化激励保障"),
        ("principle", 4, "坚持问题导向，勇于改革创新"),
    ]
    for section in plan.sections.all():
        assert section.title_en
        assert section.text.endswith("。")
        assert "\n" not in section.text
    principle1 = plan.sections.get(kind="principle", number=1)
    assert principle1.text.startswith("加强和改进党对产业工人的领导")


def test_five_programmes_with_their_full_headings(plan):
    programmes = list(plan.programmes.order_by("number").values_list("number", "title", "heading"))

    assert programmes == [
        (1, "政治建设工程", "实施政治建设工程，引领产业工人做推动高质量发展的时代先锋"),
        (2, "赋能成长工程", "实施赋能成长工程，加快建设知识型技能型创新型劳动者大军"),
        (3, "维权服务工程", "实施维权服务工程，促进产业工人全面发展"),
        (4, "支撑保障工程", "实施支撑保障工程，夯实产业工人队伍建设基础"),
        (5, "聚力共建工程", "实施聚力共建工程，协同推动产业工人队伍建设"),
    ]
    assert all(plan.programmes.values_list("title_en", flat=True))


def test_23_measures_numbered_1_to_23_under_the_right_programmes(plan):
    measures = dict(plan.measures.values_list("number", "programme__number"))

    assert measures == {
        n: p
        for p, numbers in {
            1: range(1, 5),
            2: range(5, 12),
            3: range(12, 16),
            4: range(16, 20),
            5: range(20, 24),
        }.items()
        for n in numbers
    }


def test_measure_titles_are_the_texts_with_english_beside(plan):
    titles = dict(plan.measures.values_list("number", "title"))

    assert titles[1] == "强化思想引领"
    assert titles[5] == "开展职业教育强基行动"
    assert titles[13] == "完善产业工人合理有序流动保障体系"
    assert titles[23] == "整合社会力量"
    assert not plan.measures.filter(title_en="").exists()


def test_no_measure_text_has_a_page_break_artefact(plan):
    for measure in plan.measures.all():
        assert "\n" not in measure.text, measure.number
        assert " " not in measure.text, measure.number
        assert measure.text.endswith("。"), measure.number
        assert not measure.text.startswith(measure.title), measure.number
    texts = dict(plan.measures.values_list("number", "text"))
    assert "实施劳模支部“双创双提升”行动" in texts[2]
    assert "加大职业院校教师到企业实践力度" in texts[5]
    assert "深化群众性技术创新活动，每年认定省职工十大科技创新成果" in texts[7]
    assert "开展省十大重点工程劳动竞赛" in texts[8]
    assert "建立职业资格（技能等级）与职称、学历比照认定制度" in texts[10]
    assert "提高人力资源配置效率" in texts[13]
    assert "支持工会组织发挥监督作用" in texts[16]
    assert "鼓励企业加大职工教育投入" in texts[18]
    assert "纳入全省经济社会发展规划" in texts[21]
    assert "资源共享的互联网普惠服务载体建设" in texts[22]
    assert texts[23].endswith("建设一批示范性职业教育集团。")


def test_tasks_are_the_concrete_commitments_each_with_its_sentence(plan):
    tasks = Task.objects.filter(measure__plan=plan).select_related("measure")
    per_measure = {n: tasks.filter(measure__number=n).count() for n in range(1, 24)}

    assert 120 <= tasks.count() <= 170
    assert min(per_measure.values()) >= 4
    for task in tasks:
        assert task.sentence in task.measure.text, task.code
        assert task.title, task.code
        assert task.title_en, task.code
    by_title = {t.title: t for t in tasks}
    assert by_title["制定加强和改进产业工人思想政治工作意见"].measure.number == 1
    assert by_title["成立省产业工人发展战略研究院"].measure.number == 19
    assert by_title["探索建立特级技师制度"].measure.number == 9
    assert by_title["制定技术改进和合理化建议奖励实施办法"].measure.number == 7
    assert by_title["建立省市县工会一体化网上工作平台"].measure.number == 22
    assert by_title["创建一流中职、高水平高职和应用型本科院校"].sentence.startswith("创建50所左右一流中等职业学校")


def test_task_deadlines_and_recurrence_follow_the_text(plan):
    tasks = Task.objects.filter(measure__plan=plan)

    dated = {t.code for t in tasks.exclude(deadline=None)}
    assert dated == {"5.9", "5.10", "5.11", "6.11"}
    assert set(tasks.exclude(deadline=None).values_list("deadline", flat=True)) == {datetime.date(2020, 12, 31)}
    for task in tasks.filter(sentence__contains="每年"):
        assert task.recurrence == "yearly", task.code
    assert tasks.get(measure__number=11, number=3).title == "每年认定100名省级企业首席技师"


def test_every_measure_and_task_has_exactly_one_proposed_lead(plan):
    responsibilities = Responsibility.objects.filter(measure__plan=plan)

    assert not responsibilities.filter(is_proposed=False).exists()
    for measure in plan.measures.all():
        leads = responsibilities.filter(measure=measure, task=None, role="lead")
        assert leads.count() == 1, measure.number
    for task in Task.objects.filter(measure__plan=plan):
        assert responsibilities.filter(task=task, role="lead").count() == 1, task.code
    lead = {r.measure.number: r.body.name for r in responsibilities.filter(task=None, role="lead")}
    assert lead[5] == "省教育厅"
    assert lead[9] == "省人力资源社会保障厅"
    assert lead[22] == "省总工会"
    assert lead[1] == "省委宣传部"
    assert lead[2] == "省委组织部"


def test_responsible_bodies_include_the_departments_the_text_implies(plan):
    bodies = dict(ResponsibleBody.objects.values_list("name", "kind"))

    for name in [
        "省委组织部",
        "省委宣传部",
        "省委网信办",
        "省发展改革委",
        "省教育厅",
        "省科技厅",
        "省工业和信息化厅",
        "省财政厅",
        "省人力资源社会保障厅",
        "省住房城乡建设厅",
        "省交通运输厅",
        "省卫生健康委",
        "省国资委",
        "省司法厅",
        "省税务局",
        "省社科联",
        "省总工会",
        "团省委",
        "省妇联",
        "省科协",
        "省委党校",
    ]:
        assert name in bodies, name
    assert bodies["省产业工人队伍建设改革协调小组办公室"] == "coordination"
    assert bodies["省总工会"] == "mass_org"
    assert bodies["省委组织部"] == "party"
    assert bodies["省教育厅"] == "government"
    assert not ResponsibleBody.objects.filter(name_en="").exists()


def test_regions_are_the_province_its_13_cities_and_95_counties(plan):
    province = Region.objects.get(level="province")
    cities = Region.objects.filter(level="city").order_by("sort_order")
    counties = Region.objects.filter(level="county")

    assert (province.code, province.name, province.parent) == ("320000", "江苏省", None)
    assert [c.name for c in cities] == [
        "南京市",
        "无锡市",
        "徐州市",
        "常州市",
        "苏州市",
        "南通市",
        "连云港市",
        "淮安市",
        "盐城市",
        "扬州市",
        "镇江市",
        "泰州市",
        "宿迁市",
    ]
    assert {c.parent_id for c in cities} == {province.pk}
    assert counties.count() == 95
    assert set(counties.values_list("parent__level", flat=True)) == {"city"}
    for county in counties.select_related("parent"):
        assert county.code[:4] == county.parent.code[:4], county.code
    assert {c.name: c.children.count() for c in cities} == {
        "南京市": 11,
        "无锡市": 7,
        "徐州市": 10,
        "常州市": 6,
        "苏州市": 9,
        "南通市": 7,
        "连云港市": 6,
        "淮安市": 7,
        "盐城市": 9,
        "扬州市": 6,
        "镇江市": 6,
        "泰州市": 6,
        "宿迁市": 5,
    }
    assert set(Region.objects.values_list("division_year", flat=True)) == {2021}
    assert Region.objects.get(code="320613").name == "崇川区"
    assert Region.objects.get(code="320102").name_en == "Xuanwu District"
    assert Region.objects.get(code="320281").name_en == "Jiangyin City"
    assert Region.objects.get(code="320321").name_en == "Feng County"


def test_loading_twice_changes_nothing(plan, django_assert_max_num_queries):
    before = snapshot()

    with django_assert_max_num_queries(25):
        output = load(verbosity=1)

    assert snapshot() == before
    assert "already up to date, nothing written" in output
    assert "created    0  updated    0  unchanged  167" in output
    assert len(before["ids"]["Measure"]) == 23


def test_a_first_load_prints_what_it_created(db):
    output = load(verbosity=1)

    assert output.splitlines()[0] == "load_plan js-2018-28 (苏发〔2018〕28号): changes written"
    assert "  measures          created   23  updated    0  unchanged    0" in output
    assert "  regions           created  109  updated    0  unchanged    0" in output


def test_verbosity_0_is_silent(db):
    assert load(verbosity=0) == ""


def test_a_changed_fixture_updates_rows_in_place_with_one_history_record(plan, tmp_path):
    directory = fixture_copy(tmp_path)
    edit(
        directory / "measures.yaml",
        "title_en: Explore a principal-technician grade",
        "title_en: Explore a grand-master technician grade",
    )
    task = Task.objects.get(measure__number=9, number=6)
    before = snapshot()

    load(directory)

    task.refresh_from_db()
    assert task.title_en == "Explore a grand-master technician grade"
    after = snapshot()
    assert after["ids"] == before["ids"]
    assert after["history"] == {**before["history"], "Task": before["history"]["Task"] + 1}
    assert task.history.first().history_change_reason == "load_plan js-2018-28"


def test_a_lead_changed_in_the_data_moves_the_proposed_lead(plan, tmp_path):
    directory = fixture_copy(tmp_path)
    edit(
        directory / "measures.yaml",
        "        lead: js-science-technology\n        cooperating: [js-trade-unions, js-human-resources]\n"
        "      - number: 7",
        "        lead: js-trade-unions\n        cooperating: [js-human-resources]\n      - number: 7",
    )

    load(directory)

    rows = Responsibility.objects.filter(task__measure__number=7, task__number=6)
    assert sorted(rows.values_list("body__code", "role")) == [
        ("js-human-resources", "cooperating"),
        ("js-trade-unions", "lead"),
    ]


def test_a_division_of_labour_confirmed_by_coordinators_is_left_alone(plan):
    measure = plan.measures.get(number=13)
    lead = Responsibility.objects.get(measure=measure, task=None, role="lead")
    lead.body = ResponsibleBody.objects.get(code="js-statistics")
    lead.is_proposed = False
    lead.save()
    before = snapshot()

    output = load(verbosity=1)

    assert snapshot() == before
    lead.refresh_from_db()
    assert (lead.body.code, lead.is_proposed) == ("js-statistics", False)
    assert "1 measures or tasks have a division of labour confirmed by coordinators" in output


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "measures.yaml",
            "    lead: js-propaganda\n    cooperating: [js-trade-unions, js-cyberspace, js-justice]",
            "    lead: js-propaganda\n    cooperating: [js-trade-unions, js-nowhere, js-justice]",
            "measures.yaml: measure 1: unknown body code “js-nowhere”",
        ),
        (
            "measures.yaml",
            "sentence: 探索建立特级技师制度",
            "sentence: 建立特级技师制度并全面推行",
            "measures.yaml: measure 9, task 6: sentence is not in measure 9's text: “建立特级技师制度并全面推行”",
        ),
        (
            "measures.yaml",
            "      - number: 5\n        title: 选树江苏大工匠和江苏工匠",
            "      - number: 3\n        title: 选树江苏大工匠和江苏工匠",
            "measures.yaml: measure 11: task 3 is listed twice",
        ),
        (
            "measures.yaml",
            "  - number: 23\n    programme: 5",
            "  - number: 24\n    programme: 5",
            "measures.yaml: lists 23 measures",
        ),
        (
            "measures.yaml",
            "title: 强化思想引领\n",
            "title: 加强思想引领\n",
            "measures.yaml: measure 1: title “加强思想引领” does not match the text's “强化思想引领”",
        ),
        ("plan.yaml", "  measures: 23", "  measures: 24", "plan.yaml: expected.measures is 24, but the text has 23"),
        (
            "measures.yaml",
            "      - number: 1\n        title: 开展理想信念教育",
            "      - 开展理想信念教育\n      - number: 1\n        title: 开展理想信念教育",
            "measures.yaml: measure 1: tasks entry 1 must be a mapping (key: value), not '开展理想信念教育'",
        ),
        ("measures.yaml", "\nmeasures:\n", "\nmeasures: [\n", "measures.yaml: not valid YAML"),
        (
            "bodies.yaml",
            "  - code: js-women\n",
            "  - code: js-trade-unions\n",
            "bodies.yaml: body code “js-trade-unions” is listed twice",
        ),
    ],
)
def test_a_broken_fixture_fails_naming_file_and_item_and_writes_nothing(db, tmp_path, file, old, new, message):
    directory = fixture_copy(tmp_path)
    edit(directory / file, old, new)

    with pytest.raises(CommandError) as error:
        load(directory)

    assert "nothing was written" in str(error.value)
    assert message in str(error.value)
    assert all(m.objects.count() == 0 for m in MODELS)


def test_a_failure_while_writing_rolls_back_the_whole_load(plan, tmp_path):
    directory = fixture_copy(tmp_path)
    edit(directory / "measures.yaml", "title_en: Strengthen ideological guidance", "title_en: Changed")
    edit(
        directory / "indicators.yaml",
        "    unit: 所\n    unit_en: schools\n    reporter: body",
        "    unit: 所\n    unit_en: " + "s" * 40 + "\n    reporter: body",
    )
    before = snapshot()

    with pytest.raises(CommandError, match="indicator first-class-secondary-vocational-schools: unit_en"):
        load(directory)

    assert snapshot() == before
    assert plan.measures.get(number=1).title_en == "Strengthen ideological guidance"


def test_the_loader_does_not_need_the_shared_source(db, tmp_path):
    directory = fixture_copy(tmp_path)

    load(directory)

    assert (
        Plan.objects.get().source_sha256
        == hashlib.sha256((directory / "jiangsu-industrial-workforce-reform-plan-2018.txt").read_bytes()).hexdigest()
    )


def test_a_second_plan_loads_beside_jiangsu_without_disturbing_it(plan):
    before = snapshot()

    load(SECOND_PLAN_DIR)
    load(SECOND_PLAN_DIR)

    second = Plan.objects.get(code="test-cn-2017-14")
    jiangsu_after = {
        m.__name__: sorted(m.objects.filter(pk__in=before["ids"][m.__name__]).values_list("pk", flat=True))
        for m in MODELS
    }
    assert jiangsu_after == before["ids"]
    for model in HISTORY_MODELS:
        name = model.__name__
        assert model.history.filter(id__in=before["ids"][name]).count() == before["history"][name], name
    assert Plan.objects.count() == 2
    assert list(second.programmes.values_list("number", "title")) == [(1, "加强思想政治建设"), (2, "构建技能形成体系")]
    assert dict(second.measures.values_list("number", "programme__number")) == {1: 1, 2: 2, 3: 2}
    assert second.measures.get(number=2).text == (
        "到2020年，技能劳动者占就业人员总量的比例达到25%以上，建立健全技能人才培养体系。"
    )
    assert second.sections.get(kind="implementation", number=2).title == "加强督促检查"
    assert second.sections.filter(kind="principle").count() == 2
    assert Task.objects.filter(measure__plan=second).count() == 3
    assert Indicator.objects.filter(plan=second).count() == 3
    target = Target.objects.get(indicator__plan=second, code="skilled-workers-share-25-by-2020")
    assert (target.value, target.comparator, target.deadline) == (25, "gte", datetime.date(2020, 12, 31))
    assert Region.objects.count() == 109 + 3
    assert Plan.objects.get(code="js-2018-28").measures.count() == 23
    assert Indicator.objects.filter(plan__code="js-2018-28").count() == len(before["ids"]["Indicator"])


def test_the_plan_names_its_own_province_and_regions_loaded_later_cannot_move_it(plan):
    from reporting.services.rollups import plan_province

    jiangsu = Region.objects.get(code="320000")
    assert plan.home_region == jiangsu
    # Another province with cities, sorted before Jiangsu by its code (as the national scale's may be): the
    # plan's figures, reporters and bodies still belong to Jiangsu.
    other = Region.objects.create(
        code="110000", name="北京市", name_en="Beijing", level="province", sort_order=0, division_year=2021
    )
    Region.objects.create(
        code="110100",
        name="北京市辖区",
        name_en="Beijing",
        level="city",
        parent=other,
        sort_order=0,
        division_year=2021,
    )
    assert plan_province(Plan.objects.get(pk=plan.pk)) == jiangsu

    load(SECOND_PLAN_DIR)
    assert Plan.objects.get(code="test-cn-2017-14").home_region.code == "330000"
    assert Plan.objects.get(pk=plan.pk).home_region == jiangsu


def test_a_regions_root_that_is_not_a_province_is_refused(db, tmp_path):
    directory = fixture_copy(tmp_path)
    edit(directory / "plan.yaml", 'regions_root: "320000"', 'regions_root: "320100"')

    with pytest.raises(CommandError) as error:
        load(directory)

    assert "plan.yaml: regions_root 320100 must be a province (the plan's own), not a city" in str(error.value)
    assert Plan.objects.count() == 0
