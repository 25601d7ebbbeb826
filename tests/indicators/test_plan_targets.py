"""The plan's indicators and targets as `load_plan` stores them: every quoted target of PRODUCT.md with
its value, comparator, time and clause; the qualitative commitments; supporting indicators; and something
to report for every measure."""

import datetime
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, Task

PLAN_DIR = Path("fixtures/plans/js-2018-28")
END_2020 = datetime.date(2020, 12, 31)

# indicator code, measure, kind, unit, value, comparator, deadline, per_year, (part of) the clause
QUOTED = [
    ("first-class-secondary-vocational-schools", 5, "stock", "所", 50, "approx", None, False,
     "创建50所左右一流中等职业学校"),
    ("high-level-higher-vocational-colleges", 5, "stock", "所", 20, "approx", None, False,
     "20所左右高水平高等职业院校"),
    ("applied-undergraduate-universities", 5, "stock", "所", 10, "gte", None, False,
     "建设10所特色鲜明、示范引领的应用型本科院校"),
    ("integration-enterprises", 5, "stock", "家", 300, "gte", END_2020, False,
     "到2020年，省级认定“产教融合型”企业达到300家以上"),
    ("integration-training-platforms", 5, "stock", "个", 100, "gte", END_2020, False,
     "建成100个产教深度融合实训平台"),
    ("core-courses-international-share", 5, "share", "%", 20, "gte", END_2020, False,
     "核心课程与国际通用职业资格证书课程对接的比例达到20%"),
    ("high-skill-workers-per-10000", 6, "ratio", "人/万人", 800, "gte", END_2020, False,
     "到2020年，全省每万名劳动者中高技能人才数达800人"),
    ("high-skill-workers-new", 6, "flow", "人", 150000, "gte", None, True, "每年新增高技能人才15万人以上"),
    ("worker-innovation-results", 7, "flow", "项", 10, "gte", None, True, "每年认定省职工十大科技创新成果"),
    ("worker-operation-methods", 7, "flow", "项", 10, "gte", None, True, "省职工十大先进操作法"),
    ("worker-invention-patents", 7, "flow", "项", 10, "gte", None, True, "省职工十大发明专利"),
    ("conversion-reward-inventor-share", 7, "share", "%", 70, "gte", None, True,
     "骨干团队和主要发明人的收益比例不低于成果转化奖励金额的70%"),
    ("chief-technicians-named", 11, "flow", "名", 100, "gte", None, True, "每年认定100名省级企业首席技师"),
    ("education-surcharge-vocational-share", 18, "share", "%", 30, "gte", None, True,
     "确保地方教育附加费用于职业教育的比例不低于30%"),
    ("staff-education-funds-frontline-share", 18, "share", "%", 60, "gte", None, True,
     "确保职工教育经费60%以上用于一线职工的技能培训"),
]  # fmt: skip


def load(directory=PLAN_DIR):
    call_command("load_plan", str(directory), verbosity=0, stdout=io.StringIO())


@pytest.mark.parametrize(
    ("code", "measure", "kind", "unit", "value", "comparator", "deadline", "per_year", "clause"), QUOTED
)
def test_each_quoted_target_is_stored_as_the_plan_states_it(
    plan, code, measure, kind, unit, value, comparator, deadline, per_year, clause
):
    indicator = Indicator.objects.get(plan=plan, code=code)
    (target,) = indicator.targets.all()

    assert indicator.measure.number == measure
    assert indicator.kind == kind
    assert indicator.unit == unit
    assert indicator.is_supporting is False
    assert target.source == "quoted"
    assert target.value == Decimal(value)
    assert target.comparator == comparator
    assert target.deadline == deadline
    assert target.per_year is per_year
    assert clause in target.clause
    assert target.clause in indicator.measure.text
    assert target.region is None


def test_the_plan_quotes_exactly_these_targets(plan):
    quoted = set(Target.objects.filter(indicator__plan=plan, source="quoted").values_list("indicator__code", flat=True))

    assert quoted == {row[0] for row in QUOTED}


def test_about_targets_have_a_tolerance_and_undated_ones_say_why(plan):
    for code in ("first-class-secondary-vocational-schools", "high-level-higher-vocational-colleges"):
        target = Target.objects.get(indicator__code=code)
        assert target.tolerance == Decimal(10)
        assert "未规定时限" in target.note
    undated = Target.objects.get(indicator__code="applied-undergraduate-universities")
    assert "未规定时限" in undated.note


def test_high_skill_ratio_per_10000_has_its_parts_and_supporting_stocks(plan):
    ratio = Indicator.objects.get(code="high-skill-workers-per-10000")

    assert ratio.scale == Decimal(10000)
    assert ratio.numerator_label == "高技能人才数"
    assert ratio.denominator_label == "劳动者（从业人员）人数"
    assert ratio.reporter == "city"
    assert ratio.lead_body.name == "省人力资源社会保障厅"
    parts = Indicator.objects.filter(code__in=["high-skill-workers", "employed-workers"])
    assert {(p.name, p.kind, p.is_supporting) for p in parts} == {
        ("高技能人才数", "stock", True),
        ("劳动者（从业人员）人数", "stock", True),
    }


def test_the_ten_best_are_three_flows_reported_by_the_trade_unions(plan):
    indicators = Indicator.objects.filter(
        code__in=["worker-innovation-results", "worker-operation-methods", "worker-invention-patents"]
    )

    assert {(i.kind, i.reporter, i.lead_body.name) for i in indicators} == {("flow", "body", "省总工会")}
    assert {i.task.title for i in indicators} == {"每年认定省职工十大科技创新成果、十大先进操作法、十大发明专利"}


def test_qualitative_commitments_are_tracked_as_milestones_or_comparisons(plan):
    commitments = {
        t.indicator.code: t
        for t in Target.objects.filter(indicator__plan=plan, source="commitment").select_related("indicator__measure")
    }

    assert set(commitments) == {
        "frontline-wage-growth-share",
        "higher-vocational-funding-standard",
        "vocational-college-skills-contest",
    }
    wage = commitments["frontline-wage-growth-share"]
    assert (wage.indicator.measure.number, wage.indicator.kind) == (12, "share")
    assert (wage.value, wage.comparator, wage.per_year) == (Decimal(100), "gte", True)
    assert wage.clause == "一线职工的工资增幅不低于本企业职工平均工资增幅"
    assert "企业薪酬调查" in wage.note
    funding = commitments["higher-vocational-funding-standard"]
    assert (funding.indicator.measure.number, funding.indicator.kind) == (17, "milestone")
    assert (funding.value, funding.comparator, funding.deadline, funding.per_year) == (1, "gte", None, False)
    contest = commitments["vocational-college-skills-contest"]
    assert (contest.indicator.measure.number, contest.indicator.kind) == (8, "milestone")
    assert (contest.value, contest.comparator, contest.per_year) == (1, "gte", True)
    assert contest.clause == "每年定期举办全省职业院校技能大赛"


def test_every_target_clause_occurs_in_its_measure_text(plan):
    targets = Target.objects.filter(indicator__plan=plan).select_related("indicator__measure")

    assert targets.count() == len(QUOTED) + 3
    for target in targets:
        assert target.clause in target.indicator.measure.text, target.code
        assert target.baseline_value is None


def test_milestone_targets_are_value_1_at_least(plan):
    for target in Target.objects.filter(indicator__plan=plan, indicator__kind="milestone"):
        assert (target.value, target.comparator) == (1, "gte"), target.code


@pytest.mark.parametrize(
    ("code", "measure", "task_title"),
    [
        ("strategy-research-institute", 19, "成立省产业工人发展战略研究院"),
        ("principal-technician-system", 9, "探索建立特级技师制度"),
        ("ideological-work-opinion", 1, "制定加强和改进产业工人思想政治工作意见"),
        ("skill-grade-evaluation-system", 9, "制定出台技能等级评价制度"),
        ("union-online-platform", 22, "建立省市县工会一体化网上工作平台"),
        ("skilled-worker-pay-opinion", 11, "制定提高技术工人待遇的实施意见"),
    ],
)
def test_one_off_institutional_tasks_are_milestones_linked_to_their_task(plan, code, measure, task_title):
    indicator = Indicator.objects.select_related("task__measure").get(plan=plan, code=code)

    assert indicator.kind == "milestone"
    assert indicator.is_supporting is False
    assert indicator.task.measure.number == measure
    assert indicator.task.title == task_title
    assert indicator.reporter == "body"
    assert indicator.lead_body is not None


def test_supporting_indicators_are_never_targets(plan):
    supporting = Indicator.objects.filter(plan=plan, is_supporting=True)

    assert not Target.objects.filter(indicator__in=supporting).exists()
    assert set(supporting.values_list("code", flat=True)) >= {
        "high-skill-workers",
        "employed-workers",
        "self-evaluating-enterprises",
        "apprentices-trained",
        "collective-contract-coverage",
        "migrant-workers-trained",
        "workers-in-difficulty-helped",
        "skills-contest-participants",
        "union-organisation-coverage",
        "workers-congress-rate",
        "party-organisation-coverage",
    }
    coverage = supporting.get(code="collective-contract-coverage")
    assert (coverage.kind, coverage.scale) == ("share", Decimal(100))
    assert coverage.numerator_label
    assert coverage.denominator_label
    assert supporting.get(code="apprentices-trained").kind == "flow"


def test_every_measure_has_something_to_report(plan):
    reportable = set(Indicator.objects.filter(plan=plan).values_list("measure__number", flat=True))

    assert reportable == set(range(1, 24))


def test_every_indicator_is_fully_described(plan):
    for indicator in Indicator.objects.filter(plan=plan).select_related("task", "measure"):
        assert indicator.name, indicator.code
        assert indicator.name_en, indicator.code
        assert indicator.definition, indicator.code
        assert indicator.lead_body_id is not None, indicator.code
        if indicator.task is not None:
            assert indicator.task.measure_id == indicator.measure_id, indicator.code
        if indicator.kind in ("ratio", "share"):
            assert indicator.numerator_label, indicator.code
            assert indicator.denominator_label, indicator.code
        if indicator.kind == "share":
            assert (indicator.scale, indicator.unit) == (Decimal(100), "%"), indicator.code
        if indicator.kind != "milestone":
            assert indicator.unit, indicator.code
            assert indicator.unit_en, indicator.code


def fixture_copy(tmp_path):
    shutil.copytree(PLAN_DIR, tmp_path / "fixtures/plans/js-2018-28")
    shutil.copytree("fixtures/regions", tmp_path / "fixtures/regions")
    return tmp_path / "fixtures/plans/js-2018-28"


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "clause: 确保地方教育附加费用于职业教育的比例不低于30%",
            "clause: 确保地方教育附加用于职业教育的比例不低于30%",
            "indicators.yaml: indicator “education-surcharge-vocational-share”, target "
            "“education-surcharge-vocational-share-30”: clause is not in measure 18's text",
        ),
        (
            "    lead_body: js-state-assets\n    definition: 期末由企业举办",
            "    lead_body: js-nowhere\n    definition: 期末由企业举办",
            "indicators.yaml: indicator “corporate-universities”: unknown body code “js-nowhere”",
        ),
        (
            "    supporting: true\n    reporter: city\n    lead_body: js-human-resources\n"
            "    definition: 报告期内参加企业新型学徒制",
            "    supporting: true\n    reporter: city\n    lead_body: js-human-resources\n"
            "    targets: [{code: apprentices-1000, value: 1000, comparator: gte, per_year: true, "
            "clause: 推行学徒制培训}]\n    definition: 报告期内参加企业新型学徒制",
            "indicators.yaml: indicator “apprentices-trained”: a supporting indicator is not a plan target",
        ),
        (
            "    numerator: 高技能人才数\n",
            "",
            "indicators.yaml: indicator “high-skill-workers-per-10000”: "
            "a ratio needs both a numerator and a denominator",
        ),
        (
            "        value: 150000\n        comparator: gte\n        per_year: true\n",
            "        value: 150000\n        comparator: gte\n        per_year: true\n        deadline: 2020-12-31\n",
            "target “high-skill-workers-new-150000-per-year”: a per-year target has no deadline",
        ),
        (
            "  - code: employed-workers\n    measure: 6\n    task: 11",
            "  - code: employed-workers\n    measure: 6\n    task: 99",
            "indicators.yaml: indicator “employed-workers”: task 99 is not a task of measure 6",
        ),
    ],
)
def test_a_broken_indicator_file_fails_naming_the_item_and_writes_nothing(db, tmp_path, old, new, message):
    directory = fixture_copy(tmp_path)
    edit(directory / "indicators.yaml", old, new)

    with pytest.raises(CommandError) as error:
        load(directory)

    assert message in str(error.value)
    assert Plan.objects.count() == 0
    assert Measure.objects.count() == 0
    assert Task.objects.count() == 0
    assert Indicator.objects.count() == 0


def test_a_broken_indicator_file_leaves_a_loaded_plan_as_it_was(plan, tmp_path):
    directory = fixture_copy(tmp_path)
    edit(directory / "indicators.yaml", "        value: 800\n", "        value: 900\n")
    edit(
        directory / "indicators.yaml", "clause: 每年认定100名省级企业首席技师", "clause: 每年认定200名省级企业首席技师"
    )
    targets = dict(Target.objects.values_list("pk", "value"))
    history = Target.history.count()

    with pytest.raises(CommandError, match="clause is not in measure 11's text"):
        load(directory)

    assert dict(Target.objects.values_list("pk", "value")) == targets
    assert Target.history.count() == history


def test_a_target_a_coordinator_added_survives_a_reload(plan):
    indicator = Indicator.objects.get(code="high-skill-workers-per-10000")
    city_target = Target.objects.create(
        indicator=indicator,
        code="nanjing-900",
        value=900,
        comparator="gte",
        clause="协调小组分解",
        source="apportioned",
    )

    load()

    assert Target.objects.filter(pk=city_target.pk, value=900).exists()
