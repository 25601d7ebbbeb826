"""factory-boy factories, one per model, grouped by app. Defaults build a valid row with the fewest extra rows.

A child passed its parent stays inside that parent's plan (a measure inside its programme's plan, an indicator
inside its measure's plan), so tests never build rows that the loader could not produce.
"""

import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from indicators.models import Indicator, Target
from measures.models import Measure, Plan, PlanSection, Programme, Region, Responsibility, ResponsibleBody, Task

# measures


class PlanFactory(DjangoModelFactory):
    class Meta:
        model = Plan

    code = factory.Sequence(lambda n: f"plan-{n}")
    document_number = factory.Sequence(lambda n: f"测试〔2018〕{n}号")
    title = factory.Sequence(lambda n: f"测试改革方案{n}")
    title_en = factory.Sequence(lambda n: f"Test reform plan {n}")
    issuing_bodies = "中共江苏省委 江苏省人民政府"
    issued_on = datetime.date(2018, 11, 18)
    start_year = 2018
    end_year = 2022


class PlanSectionFactory(DjangoModelFactory):
    class Meta:
        model = PlanSection

    plan = factory.SubFactory(PlanFactory)
    kind = PlanSection.Kind.PRINCIPLE
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"基本原则{n}")
    title_en = factory.Sequence(lambda n: f"Principle {n}")
    text = "坚持党的领导。"


class ProgrammeFactory(DjangoModelFactory):
    class Meta:
        model = Programme

    plan = factory.SubFactory(PlanFactory)
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"测试工程{n}")
    title_en = factory.Sequence(lambda n: f"Test programme {n}")
    heading = factory.LazyAttribute(lambda o: f"（{o.number}）实施{o.title}")


class MeasureFactory(DjangoModelFactory):
    class Meta:
        model = Measure

    programme = factory.SubFactory(ProgrammeFactory)
    plan = factory.SelfAttribute("programme.plan")
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"测试举措{n}")
    title_en = factory.Sequence(lambda n: f"Test measure {n}")
    text = "加强产业工人思想政治引领。"


class TaskFactory(DjangoModelFactory):
    class Meta:
        model = Task

    measure = factory.SubFactory(MeasureFactory)
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"测试任务{n}")
    title_en = factory.Sequence(lambda n: f"Test task {n}")
    sentence = "制定加强和改进产业工人思想政治工作意见。"
    deadline = None
    recurrence = ""


class ResponsibleBodyFactory(DjangoModelFactory):
    class Meta:
        model = ResponsibleBody

    code = factory.Sequence(lambda n: f"body-{n}")
    name = factory.Sequence(lambda n: f"测试责任单位{n}")
    name_en = factory.Sequence(lambda n: f"Test body {n}")
    short_name = ""
    kind = ResponsibleBody.Kind.GOVERNMENT
    is_active = True


class ResponsibilityFactory(DjangoModelFactory):
    """Measure-level by default; pass `task=` for a task-level responsibility (the measure follows the task)."""

    class Meta:
        model = Responsibility

    task = None
    measure = factory.Maybe(
        "task",
        yes_declaration=factory.SelfAttribute("task.measure"),
        no_declaration=factory.SubFactory(MeasureFactory),
    )
    body = factory.SubFactory(ResponsibleBodyFactory)
    role = Responsibility.Role.LEAD
    is_proposed = True


class RegionFactory(DjangoModelFactory):
    """A city under a new province by default; `level="province"` builds a province (which has no parent)."""

    class Meta:
        model = Region

    # Outside the real codes (32xxxx for Jiangsu), so tests may also create real ones.
    code = factory.Sequence(lambda n: f"99{n:06d}")
    name = factory.Sequence(lambda n: f"测试地区{n}")
    name_en = factory.Sequence(lambda n: f"Test region {n}")
    level = Region.Level.CITY
    parent = factory.Maybe(
        factory.LazyAttribute(lambda o: o.level == Region.Level.PROVINCE),
        yes_declaration=None,
        no_declaration=factory.SubFactory("tests.factories.RegionFactory", level=Region.Level.PROVINCE),
    )
    division_year = 2018
    sort_order = factory.Sequence(lambda n: n)


# indicators


class IndicatorFactory(DjangoModelFactory):
    """A flow counted by the cities; use `kind=Indicator.Kind.RATIO` with numerator/denominator labels for a ratio."""

    class Meta:
        model = Indicator

    measure = factory.SubFactory(MeasureFactory)
    plan = factory.SelfAttribute("measure.plan")
    task = None
    code = factory.Sequence(lambda n: f"indicator-{n}")
    name = factory.Sequence(lambda n: f"测试指标{n}")
    name_en = factory.Sequence(lambda n: f"Test indicator {n}")
    kind = Indicator.Kind.FLOW
    unit = "人"
    unit_en = "people"
    scale = Decimal(1)
    decimals = 0
    is_supporting = False
    reporter = Indicator.Reporter.CITY
    lead_body = None
    sort_order = factory.Sequence(lambda n: n)


class TargetFactory(DjangoModelFactory):
    """A province-wide quoted target (≥ 100 by the end of 2020)."""

    class Meta:
        model = Target

    indicator = factory.SubFactory(IndicatorFactory)
    code = factory.Sequence(lambda n: f"target-{n}")
    region = None
    value = Decimal(100)
    comparator = Target.Comparator.GTE
    deadline = datetime.date(2020, 12, 31)
    per_year = False
    clause = "到2020年，建成100个产教深度融合实训平台。"
    source = Target.Source.QUOTED


# whole trees


def plan_tree_create(*, size: int) -> Plan:
    """A plan whose every collection grows with `size`, for proving that query counts do not.

    `size` sections, programmes (one measure each, with a lead and a cooperating body), tasks per measure
    (each with a lead body), indicators per measure (each on a task, with a lead body and two targets, one of
    them apportioned to a city), and cities under one province.
    """
    plan = PlanFactory()
    province = RegionFactory(level=Region.Level.PROVINCE)
    cities = RegionFactory.create_batch(size, parent=province)
    lead, cooperating = ResponsibleBodyFactory(), ResponsibleBodyFactory(kind=ResponsibleBody.Kind.MASS_ORGANISATION)
    PlanSectionFactory.create_batch(size, plan=plan)
    for programme in ProgrammeFactory.create_batch(size, plan=plan):
        measure = MeasureFactory(programme=programme)
        ResponsibilityFactory(measure=measure, body=lead)
        ResponsibilityFactory(measure=measure, body=cooperating, role=Responsibility.Role.COOPERATING)
        for task in TaskFactory.create_batch(size, measure=measure):
            ResponsibilityFactory(task=task, body=lead)
            indicator = IndicatorFactory(measure=measure, task=task, lead_body=lead)
            TargetFactory(indicator=indicator)
            TargetFactory(indicator=indicator, region=cities[0], source=Target.Source.APPORTIONED)
    return plan
