"""Hostile uploads that tests/reporting/test_xlsx.py and test_api_inputs.py do not already try: each is
refused with a Chinese message naming the problem, and nothing is written. Also: the 2 MB limit on request
bodies does not apply to file uploads, which keep their own limits."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reporting.models import Evidence
from reporting.services.xlsx import submission_template_build, submission_xlsx_import
from tests.reporting.test_api_support import PDF, snapshot, url

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


def _rezip(template: bytes, *, add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            archive.writestr(item.filename, (replace or {}).get(item.filename, source.read(item)))
        for name, content in (add or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _docx(*, add: dict[str, bytes] | None = None, types: bytes = b"<Types/>") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/document.xml", b"<w:document/>")
        for name, content in (add or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def _import(filled, user, content: bytes) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        submission_xlsx_import(submission=filled, user=user, file=io.BytesIO(content))
    return caught.value.message_dict


def _xlsx_cases(template: bytes) -> list[tuple[str, bytes, dict[str, list[str]]]]:
    macro_types = (
        zipfile.ZipFile(io.BytesIO(template))
        .read("[Content_Types].xml")
        .replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        )
    )
    return [
        ("a PNG renamed .xlsx", PNG, {"file": ["不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。"]}),
        ("an EXE renamed .xlsx", EXE, {"file": ["不是有效的 .xlsx 文件，请上传从本系统下载的填报模板。"]}),
        (
            "a zip bomb: 60 MB of zeros packed into a few dozen KB",
            _rezip(template, add={"xl/media/image1.png": b"\x00" * (60 * 1024 * 1024)}),
            {"file": ["压缩内容过大，疑似压缩炸弹，已拒绝。"]},
        ),
        (
            "an .xlsm renamed .xlsx (macro-enabled content type, no vbaProject.bin)",
            _rezip(template, replace={"[Content_Types].xml": macro_types}),
            {"file": ["不接受含宏的文件。"]},
        ),
        (
            "ActiveX controls",
            _rezip(template, add={"xl/activeX/activeX1.xml": b"<ax:ocx/>"}),
            {"file": ["不接受含宏的文件。"]},
        ),
        (
            "billion laughs in the shared strings",
            _rezip(
                template,
                add={
                    "xl/sharedStrings.xml": (
                        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
                        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&c;</t></si></sst>'
                    )
                },
            ),
            {"file": ["无法读取该文件：文件已损坏或不是本系统的填报模板。"]},
        ),
    ]


def test_hostile_xlsx_files_are_refused_by_name_and_write_nothing(filled, nanjing_reporter):
    template = submission_template_build(submission=filled)
    cases = _xlsx_cases(template)
    for name, content, errors in cases:
        before = snapshot(filled)
        assert _import(filled, nanjing_reporter, content) == errors, name
        assert snapshot(filled) == before, name
    assert len(cases) == 6


def test_a_hostile_xlsx_through_the_page_is_a_400_naming_the_problem(client, filled, nanjing_reporter):
    """The page, not only the service: a 3 MB file is over the 2 MB body limit but is an upload, so it
    reaches the XLSX checks; a file over the XLSX limit is refused by that limit."""
    client.force_login(nanjing_reporter)
    before = snapshot(filled)
    for content, message in [
        (b"PK\x03\x04" + b"\x00" * (3 * 1024 * 1024), "文件已损坏或不是有效的 .xlsx 文件。"),
        (b"PK\x03\x04" + b"\x00" * (6 * 1024 * 1024), "文件超过大小上限 5 MB。"),
    ]:
        response = client.post(
            reverse("reporting:upload", kwargs={"public_id": filled.public_id}),
            {"version": filled.version, "file": SimpleUploadedFile("填报模板.xlsx", content, content_type=XLSX)},
        )
        assert response.status_code == 400
        assert response.context["xlsx_errors"] == [("file", message)]
        assert snapshot(filled) == before


MACRO = "不接受含宏的文件。"
EVIDENCE_CASES = [
    ("a PNG named .pdf", "台账.pdf", PNG, 400, "文件内容与扩展名 .pdf 不符。"),
    ("a PDF named .png", "照片.png", PDF, 400, "文件内容与扩展名 .png 不符。"),
    ("an EXE named .jpg", "照片.jpg", EXE, 400, "文件内容与扩展名 .jpg 不符。"),
    ("an empty file", "台账.pdf", b"", 400, "提交的是空文件。"),
    ("a .docm renamed .docx", "总结.docx", _docx(types=b"<Types>macroEnabled</Types>"), 400, MACRO),
    (
        "a .docx with vbaProject.bin",
        "总结.docx",
        _docx(add={"word/vbaProject.bin": b"\x00" * 16}),
        400,
        "不接受含宏的文件。",
    ),
    (
        "an .xlsx named .docx",
        "总结.docx",
        _zip({"xl/workbook.xml": b"<workbook/>"}),
        400,
        "文件内容与扩展名 .docx 不符。",
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "content", "status", "message"), EVIDENCE_CASES, ids=[c[0] for c in EVIDENCE_CASES]
)
def test_hostile_evidence_is_refused_and_nothing_is_stored(
    filled, nanjing_reporter, client_for, case, name, content, status, message
):
    before = snapshot(filled)
    rows = Evidence.objects.count()

    response = client_for(nanjing_reporter).post(
        url(filled, "evidence/"),
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == status
    if message is not None:
        assert response.json()["errors"] == {"file": [message]}
    assert snapshot(filled) == before
    assert Evidence.objects.count() == rows


def test_a_docx_zip_bomb_is_refused(filled, nanjing_reporter, client_for, settings):
    settings.EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
    bomb = _docx(add={"word/media/image1.png": b"\x00" * (210 * 1024 * 1024)})
    before = snapshot(filled)

    response = client_for(nanjing_reporter).post(
        url(filled, "evidence/"), {"file": SimpleUploadedFile("总结.docx", bomb)}, format="multipart"
    )

    assert len(bomb) < 1024 * 1024
    assert response.status_code == 400
    assert response.json()["errors"] == {"file": ["压缩内容过大，疑似压缩炸弹，已拒绝。"]}
    assert snapshot(filled) == before


def test_a_3_mb_evidence_file_is_not_held_to_the_2_mb_body_limit(filled, nanjing_reporter, client_for):
    content = PDF + b"%" * (3 * 1024 * 1024)

    response = client_for(nanjing_reporter).post(
        url(filled, "evidence/"), {"file": SimpleUploadedFile("台账.pdf", content)}, format="multipart"
    )

    assert response.status_code == 201
    assert response.json()["size"] == len(content)


def test_a_multipart_body_declared_over_the_file_limit_is_refused_before_it_is_read(
    filled, nanjing_reporter, client_for, settings
):
    settings.EVIDENCE_MAX_BYTES = 1024 * 1024
    before = snapshot(filled)

    response = client_for(nanjing_reporter).post(
        url(filled, "evidence/"),
        {"file": SimpleUploadedFile("台账.pdf", PDF + b"%" * (4 * 1024 * 1024))},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 413
    assert response.json() == {"message": "请求体过大，上限为 3 MB。", "errors": {"body": ["超过 3 MB。"]}}
    assert snapshot(filled) == before
