"""Reading a plan directory: the plan's own text, parsed into its parts, and the YAML files that add what
the text cannot give (English titles, tasks, bodies, the proposed division of labour, regions).

Nothing here touches the database. `plan_source_read` returns a checked, immutable `PlanSource`, or
raises one `ValidationError` listing every problem found, each naming the file and the item, so that a
broken fixture is reported in full before anything is written.

The directory holds `plan.yaml`, which names the other files:

    files: {text: <source .txt>, bodies: bodies.yaml, measures: measures.yaml,
            indicators: indicators.yaml, regions: <path to a region list, relative to the directory>}
"""

import copy
import datetime
import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError

# The C loader parses the plan's files several times faster; both build only plain Python objects.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CN_DIGITS = {"零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

# A paragraph is complete when it ends a sentence; closing quotes or brackets may follow the stop.
SENTENCE_END = re.compile(r"[。！？；：][”’）」』》]*$")
CHAPTER = re.compile(r"^([一二三四五六七八九十]+)、\s*(.+)$")
ITEM = re.compile(r"^（([一二三四五六七八九十]+)）\s*(.+)$")
PRINCIPLE = re.compile(r"^——\s*(.+)$")
MEASURE = re.compile(r"^(\d+)\.(?!\d)\s*(.+)$")
STRUCTURAL = (CHAPTER, ITEM, PRINCIPLE, MEASURE)
HALF_WIDTH_ITEM = re.compile(r"^\(([一二三四五六七八九十]+)\)\s*")
# Whitespace next to a Chinese character or full-width punctuation is an extraction artefact (the PDF
# spaces digits apart from the characters around them: "创建 50 所左右"); Chinese text has none.
CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f])[ \t\u3000]+|[ \t\u3000]+(?=[^\x00-\x7f])")

SECTION_KINDS = ("guiding_idea", "principle", "goal", "implementation")
BODY_KINDS = ("party", "government", "mass_org", "coordination", "other")
RECURRENCES = ("", "yearly", "ongoing")


def cn_number(text: str) -> int:
    """一 → 1, 十 → 10, 十二 → 12, 二十三 → 23 (enough for the items of a plan)."""
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[units] if units else 0)
    return CN_DIGITS[text]


@dataclass(frozen=True)
class TextItem:
    """One numbered item of the text: heading (up to the first 。) and the text after it."""

    number: int
    title: str
    text: str
    children: tuple["TextItem", ...] = ()


@dataclass(frozen=True)
class PlanText:
    preamble: str
    general: tuple[TextItem, ...]
    programmes: tuple[TextItem, ...]
    # (programme number, measure) in the order of the text.
    measures: tuple[tuple[int, TextItem], ...]
    implementation: tuple[TextItem, ...]


def paragraphs_split(text: str) -> list[str]:
    """The text's blank-line separated paragraphs, each on one line and normalised."""
    blocks = re.split(r"\n\s*\n", text)
    return [normalise(" ".join(line.strip() for line in block.splitlines())) for block in blocks if block.strip()]


def page_breaks_join(paragraphs: list[str]) -> list[str]:
    """Rejoin the sentences that the PDF's page breaks cut in two.

    The extraction turned each page break into a blank line, in the middle of a sentence and sometimes
    of a word: "实施劳模支部" / "“双创双提升”行动", "到企业实" / "践力度". A paragraph that does not
    end a sentence, is not itself a heading, and is followed by one that does not open a heading, item,
    principle or measure is the first half of such a cut, so the two are joined with nothing between
    them (Chinese has no spaces between words).
    """
    joined: list[str] = []
    for paragraph in paragraphs:
        previous = joined[-1] if joined else None
        if (
            previous is not None
            and not SENTENCE_END.search(previous)
            and not is_heading(previous)
            and not any(pattern.match(paragraph) for pattern in STRUCTURAL)
        ):
            joined[-1] = previous + paragraph
        else:
            joined.append(paragraph)
    return joined


def is_heading(paragraph: str) -> bool:
    """Headings end without a stop by design and must not swallow the paragraph after them."""
    return bool(CHAPTER.match(paragraph)) or (bool(ITEM.match(paragraph)) and "。" not in paragraph)


def normalise(paragraph: str) -> str:
    paragraph = CJK_SPACE.sub("", paragraph.strip())
    # 组织实施 numbers its items with half-width "(二) " where the rest of the text uses "（二）".
    return HALF_WIDTH_ITEM.sub(lambda m: f"（{m.group(1)}）", paragraph)


def split_title(text: str) -> tuple[str, str]:
    title, stop, rest = text.partition("。")
    return (title.strip(), rest.strip()) if stop else (text.strip(), "")


def plan_text_parse(*, text: str, starts_after: str, ends_before: str, chapters: dict[str, str]) -> PlanText:
    """Split the plan's text into preamble, 总体要求 items, programmes and measures, and 组织实施 items.

    `starts_after` is the paragraph that opens the plan itself (its title line, after the covering
    notice); `ends_before` the first paragraph after it (the printing office's footer). `chapters` maps
    `general`, `measures` and `implementation` to the chapter headings as they stand in the text.
    Raises ValueError naming what it could not find.
    """
    paragraphs = paragraphs_split(text)
    starts = [i for i, p in enumerate(paragraphs) if p == starts_after]
    if len(starts) != 1:
        raise ValueError(f"the opening line “{starts_after}” occurs {len(starts)} times as a paragraph, not once")
    body = paragraphs[starts[0] + 1 :]
    ends = [i for i, p in enumerate(body) if p == ends_before]
    if not ends:
        raise ValueError(f"the closing line “{ends_before}” is not in the text")
    # Only the plan itself is repaired: the covering notice above it is a letterhead of short lines.
    body = page_breaks_join(body[: ends[0]])

    wanted = {heading: role for role, heading in chapters.items()}
    blocks: dict[str, list[str]] = {}
    preamble: list[str] = []
    current: list[str] | None = None
    for paragraph in body:
        chapter = CHAPTER.match(paragraph)
        if chapter:
            role = wanted.get(paragraph)
            if role is None:
                raise ValueError(f"chapter “{paragraph}” is not one of plan.yaml's chapters")
            current = blocks.setdefault(role, [])
        elif current is None:
            preamble.append(paragraph)
        else:
            current.append(paragraph)
    missing = [chapters[role] for role in ("general", "measures", "implementation") if role not in blocks]
    if missing:
        raise ValueError(f"chapters not found in the text: {'、'.join(missing)}")

    programmes: list[TextItem] = []
    measures: list[tuple[int, TextItem]] = []
    for paragraph in blocks["measures"]:
        item = ITEM.match(paragraph)
        measure = MEASURE.match(paragraph)
        if item:
            programmes.append(TextItem(number=cn_number(item.group(1)), title=item.group(2).strip(), text=""))
        elif measure:
            if not programmes:
                raise ValueError(f"measure {measure.group(1)} stands before any programme heading")
            title, rest = split_title(measure.group(2))
            measures.append((programmes[-1].number, TextItem(number=int(measure.group(1)), title=title, text=rest)))
        else:
            raise ValueError(
                f"paragraph in {chapters['measures']} is neither a programme nor a measure: {paragraph[:40]}"
            )

    return PlanText(
        preamble="\n\n".join(preamble),
        general=items_parse(blocks["general"], chapters["general"]),
        programmes=tuple(programmes),
        measures=tuple(measures),
        implementation=items_parse(blocks["implementation"], chapters["implementation"]),
    )


def items_parse(paragraphs: list[str], chapter: str) -> tuple[TextItem, ...]:
    """（一）title。text items; an item with no text of its own owns the ——title。text paragraphs after it."""
    items: list[TextItem] = []
    for paragraph in paragraphs:
        item = ITEM.match(paragraph)
        principle = PRINCIPLE.match(paragraph)
        if item:
            title, rest = split_title(item.group(2))
            items.append(TextItem(number=cn_number(item.group(1)), title=title, text=rest))
        elif principle and items and not items[-1].text:
            title, rest = split_title(principle.group(1))
            parent = items[-1]
            child = TextItem(number=len(parent.children) + 1, title=title, text=rest)
            items[-1] = TextItem(number=parent.number, title=parent.title, text="", children=(*parent.children, child))
        else:
            raise ValueError(f"paragraph in {chapter} belongs to no item: {paragraph[:40]}")
    return tuple(items)


@dataclass(frozen=True)
class SectionData:
    kind: str
    number: int
    title: str
    title_en: str
    text: str


@dataclass(frozen=True)
class ProgrammeData:
    number: int
    title: str
    title_en: str
    heading: str


@dataclass(frozen=True)
class TaskData:
    number: int
    title: str
    title_en: str
    sentence: str
    deadline: datetime.date | None
    recurrence: str
    lead: str
    cooperating: tuple[str, ...]


@dataclass(frozen=True)
class MeasureData:
    number: int
    programme: int
    title: str
    title_en: str
    text: str
    lead: str
    cooperating: tuple[str, ...]
    tasks: tuple[TaskData, ...]


@dataclass(frozen=True)
class BodyData:
    code: str
    name: str
    name_en: str
    short_name: str
    kind: str


@dataclass(frozen=True)
class RegionData:
    code: str
    name: str
    name_en: str
    level: str
    parent: str | None
    division_year: int
    sort_order: int


@dataclass(frozen=True)
class PlanSource:
    directory: Path
    plan: dict[str, Any]
    sections: tuple[SectionData, ...]
    programmes: tuple[ProgrammeData, ...]
    measures: tuple[MeasureData, ...]
    bodies: tuple[BodyData, ...]
    regions: tuple[RegionData, ...]
    # plan.yaml's regions_root: the code of the plan's own province.
    regions_root: str | None = None
    # The raw indicator file, checked by the indicators app against this source.
    indicators: list[dict[str, Any]] = field(default_factory=list)
    indicators_file: str = ""

    def measure(self, number: int) -> MeasureData | None:
        return next((m for m in self.measures if m.number == number), None)

    @property
    def body_codes(self) -> set[str]:
        return {b.code for b in self.bodies}

    @property
    def region_codes(self) -> set[str]:
        return {r.code for r in self.regions}


class Problems:
    """Collects every problem of a fixture so that one run reports them all, each with file and item."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.messages.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def yaml_read(path: Path, problems: Problems) -> Any:
    try:
        stat = path.stat()
        return copy.deepcopy(yaml_parse(str(path.resolve()), stat.st_mtime_ns, stat.st_size))
    except FileNotFoundError:
        problems.add(path.name, "file not found")
    except yaml.YAMLError as error:
        problems.add(path.name, f"not valid YAML: {error}")
    return None


@functools.lru_cache(maxsize=32)
def yaml_parse(path: str, mtime_ns: int, size: int) -> Any:
    """Parse a YAML file once per version of it (path, modification time, size).

    Parsing the plan's files is most of a reload's time, and tests load the plan over and over in one
    process; callers get a deep copy, so the cached data cannot be changed through them.
    """
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SafeLoader)  # noqa: S506 (a safe loader, in C where available)


def required(data: dict[str, Any], key: str, where: str, problems: Problems, kind: type = str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        problems.add(where, f"“{key}” is missing")
        return kind()
    if not isinstance(value, kind):
        problems.add(where, f"“{key}” must be {kind.__name__}, not {type(value).__name__}")
        return kind()
    return value.strip() if isinstance(value, str) else value


def optional_date(data: dict[str, Any], key: str, where: str, problems: Problems) -> datetime.date | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    problems.add(where, f"“{key}” must be a date (YYYY-MM-DD), not {value!r}")
    return None


def duplicates(values: list[Any]) -> list[Any]:
    return sorted((value for value, count in Counter(values).items() if count > 1), key=str)


def mappings(data: Any, key: str, where: str, problems: Problems) -> list[dict[str, Any]]:
    """`data[key]` as a list of mappings; anything else is reported, not fed to the checks below."""
    value = data.get(key) if isinstance(data, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(where, f"“{key}” must be a list")
        return []
    for position, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            problems.add(where, f"{key} entry {position} must be a mapping (key: value), not {entry!r}")
    return [entry for entry in value if isinstance(entry, dict)]


def plan_source_read(*, directory: str | Path) -> PlanSource:
    """Read and check a plan directory; raise ValidationError listing every problem found."""
    directory = Path(directory)
    problems = Problems()
    plan_yaml = yaml_read(directory / "plan.yaml", problems)
    problems.raise_if_any()
    if not isinstance(plan_yaml, dict):
        raise ValidationError(["plan.yaml: must be a mapping"])
    files = plan_yaml.get("files") or {}
    for key in ("text", "bodies", "measures", "indicators"):
        if not files.get(key):
            problems.add("plan.yaml", f"files.{key} is missing")
    problems.raise_if_any()

    text_path = directory / files["text"]
    try:
        raw_text = text_path.read_bytes()
    except FileNotFoundError:
        raise ValidationError([f"{files['text']}: file not found"]) from None
    source = plan_yaml.get("source") or {}
    try:
        parsed = plan_text_parse(
            text=raw_text.decode("utf-8"),
            starts_after=source.get("starts_after", ""),
            ends_before=source.get("ends_before", ""),
            chapters=plan_yaml.get("chapters") or {},
        )
    except (ValueError, KeyError) as error:
        raise ValidationError([f"{files['text']}: {error}"]) from None

    plan = plan_fields_read(plan_yaml, raw_text, problems)
    plan["preamble"] = parsed.preamble
    sections = sections_read(plan_yaml, parsed, problems)
    programmes = programmes_read(plan_yaml, parsed, problems)
    bodies = bodies_read(directory, files["bodies"], problems)
    regions = regions_read(directory, files.get("regions"), plan_yaml.get("regions_root"), problems)
    measures = measures_read(directory, files["measures"], parsed, {b.code for b in bodies}, problems)
    expected = plan_yaml.get("expected") or {}
    for name, found in (("programmes", len(parsed.programmes)), ("measures", len(parsed.measures))):
        if name in expected and expected[name] != found:
            problems.add("plan.yaml", f"expected.{name} is {expected[name]}, but the text has {found}")
    indicators = mappings(
        yaml_read(directory / files["indicators"], problems), "indicators", files["indicators"], problems
    )
    problems.raise_if_any()
    return PlanSource(
        directory=directory,
        plan=plan,
        sections=sections,
        programmes=programmes,
        measures=measures,
        bodies=bodies,
        regions=regions,
        regions_root=str(plan_yaml["regions_root"]) if plan_yaml.get("regions_root") else None,
        indicators=indicators,
        indicators_file=files["indicators"],
    )


def plan_fields_read(data: dict[str, Any], raw_text: bytes, problems: Problems) -> dict[str, Any]:
    where = "plan.yaml"
    fields = {
        "code": required(data, "code", where, problems),
        "document_number": required(data, "document_number", where, problems),
        "title": required(data, "title", where, problems),
        "title_en": required(data, "title_en", where, problems),
        "issuing_bodies": required(data, "issuing_bodies", where, problems),
        "issued_on": optional_date(data, "issued_on", where, problems),
        "start_year": required(data, "start_year", where, problems, int),
        "end_year": required(data, "end_year", where, problems, int),
        "source_sha256": hashlib.sha256(raw_text).hexdigest(),
    }
    if fields["issued_on"] is None:
        problems.add(where, "“issued_on” is missing")
    if fields["title"] and fields["title"] != (data.get("source") or {}).get("starts_after"):
        problems.add(where, "“title” must equal source.starts_after, the title line that opens the plan's text")
    if fields["start_year"] and fields["end_year"] and fields["end_year"] < fields["start_year"]:
        problems.add(where, "“end_year” is before “start_year”")
    return fields


def sections_read(data: dict[str, Any], parsed: PlanText, problems: Problems) -> tuple[SectionData, ...]:
    """Match plan.yaml's `general` and `implementation` lists to the text's items, in order."""
    sections: list[SectionData] = []
    general = mappings(data, "general", "plan.yaml", problems)
    if len(general) != len(parsed.general):
        problems.add("plan.yaml", f"general lists {len(general)} items, the text's 总体要求 has {len(parsed.general)}")
    numbers: Counter[str] = Counter()
    for entry, item in zip(general, parsed.general, strict=False):
        where = f"plan.yaml: general “{entry.get('heading')}”"
        kind = entry.get("kind")
        if kind not in SECTION_KINDS:
            problems.add(where, f"kind “{kind}” is not one of {', '.join(SECTION_KINDS)}")
            continue
        if entry.get("heading") != item.title:
            problems.add(where, f"heading does not match the text's item “{item.title}”")
            continue
        if item.children:
            children = mappings(entry, "items", where, problems)
            if len(children) != len(item.children):
                problems.add(where, f"lists {len(children)} items, the text has {len(item.children)}")
            for child_entry, child in zip(children, item.children, strict=False):
                numbers[kind] += 1
                sections.append(
                    SectionData(
                        kind=kind,
                        number=numbers[kind],
                        title=child.title,
                        title_en=required(child_entry, "title_en", f"{where}, item {child.number}", problems),
                        text=child.text,
                    )
                )
        else:
            numbers[kind] += 1
            sections.append(
                SectionData(
                    kind=kind,
                    number=numbers[kind],
                    title=item.title,
                    title_en=required(entry, "title_en", where, problems),
                    text=item.text,
                )
            )
    implementation = mappings(data, "implementation", "plan.yaml", problems)
    if len(implementation) != len(parsed.implementation):
        problems.add(
            "plan.yaml",
            f"implementation lists {len(implementation)} items, the text's 组织实施 has {len(parsed.implementation)}",
        )
    for entry, item in zip(implementation, parsed.implementation, strict=False):
        where = f"plan.yaml: implementation “{entry.get('title')}”"
        if entry.get("title") != item.title:
            problems.add(where, f"title does not match the text's item “{item.title}”")
        sections.append(
            SectionData(
                kind="implementation",
                number=item.number,
                title=item.title,
                title_en=required(entry, "title_en", where, problems),
                text=item.text,
            )
        )
    for section in sections:
        if not section.text:
            problems.add(f"plan.yaml: {section.kind} {section.number}", "has no text in the source")
    return tuple(sections)


def programmes_read(data: dict[str, Any], parsed: PlanText, problems: Problems) -> tuple[ProgrammeData, ...]:
    entries = mappings(data, "programmes", "plan.yaml", problems)
    numbers = [entry.get("number") for entry in entries]
    for number in duplicates(numbers):
        problems.add("plan.yaml", f"programme {number} is listed twice")
    text_numbers = [item.number for item in parsed.programmes]
    for number in duplicates(text_numbers):
        problems.add("plan.yaml", f"the text numbers two programmes ({number})")
    if set(numbers) != set(text_numbers):
        problems.add("plan.yaml", f"programmes {sorted(set(numbers), key=str)} do not match the text's {text_numbers}")
    headings = {item.number: item.title for item in parsed.programmes}
    programmes = []
    for entry in entries:
        where = f"plan.yaml: programme {entry.get('number')}"
        number = entry.get("number")
        heading = headings.get(number, "") if isinstance(number, int) else ""
        title = required(entry, "title", where, problems)
        if heading and title and title not in heading:
            problems.add(where, f"title “{title}” does not occur in the text's heading “{heading}”")
        programmes.append(
            ProgrammeData(
                number=number if isinstance(number, int) else 0,
                title=title,
                title_en=required(entry, "title_en", where, problems),
                heading=heading,
            )
        )
    return tuple(programmes)


def bodies_read(directory: Path, name: str, problems: Problems) -> tuple[BodyData, ...]:
    entries = mappings(yaml_read(directory / name, problems), "bodies", name, problems)
    for code in duplicates([entry.get("code") for entry in entries]):
        problems.add(name, f"body code “{code}” is listed twice")
    for body_name in duplicates([entry.get("name") for entry in entries]):
        problems.add(name, f"body name “{body_name}” is listed twice")
    bodies = []
    for entry in entries:
        where = f"{name}: body “{entry.get('code')}”"
        kind = entry.get("kind")
        if kind not in BODY_KINDS:
            problems.add(where, f"kind “{kind}” is not one of {', '.join(BODY_KINDS)}")
        code = required(entry, "code", where, problems)
        if code and not re.fullmatch(r"[-a-z0-9_]+", code):
            problems.add(where, "code must be a slug (a-z, 0-9, - and _)")
        bodies.append(
            BodyData(
                code=code,
                name=required(entry, "name", where, problems),
                name_en=required(entry, "name_en", where, problems),
                short_name=(entry.get("short_name") or "").strip(),
                kind=kind or "",
            )
        )
    return tuple(bodies)


def regions_read(directory: Path, name: str | None, root: str | None, problems: Problems) -> tuple[RegionData, ...]:
    """A nested region list (code, name, name_en, level, children), flattened depth-first.

    sort_order follows the file: a province, then each city followed by its counties, so that any
    list of one level comes out in the order the file gives (the province's customary city order).
    """
    if not name:
        return ()
    label = Path(name).name
    data = yaml_read(directory / name, problems)
    if not isinstance(data, dict):
        problems.add(label, "must be a mapping with division_year and regions")
        return ()
    year = data.get("division_year")
    if not isinstance(year, int):
        problems.add(label, "division_year must be a year")
        year = 0
    regions: list[RegionData] = []
    child_level = {"province": "city", "city": "county"}

    def walk(entries: list[dict[str, Any]], parent: RegionData | None) -> None:
        for entry in entries:
            code = str(entry.get("code", ""))
            where = f"{label}: region {code or '?'}"
            level = entry.get("level")
            expected = child_level.get(parent.level) if parent else "province"
            if level != expected:
                problems.add(where, f"level “{level}” should be “{expected}” at this depth")
            if not re.fullmatch(r"\d{6}", code):
                problems.add(where, "code must be six digits (GB/T 2260)")
            elif parent and not code.startswith(parent.code[: 2 if parent.level == "province" else 4]):
                problems.add(where, f"code does not lie within its parent {parent.code}")
            region = RegionData(
                code=code,
                name=required(entry, "name", where, problems),
                name_en=required(entry, "name_en", where, problems),
                level=level or "",
                parent=parent.code if parent else None,
                division_year=year,
                sort_order=len(regions),
            )
            regions.append(region)
            walk(mappings(entry, "children", where, problems), region)

    walk(mappings(data, "regions", label, problems), None)
    for code in duplicates([region.code for region in regions]):
        problems.add(label, f"region code {code} is listed twice")
    levels = {region.code: region.level for region in regions}
    if root and root not in levels:
        problems.add("plan.yaml", f"regions_root {root} is not in {label}")
    elif root and levels[root] != "province":
        problems.add("plan.yaml", f"regions_root {root} must be a province (the plan's own), not a {levels[root]}")
    return tuple(regions)


def measures_read(
    directory: Path, name: str, parsed: PlanText, body_codes: set[str], problems: Problems
) -> tuple[MeasureData, ...]:
    entries = mappings(yaml_read(directory / name, problems), "measures", name, problems)
    text_numbers = [item.number for _, item in parsed.measures]
    for number in duplicates(text_numbers):
        problems.add("text", f"two measures are numbered {number}")
    if text_numbers != list(range(1, len(text_numbers) + 1)):
        problems.add("text", f"measures are not numbered 1–{len(text_numbers)} in order: {text_numbers}")
    numbers = [entry.get("number") for entry in entries]
    for number in duplicates(numbers):
        problems.add(name, f"measure {number} is listed twice")
    if set(numbers) != set(text_numbers):
        problems.add(
            name,
            f"lists {len(numbers)} measures ({', '.join(map(str, numbers))}); the text has {len(text_numbers)}",
        )
    in_text = {item.number: (programme, item) for programme, item in parsed.measures}

    def bodies_check(where: str, lead: str, cooperating: list[str]) -> None:
        for code in [lead, *cooperating]:
            if code and code not in body_codes:
                problems.add(where, f"unknown body code “{code}”")
        if lead in cooperating:
            problems.add(where, f"body “{lead}” is both lead and cooperating")
        for code in duplicates(cooperating):
            problems.add(where, f"cooperating body “{code}” is listed twice")

    measures = []
    for entry in entries:
        number = entry.get("number")
        where = f"{name}: measure {number}"
        if number not in in_text:
            continue
        programme, item = in_text[number]
        if entry.get("programme") not in (None, programme):
            problems.add(where, f"programme {entry.get('programme')} does not match the text's programme {programme}")
        title = required(entry, "title", where, problems)
        if title and title != item.title:
            problems.add(where, f"title “{title}” does not match the text's “{item.title}”")
        if not item.text.endswith("。"):
            problems.add(where, "the measure's text in the source does not end with 。 (a cut page break?)")
        lead = required(entry, "lead", where, problems)
        cooperating = list(entry.get("cooperating") or [])
        bodies_check(where, lead, cooperating)
        task_entries = mappings(entry, "tasks", where, problems)
        for task_number in duplicates([task.get("number") for task in task_entries]):
            problems.add(where, f"task {task_number} is listed twice")
        tasks = []
        for task in task_entries:
            task_where = f"{where}, task {task.get('number')}"
            if not isinstance(task.get("number"), int) or task["number"] < 1:
                problems.add(task_where, "number must be a positive whole number")
            sentence = required(task, "sentence", task_where, problems)
            if sentence and sentence not in item.text:
                problems.add(task_where, f"sentence is not in measure {number}'s text: “{sentence}”")
            recurrence = task.get("recurrence") or ""
            if recurrence not in RECURRENCES:
                problems.add(task_where, f"recurrence “{recurrence}” is not one of yearly, ongoing or empty")
            task_lead = task.get("lead") or lead
            task_cooperating = list(task.get("cooperating") or [])
            bodies_check(task_where, task_lead, task_cooperating)
            tasks.append(
                TaskData(
                    number=task.get("number") or 0,
                    title=required(task, "title", task_where, problems),
                    title_en=required(task, "title_en", task_where, problems),
                    sentence=sentence,
                    deadline=optional_date(task, "deadline", task_where, problems),
                    recurrence=recurrence,
                    lead=task_lead,
                    cooperating=tuple(task_cooperating),
                )
            )
        measures.append(
            MeasureData(
                number=number,
                programme=programme,
                title=item.title,
                title_en=required(entry, "title_en", where, problems),
                text=item.text,
                lead=lead,
                cooperating=tuple(cooperating),
                tasks=tuple(tasks),
            )
        )
    return tuple(sorted(measures, key=lambda m: m.number))
