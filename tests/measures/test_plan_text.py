"""The plan text parser: page-break repair, normalisation, and the split into the plan's parts."""

from pathlib import Path

import pytest

from measures.plan_source import cn_number, page_breaks_join, paragraphs_split, plan_text_parse

JIANGSU_TEXT = Path("fixtures/plans/js-2018-28/jiangsu-industrial-workforce-reform-plan-2018.txt")
JIANGSU_CHAPTERS = {"general": "一、总体要求", "measures": "二、主要举措", "implementation": "三、组织实施"}


def jiangsu():
    return plan_text_parse(
        text=JIANGSU_TEXT.read_text(encoding="utf-8"),
        starts_after="新时代江苏产业工人队伍建设改革实施方案",
        ends_before="中共江苏省委办公厅",
        chapters=JIANGSU_CHAPTERS,
    )


def test_fixture_text_is_a_verbatim_copy_of_the_shared_source():
    shared = Path("/work/shared/source/jiangsu-industrial-workforce-reform-plan-2018.txt")
    if not shared.exists():
        pytest.skip("the shared source is not on this machine (the fixture copy is what the portal uses)")
    assert JIANGSU_TEXT.read_bytes() == shared.read_bytes()


@pytest.mark.parametrize(
    ("number", "before", "after"),
    [
        (2, "实施劳模支部", "“双创双提升”行动"),
        (5, "到企业实", "践力度"),
        (7, "深化群众性技术创新活动，", "每年认定省职工十大科技创新成果"),
        (8, "开展省十大", "重点工程劳动竞赛"),
        (10, "建立职业资格（技能等级）", "与职称、学历比照认定制度"),
        (13, "提高人力资", "源配置效率"),
        (16, "加大劳动执法检查力度，支", "持工会组织发挥监督作用"),
        (18, "鼓励企业加", "大职工教育投入"),
        (21, "纳入全省经济", "社会发展规划"),
        (22, "资源共", "享的互联网普惠服务载体建设"),
    ],
)
def test_every_known_page_break_is_rejoined(number, before, after):
    raw = JIANGSU_TEXT.read_text(encoding="utf-8")
    assert f"{before}\n\n{after}" in raw  # the cut is really in the source

    measure = {m.number: m for _, m in jiangsu().measures}[number]

    assert before + after in measure.text


def test_measure_texts_are_whole_paragraphs():
    measures = [m for _, m in jiangsu().measures]

    assert [m.number for m in measures] == list(range(1, 24))
    for measure in measures:
        assert "\n" not in measure.text
        assert " " not in measure.text
        assert measure.text.endswith("。")


def test_spaces_the_pdf_put_around_digits_are_removed():
    measure5 = {m.number: m for _, m in jiangsu().measures}[5]

    assert "创建50所左右一流中等职业学校，20所左右高水平高等职业院校，建设10所" in measure5.text


def test_half_width_item_numbers_are_normalised():
    implementation = jiangsu().implementation

    assert [(i.number, i.title) for i in implementation] == [
        (1, "构建推进改革新格局"),
        (2, "加强分类指导"),
        (3, "强化督促检查"),
        (4, "加大宣传力度"),
    ]
    assert implementation[1].text.startswith("研究制定推进改革的实施细则")


def test_general_requirements_with_the_four_principles():
    general = jiangsu().general

    assert [(g.number, g.title) for g in general] == [(1, "指导思想"), (2, "基本原则"), (3, "目标任务")]
    assert [c.title for c in general[1].children] == [
        "坚持党的领导，把握正确方向",
        "坚持服务大局，发挥支撑作用",
        "坚持以人为本，强化激励保障",
        "坚持问题导向，勇于改革创新",
    ]
    assert general[1].children[3].text.endswith("确保责任到位、措施到位、落实到位。")
    assert general[0].text.startswith("以习近平新时代中国特色社会主义思想为指导")


def test_preamble_is_the_paragraph_before_the_first_chapter():
    assert jiangsu().preamble == (
        "为贯彻落实中共中央、国务院《新时期产业工人队伍建设改革方案》（中发〔2017〕14号），"
        "扎实推进江苏产业工人队伍建设改革工作，结合我省实际，制定如下实施方案。"
    )


def test_a_heading_never_swallows_the_paragraph_after_it():
    paragraphs = ["二、主要举措", "为此，采取以下举措。", "（一）实施某工程", "1. 某举措。正文。"]

    assert page_breaks_join(paragraphs) == paragraphs


def test_a_cut_sentence_is_joined_and_a_finished_one_is_not():
    assert page_breaks_join(["1. 举措。前半句", "后半句。", "下一段。"]) == ["1. 举措。前半句后半句。", "下一段。"]


def test_paragraph_lines_are_joined_and_normalised():
    assert paragraphs_split("(二) 加强 分类指导。\n正文 20 所。\n\n\n下一段") == [
        "（二）加强分类指导。正文20所。",
        "下一段",
    ]


@pytest.mark.parametrize(("text", "number"), [("一", 1), ("九", 9), ("十", 10), ("十二", 12), ("二十三", 23)])
def test_chinese_numerals(text, number):
    assert cn_number(text) == number


def test_an_unknown_chapter_is_reported():
    with pytest.raises(ValueError, match=r"chapter “四、附则” is not one of plan\.yaml's chapters"):
        plan_text_parse(
            text=JIANGSU_TEXT.read_text(encoding="utf-8").replace("三、组织实施", "四、附则"),
            starts_after="新时代江苏产业工人队伍建设改革实施方案",
            ends_before="中共江苏省委办公厅",
            chapters=JIANGSU_CHAPTERS,
        )
