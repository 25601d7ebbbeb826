"""`manage.py generate_data --scale province|national|tiny`: seeded, deterministic SYNTHETIC data (合成数据)
at the scales the portal is built for, with a realistic shape.

Everything it writes is labelled: synthetic regions and indicators say 合成 / SYNTHETIC in their names, every
report it creates carries a Transition whose reason says 合成数据, and the history file it writes says so in
its name. It is for benchmarks and load tests on a database of their own, never for a real one.

- province: 江苏省's 13 cities and 95 county-level divisions (the real division list loaded with the plan),
  ~60 city-reported indicators (the plan's 36 and synthetic supporting ones), quarterly 2019Q1 to the last
  ended quarter: ~200 thousand values. Counties and the cities themselves (市本级) report; the cities' own
  reports of the last eight quarters are left to the API (the benchmark's quarter-end bursts).
- national: 31 provinces (江苏 real, 30 with synthetic prefectures and counties), 333 prefectures, 2,850
  counties, 100 city-reported indicators, 40 quarters to the last ended one: ~11.4 million values, reported
  by the counties; the prefectures' own reports (市本级) are left to the API.
- tiny: a few regions, quarters and indicators, for the smoke tests.

Shape: each reporter has a size, each (reporter, indicator) a level and a growth rate; values grow with noise,
flows are seasonal, shares and ratios keep numerator ≤ denominator; ~2 % of reports are missing and ~1 % of
values left blank; ~7 % of reports came in late; in the last ended quarter some county reports are still in
the workflow (city-approved, submitted, returned with a reason, draft).

Steps (the benchmark times the import on its own): `--csv FILE` writes the reference data (regions,
indicators, quarters, the importing account) and the history file in the bulk-import format; `--shape`
writes the in-workflow reports and the late flags after the import. Without either, all three run, the
import through `reporting.services.bulk_import`.
"""

import csv
import math
import random
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import cast

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from indicators.models import Indicator
from measures.models import Measure, Plan, Region, ResponsibleBody
from portal.accounts.models import Role
from portal.accounts.services import membership_grant
from reporting.models import DataValue, Period, Submission, Transition
from reporting.services.bulk_import import FIELDS, history_import
from reporting.services.periods import period_ensure

LABEL = "合成数据 SYNTHETIC"
IMPORTER = "synthetic-importer"
SYNTHETIC_SORT = 100_000
PROVINCES = [
    ("110000", "北京市", "Beijing"),
    ("120000", "天津市", "Tianjin"),
    ("130000", "河北省", "Hebei"),
    ("140000", "山西省", "Shanxi"),
    ("150000", "内蒙古自治区", "Inner Mongolia"),
    ("210000", "辽宁省", "Liaoning"),
    ("220000", "吉林省", "Jilin"),
    ("230000", "黑龙江省", "Heilongjiang"),
    ("310000", "上海市", "Shanghai"),
    ("330000", "浙江省", "Zhejiang"),
    ("340000", "安徽省", "Anhui"),
    ("350000", "福建省", "Fujian"),
    ("360000", "江西省", "Jiangxi"),
    ("370000", "山东省", "Shandong"),
    ("410000", "河南省", "Henan"),
    ("420000", "湖北省", "Hubei"),
    ("430000", "湖南省", "Hunan"),
    ("440000", "广东省", "Guangdong"),
    ("450000", "广西壮族自治区", "Guangxi"),
    ("460000", "海南省", "Hainan"),
    ("500000", "重庆市", "Chongqing"),
    ("510000", "四川省", "Sichuan"),
    ("520000", "贵州省", "Guizhou"),
    ("530000", "云南省", "Yunnan"),
    ("540000", "西藏自治区", "Tibet"),
    ("610000", "陕西省", "Shaanxi"),
    ("620000", "甘肃省", "Gansu"),
    ("630000", "青海省", "Qinghai"),
    ("640000", "宁夏回族自治区", "Ningxia"),
    ("650000", "新疆维吾尔自治区", "Xinjiang"),
]
SEASON = (0.8, 1.0, 1.05, 1.15)
MISSING = 0.02
# The last ended quarter: cumulative shares of county reports still in the workflow, by state.
IN_WORKFLOW = (("city_approved", 0.07), ("submitted", 0.10), ("returned", 0.13), ("draft", 0.15))
KINDS = ("flow", "flow", "flow", "flow", "stock", "stock", "share", "share", "share", "ratio")


@dataclass(frozen=True)
class Scale:
    synthetic_provinces: int
    synthetic_prefectures: int
    synthetic_counties: int
    jiangsu_cities: int | None  # None: all 13
    jiangsu_counties_per_city: int | None  # None: all
    city_indicators: int
    first: tuple[int, int]
    cities_report: bool
    burst_quarters: int


SCALES = {
    "tiny": Scale(2, 4, 8, 2, 2, 40, (2025, 3), True, 2),
    "province": Scale(0, 0, 0, None, None, 60, (2019, 1), True, 8),
    "national": Scale(30, 320, 2755, None, None, 100, (2016, 4), False, 2),
}


def last_ended_quarter(today: date) -> tuple[int, int]:
    quarter = (today.month - 1) // 3
    return (today.year, quarter) if quarter else (today.year - 1, 4)


def quarters(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out, (y, q) = [], first
    while (y, q) <= last:
        out.append((y, q))
        y, q = (y, q + 1) if q < 4 else (y + 1, 1)
    return out


def _stable(*parts: object) -> int:
    """A seed from the parts that does not depend on Python's per-process string hashing."""
    text = "|".join(str(p) for p in parts)
    value = 1469598103934665603
    for ch in text.encode():
        value = ((value ^ ch) * 1099511628211) % (1 << 64)
    return value


@dataclass
class Reporter:
    region_id: int
    code: str
    level: str
    size: float


@dataclass
class Series:
    """One (reporter, indicator): its level, growth and, for shares and ratios, the target rate."""

    indicator: Indicator
    level: float
    growth: float
    rate: float
    slope: float


class Generator:
    def __init__(self, *, plan: Plan, scale: Scale, seed: int) -> None:
        self.plan = plan
        self.scale = scale
        self.seed = seed
        self.today = timezone.localdate()
        self.periods = quarters(scale.first, last_ended_quarter(self.today))
        self.burst = set(self.periods[-scale.burst_quarters :]) if scale.burst_quarters else set()
        self.last = self.periods[-1]

    # --- reference data -----------------------------------------------------------------------

    def reference(self) -> dict[str, int]:
        with transaction.atomic():
            counts = {"regions": self._regions(), "indicators": self._indicators()}
            for year, quarter in self.periods:
                period_ensure(year=year, quarter=quarter)
            self._importer()
        return counts

    def _importer(self):
        user_model = get_user_model()
        user = user_model.objects.filter(username=IMPORTER).first()
        if user is None:
            user = user_model.objects.create_user(username=IMPORTER, password=None)
            user.first_name = LABEL
            user.save(update_fields=["first_name"])
            membership_grant(user=user, role=Role.COORDINATOR, valid_from=date(2000, 1, 1))
        return user

    def _regions(self) -> int:
        scale = self.scale
        if not scale.synthetic_provinces:
            return 0
        rng = random.Random(_stable(self.seed, "regions"))  # noqa: S311 - synthetic data, not security
        provinces = PROVINCES[: scale.synthetic_provinces]
        per_province = _spread(scale.synthetic_prefectures, len(provinces), rng)
        per_prefecture = _spread(scale.synthetic_counties, scale.synthetic_prefectures, rng)
        existing = set(Region.objects.values_list("code", flat=True))
        created = 0
        order = SYNTHETIC_SORT
        prefecture_index = 0
        for (code, name, name_en), n_prefectures in zip(provinces, per_province, strict=True):
            order += 1
            if code not in existing:
                Region.objects.create(
                    code=code,
                    name=name,
                    name_en=f"{name_en} (synthetic divisions)",
                    level=Region.Level.PROVINCE,
                    division_year=2021,
                    sort_order=order,
                )
                created += 1
            province = Region.objects.get(code=code)
            prefectures, counties = [], []
            for p in range(1, n_prefectures + 1):
                order += 1
                pcode = f"{code[:2]}{p:02d}00"
                prefectures.append(
                    Region(
                        code=pcode,
                        name=f"{name[:2]}合成地市{p:02d}",
                        name_en=f"Synthetic prefecture {p:02d} of {name_en}",
                        level=Region.Level.CITY,
                        parent=province,
                        division_year=2021,
                        sort_order=order,
                    )
                )
            new = [r for r in prefectures if r.code not in existing]
            Region.objects.bulk_create(new)
            created += len(new)
            saved = {r.code: r for r in Region.objects.filter(parent=province, level=Region.Level.CITY)}
            for p in range(1, n_prefectures + 1):
                pcode = f"{code[:2]}{p:02d}00"
                for k in range(1, per_prefecture[prefecture_index] + 1):
                    order += 1
                    counties.append(
                        Region(
                            code=f"{code[:2]}{p:02d}{k:02d}",
                            name=f"{name[:2]}合成县{p:02d}{k:02d}",
                            name_en=f"Synthetic county {p:02d}{k:02d} of {name_en}",
                            level=Region.Level.COUNTY,
                            parent=saved[pcode],
                            division_year=2021,
                            sort_order=order,
                        )
                    )
                prefecture_index += 1
            new = [r for r in counties if r.code not in existing]
            Region.objects.bulk_create(new, batch_size=1000)
            created += len(new)
        return created

    def _indicators(self) -> int:
        have = list(
            Indicator.objects.filter(
                plan=self.plan, is_active=True, reporter__in=[Indicator.Reporter.CITY, Indicator.Reporter.BOTH]
            )
        )
        wanted = self.scale.city_indicators - len(have)
        existing = set(Indicator.objects.filter(plan=self.plan, code__startswith="syn-").values_list("code", flat=True))
        measures = list(Measure.objects.filter(plan=self.plan).order_by("number"))
        new = []
        for n in range(1, wanted + 1):
            code = f"syn-{n:03d}"
            if code in existing:
                continue
            kind = KINDS[n % len(KINDS)]
            parts = kind in ("ratio", "share")
            new.append(
                Indicator(
                    plan=self.plan,
                    code=code,
                    name=f"合成指标{n:03d}（SYNTHETIC）",
                    name_en=f"Synthetic indicator {n:03d}",
                    definition=f"{LABEL}：仅用于性能基准测试，不是方案指标。Benchmark data only, not a plan indicator.",
                    kind=kind,
                    unit="%" if kind == "share" else ("人/万人" if kind == "ratio" else "人"),
                    scale=100 if kind == "share" else (10000 if kind == "ratio" else 1),
                    numerator_label="合成分子" if parts else "",
                    denominator_label="合成分母" if parts else "",
                    measure=measures[n % len(measures)],
                    is_supporting=True,
                    reporter=Indicator.Reporter.CITY,
                    sort_order=900 + n,
                )
            )
        Indicator.objects.bulk_create(new)
        return len(new)

    # --- who reports ------------------------------------------------------------------------------

    def reporters(self) -> list[Reporter]:
        scale = self.scale
        home = Region.objects.get(code="320000")
        cities = list(Region.objects.filter(parent=home, level=Region.Level.CITY).order_by("sort_order", "code"))
        if scale.jiangsu_cities is not None:
            cities = cities[: scale.jiangsu_cities]
        chosen: list[Region] = []
        for city in cities:
            chosen.append(city)
            counties = list(city.children.filter(level=Region.Level.COUNTY).order_by("sort_order", "code"))
            chosen += counties[: scale.jiangsu_counties_per_city] if scale.jiangsu_counties_per_city else counties
        synthetic = Region.objects.filter(sort_order__gt=SYNTHETIC_SORT).exclude(level=Region.Level.PROVINCE)
        chosen += list(synthetic.order_by("sort_order"))
        out = []
        for region in chosen:
            rng = random.Random(_stable(self.seed, "size", region.code))  # noqa: S311
            size = math.exp(rng.gauss(0, 0.6)) * (3.0 if region.level == Region.Level.CITY else 1.0)
            out.append(Reporter(region.pk, region.code, region.level, size))
        return out

    def city_indicators(self) -> list[Indicator]:
        return list(
            Indicator.objects.filter(
                plan=self.plan, is_active=True, reporter__in=[Indicator.Reporter.CITY, Indicator.Reporter.BOTH]
            ).order_by("sort_order", "code")
        )[: self.scale.city_indicators]

    def series(self, reporter: Reporter, indicators: list[Indicator]) -> list[Series]:
        rng = random.Random(_stable(self.seed, "series", reporter.code))  # noqa: S311
        out = []
        for indicator in indicators:
            magnitude = 10 ** rng.uniform(1.5, 4.0)
            out.append(
                Series(
                    indicator=indicator,
                    level=magnitude * reporter.size,
                    growth=rng.uniform(0.01, 0.09),
                    rate=rng.uniform(0.15, 0.55) if indicator.kind == "share" else rng.uniform(0.02, 0.09),
                    slope=rng.uniform(0.0, 0.01),
                )
            )
        return out

    def report_state(self, reporter: Reporter, period: tuple[int, int]) -> str:
        """confirmed (history), missing, api (left to the burst), or a workflow state (last quarter)."""
        if reporter.level == Region.Level.CITY and (not self.scale.cities_report or period in self.burst):
            return "api"
        draw = random.Random(_stable(self.seed, "state", reporter.code, period)).random()  # noqa: S311
        if draw < MISSING:
            return "missing"
        if period == self.last and reporter.level == Region.Level.COUNTY:
            for state, upper in IN_WORKFLOW:
                if draw < upper:
                    return state
        return "confirmed"

    def values(
        self, reporter: Reporter, series: list[Series], index: int, period: tuple[int, int], *, complete: bool = False
    ):
        """(indicator, value, numerator, denominator) for one report; ~1 % left blank unless `complete`."""
        rng = random.Random(_stable(self.seed, "values", reporter.code, period))  # noqa: S311
        t = index / 4
        season = SEASON[period[1] - 1]
        for s in series:
            if rng.random() < 0.01 and not complete:
                continue
            grown = s.level * (1 + s.growth) ** t
            kind = s.indicator.kind
            if kind == "flow":
                yield s.indicator, round(grown / 4 * season * (1 + rng.gauss(0, 0.1))), None, None
            elif kind == "stock":
                yield s.indicator, round(grown * (1 + rng.gauss(0, 0.03))), None, None
            else:
                denominator = max(1, round(grown * 20 * (1 + rng.gauss(0, 0.02))))
                rate = min(0.98, max(0.01, s.rate + s.slope * t + rng.gauss(0, 0.01)))
                yield s.indicator, None, round(denominator * rate), denominator

    # --- the history file ---------------------------------------------------------------------------

    def write_csv(self, path: Path, *, periods: slice | None = None) -> int:
        """The history file; `periods` (a slice of the quarters, oldest first) writes only part of it."""
        wanted = set(self.periods[periods]) if periods is not None else set(self.periods)
        reporters = self.reporters()
        indicators = self.city_indicators()
        series = {r.code: self.series(r, indicators) for r in reporters}
        rows = 0
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            for index, period in enumerate(self.periods):
                if period not in wanted:
                    continue
                code = f"{period[0]}Q{period[1]}"
                for reporter in reporters:
                    if self.report_state(reporter, period) != "confirmed":
                        continue
                    for indicator, value, numerator, denominator in self.values(
                        reporter, series[reporter.code], index, period
                    ):
                        writer.writerow(
                            (
                                reporter.code,
                                "",
                                code,
                                indicator.code,
                                "" if value is None else value,
                                "" if numerator is None else numerator,
                                "" if denominator is None else denominator,
                                "",
                                "",
                                "",
                            )
                        )
                        rows += 1
                rows += self._body_rows(writer, index, period)
        return rows

    def _body_rows(self, writer, index: int, period: tuple[int, int]) -> int:
        """The home province's bodies report the indicators they lead (milestones done in time)."""
        rows = 0
        code = f"{period[0]}Q{period[1]}"
        end = _quarter_end(*period)
        for indicator in Indicator.objects.filter(
            plan=self.plan, is_active=True, reporter=Indicator.Reporter.BODY, lead_body__isnull=False
        ).select_related("lead_body"):
            rng = random.Random(_stable(self.seed, "body", indicator.code, period))  # noqa: S311
            lead = cast(ResponsibleBody, indicator.lead_body)  # lead_body__isnull=False above
            cells = ["", lead.code, code, indicator.code, "", "", "", "", "", ""]
            if indicator.kind == "milestone":
                done_at = _stable(self.seed, "milestone", indicator.code) % max(len(self.periods), 1)
                done = index >= done_at
                cells[7] = "是" if done else "否"
                if done:
                    cells[8] = (end - timedelta(days=rng.randint(0, 60))).isoformat()
            elif indicator.kind in ("ratio", "share"):
                denominator = rng.randint(1000, 5000)
                cells[5], cells[6] = str(round(denominator * rng.uniform(0.2, 0.7))), str(denominator)
            else:
                cells[4] = str(rng.randint(10, 500) * (index + 1 if indicator.kind == "stock" else 1))
            writer.writerow(cells)
            rows += 1
        return rows

    # --- after the import: what is still in the workflow, and who was late ------------------------------

    def shape(self) -> dict[str, int]:
        importer = self._importer()
        now = timezone.now()
        reporters = [r for r in self.reporters() if r.level == Region.Level.COUNTY]
        indicators = self.city_indicators()
        period = Period.objects.get(year=self.last[0], quarter=self.last[1])
        index = len(self.periods) - 1
        counts: dict[str, int] = {}
        with transaction.atomic():
            taken = set(
                Submission.objects.filter(plan=self.plan, period=period, region__isnull=False).values_list(
                    "region_id", flat=True
                )
            )
            reports, values, steps = [], [], []
            for reporter in reporters:
                state = self.report_state(reporter, self.last)
                if state in ("confirmed", "missing", "api") or reporter.region_id in taken:
                    continue
                counts[state] = counts.get(state, 0) + 1
                reports.append(
                    Submission(
                        plan=self.plan,
                        period=period,
                        region_id=reporter.region_id,
                        status=state,
                        created_by=importer,
                        submitted_at=now if state in ("submitted", "city_approved") else None,
                        city_approved_at=now if state == "city_approved" else None,
                        return_reason=f"{LABEL}：请核实与上季度差异较大的数值。" if state == "returned" else "",
                    )
                )
            Submission.objects.bulk_create(reports)
            saved = {
                s.region_id: s
                for s in Submission.objects.filter(
                    plan=self.plan, period=period, region_id__in=[r.region_id for r in reports]
                )
            }
            by_region: dict[int | None, Reporter] = {r.region_id: r for r in reporters}
            for report in reports:
                report_row = saved[report.region_id]
                reporter = by_region[report.region_id]
                for indicator, value, numerator, denominator in self.values(
                    reporter, self.series(reporter, indicators), index, self.last
                ):
                    values.append(
                        DataValue(
                            submission=report_row,
                            indicator=indicator,
                            value=value,
                            numerator=numerator,
                            denominator=denominator,
                            updated_by=importer,
                        )
                    )
                steps.append(
                    Transition(
                        submission=report_row,
                        action=Transition.Action.CREATE,
                        from_status="",
                        to_status=report_row.status,
                        actor=importer,
                        reason=f"{LABEL}：生成的在途报表",
                    )
                )
            DataValue.objects.bulk_create(values, batch_size=2000)
            Transition.objects.bulk_create(steps, batch_size=2000)
            counts["late"] = self._late()
        return counts

    def _late(self) -> int:
        """Submission times for the history: ~7 % after the deadline (one set-based statement)."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE reporting_submission
                SET is_late = ((id * 2654435761) %% 100) < 7
                WHERE plan_id = %s AND status = 'confirmed' AND submitted_at IS NULL
                """,
                [self.plan.pk],
            )
            return cursor.rowcount


def _spread(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` near-equal whole numbers, in a seeded order."""
    if parts == 0:
        return []
    base, extra = divmod(total, parts)
    out = [base + 1] * extra + [base] * (parts - extra)
    rng.shuffle(out)
    return out


def _quarter_end(year: int, quarter: int) -> date:
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, quarter * 3 + 1, 1)
    return following - timedelta(days=1)


class Command(BaseCommand):
    help = "Generate seeded SYNTHETIC data (合成数据) at province, national or tiny scale for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="province")
        parser.add_argument("--plan", default="js-2018-28")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--csv", help="write the reference data and the history file here; import nothing")
        parser.add_argument("--shape", action="store_true", help="after the import: in-workflow reports, late flags")
        parser.add_argument("--rollup", action="store_true", help="then rebuild every figure (in this process)")

    def handle(self, *args, **options):
        plan = Plan.objects.filter(code=options["plan"]).first()
        if plan is None:
            raise CommandError(f"Plan {options['plan']!r} is not loaded; run load_plan first.")
        if not Region.objects.filter(code="320000").exists():
            raise CommandError("江苏省 (320000) is not loaded; run load_plan first.")
        generator = Generator(plan=plan, scale=SCALES[options["scale"]], seed=options["seed"])
        if options["shape"]:
            self.stdout.write(f"{LABEL}: shaped {generator.shape()}")
            return
        counts = generator.reference()
        self.stdout.write(f"{LABEL}: reference data {counts}, quarters {len(generator.periods)}")
        if options["csv"]:
            rows = generator.write_csv(Path(options["csv"]))
            self.stdout.write(f"{LABEL}: {rows} history rows written to {options['csv']}")
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"synthetic-{options['scale']}-history.csv"
            rows = generator.write_csv(path)
            report = history_import(user=generator._importer(), plan=plan, path=path, create_periods=True, rollup=False)
        self.stdout.write(
            f"{LABEL}: {rows} rows, imported {report.values_created} values in {report.submissions_created} reports"
            f" ({report.rejected_rows} rejected) in {report.seconds} s"
        )
        self.stdout.write(f"{LABEL}: shaped {generator.shape()}")
        if options["rollup"]:
            from reporting.services.rollups import rollup_everything

            self.stdout.write(f"{LABEL}: rolled up in {rollup_everything()['seconds']} s")
