"""Bad input through the API: each row with its status, the field named in `errors`, its message, and the
stored submission unchanged. Also the HTTP-level failures (malformed JSON, wrong content type) and the
language of the messages."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from reporting.models import DataValue, Evidence, Period, Submission
from tests.reporting.conftest import first_of_kind
from tests.reporting.test_api_support import API, PDF, if_match, pdf, snapshot, url

# The value as JSON text, so that what no Python literal can say (1e309, a 30-digit integer) is sent as is.
NUMBER_ROWS = [
    ("text", '"abc"', "“abc”不是有效的数字。"),
    ("boolean", "true", "应为数字，收到的是布尔值。"),
    ("object", "{}", "应为数字。"),
    ("negative count", "-5", "数值不能为负数。"),
    ("NaN", '"NaN"', "不能为 NaN（非数字）。"),
    ("Infinity", '"Infinity"', "不能为无穷大。"),
    ("1e309", "1e309", "不能为无穷大。"),
    ("30 digits", "123456789012345678901234567890", "数值过大：绝对值须小于 10 的 15 次方。"),
    ("30 digits as text", '"123456789012345678901234567890"', "数值过大：绝对值须小于 10 的 15 次方。"),
    ("five decimals", '"1.23456"', "最多保留 4 位小数。"),
]


def _put_raw(client, submission, body: str, **headers):
    return client.generic(
        "PUT", url(submission, "values/"), body, content_type="application/json", **if_match(submission), **headers
    )


@pytest.mark.parametrize(("case", "raw", "message"), NUMBER_ROWS, ids=[row[0] for row in NUMBER_ROWS])
def test_a_bad_number_is_refused_naming_the_field_and_nothing_is_written(
    filled, nanjing_reporter, client_for, case, raw, message
):
    stock = first_of_kind(filled, "stock")
    flow = first_of_kind(filled, "flow")
    before = snapshot(filled)
    # A good value beside the bad one: all or nothing, so it must not be written either.
    body = (
        f'{{"values": [{{"indicator": "{flow.code}", "value": "7"}}, {{"indicator": "{stock.code}", "value": {raw}}}]}}'
    )

    response = _put_raw(client_for(nanjing_reporter), filled, body)

    assert response.status_code == 400
    assert response.json() == {
        "message": "提交的数据有误，请按字段修改后重试。",
        "errors": {f"values.{stock.code}.value": [message]},
    }
    assert snapshot(filled) == before


@pytest.mark.parametrize(
    ("raw", "stored"),
    [('"１２"', Decimal(12)), ('"-0"', Decimal(0)), ("-0", Decimal(0)), ('"1,234.5"', Decimal("1234.5"))],
    ids=["full-width digits", "-0 as text", "-0 as number", "thousands separator"],
)
def test_numbers_are_normalised_deliberately(filled, nanjing_reporter, client_for, raw, stored):
    stock = first_of_kind(filled, "stock")
    body = f'{{"values": [{{"indicator": "{stock.code}", "value": {raw}}}]}}'

    response = _put_raw(client_for(nanjing_reporter), filled, body)

    assert response.status_code == 200
    value = DataValue.objects.get(submission=filled, indicator=stock).value
    assert value == stored
    assert not value.is_signed()


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        (
            {"numerator": "120", "denominator": "100"},
            "numerator",
            "占比指标的分子不能大于分母（占比须在 0–100% 之间）。",
        ),
        ({"numerator": "10", "denominator": "0"}, "denominator", "分母必须大于 0。"),
        ({"numerator": "-1", "denominator": "10"}, "numerator", "分子不能为负数。"),
        ({"value": "40"}, "value", "比率指标请分别填写分子和分母。"),
        ({"numerator": "1", "denominator": "2", "extra": 1}, "extra", "未知字段。"),
    ],
    ids=["numerator above denominator", "denominator 0", "negative numerator", "value for a share", "unknown field"],
)
def test_a_bad_share_is_refused_naming_the_field(filled, nanjing_reporter, client_for, item, field, message):
    share = first_of_kind(filled, "share")
    before = snapshot(filled)

    response = client_for(nanjing_reporter).put(
        url(filled, "values/"), {"values": [{"indicator": share.code, **item}]}, format="json", **if_match(filled)
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {f"values.{share.code}.{field}": [message]}
    assert snapshot(filled) == before


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (
            [{"indicator": "no-such-indicator", "value": "1"}],
            {"values.no-such-indicator": ["未知的指标代码“no-such-indicator”。"]},
        ),
        ([{"value": "1"}], {"values[0].indicator": ["缺少指标代码。"]}),
        (["1"], {"values[0]": ["每一项应为对象。"]}),
        ("1", {"values": ["期望为一个包含物件的列表，得到的类型是“str”。"]}),
    ],
    ids=["unknown indicator", "no indicator", "item not an object", "not a list"],
)
def test_a_malformed_values_list_is_refused_naming_the_item(filled, nanjing_reporter, client_for, values, errors):
    before = snapshot(filled)

    response = client_for(nanjing_reporter).put(
        url(filled, "values/"), {"values": values}, format="json", **if_match(filled)
    )

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert snapshot(filled) == before


def _closed_period(filled, **_):
    Period.objects.filter(pk=filled.period_id).update(status=Period.Status.CLOSED)


def _submitted(filled, **_):
    Submission.objects.filter(pk=filled.pk).update(status=Submission.Status.SUBMITTED)


def _values(filled, clients, **headers):
    stock = first_of_kind(filled, "stock")
    return clients["reporter"].put(
        url(filled, "values/"), {"values": [{"indicator": stock.code, "value": "1"}]}, format="json", **headers
    )


# (case, set-up, request, status, error fields)
REQUEST_ROWS = [
    ("closed period", _closed_period, lambda f, c: _values(f, c, **if_match(f)), 409, ["period"]),
    (
        "another city",
        None,
        lambda f, c: c["suzhou"].put(url(f, "values/"), {"values": []}, format="json", **if_match(f)),
        404,
        [],
    ),
    ("duplicate submit", _submitted, lambda f, c: c["reporter"].post(url(f, "submit/")), 409, ["status"]),
    ("stale edit (If-Match)", None, lambda f, c: _values(f, c, HTTP_IF_MATCH='"1"'), 412, ["version"]),
    (
        "stale edit (version field)",
        None,
        lambda f, c: c["reporter"].put(url(f, "values/"), {"values": [], "version": 1}, format="json"),
        412,
        ["version"],
    ),
    ("missing precondition", None, _values, 428, ["version"]),
    ("malformed If-Match", None, lambda f, c: _values(f, c, HTTP_IF_MATCH="yesterday"), 400, ["If-Match"]),
    (
        "If-Match and version disagree",
        None,
        lambda f, c: c["reporter"].put(
            url(f, "values/"), {"values": [], "version": 1}, format="json", HTTP_IF_MATCH='"2"'
        ),
        400,
        ["version"],
    ),
    (
        "oversized evidence",
        None,
        lambda f, c: c["reporter"].post(
            url(f, "evidence/"), {"file": pdf(content=PDF + b"0" * 2048)}, format="multipart"
        ),
        413,
        ["file"],
    ),
    (
        "wrong-type evidence (.exe renamed .pdf)",
        None,
        lambda f, c: c["reporter"].post(
            url(f, "evidence/"),
            {"file": SimpleUploadedFile("报告.pdf", b"MZ\x90\x00" + b"\x00" * 64)},
            format="multipart",
        ),
        400,
        ["file"],
    ),
    (
        "evidence of a type not allowed",
        None,
        lambda f, c: c["reporter"].post(
            url(f, "evidence/"), {"file": SimpleUploadedFile("run.exe", b"MZ" * 8)}, format="multipart"
        ),
        400,
        ["file"],
    ),
    (
        "evidence without a file",
        None,
        lambda f, c: c["reporter"].post(url(f, "evidence/"), {"description": "x"}, format="multipart"),
        400,
        ["file"],
    ),
    (
        "evidence for an unknown measure",
        None,
        lambda f, c: c["reporter"].post(url(f, "evidence/"), {"file": pdf(), "measure": 99}, format="multipart"),
        400,
        ["measure"],
    ),
]


@override_settings(EVIDENCE_MAX_BYTES=1024)
@pytest.mark.parametrize(
    ("case", "setup", "call", "status", "fields"), REQUEST_ROWS, ids=[row[0] for row in REQUEST_ROWS]
)
def test_a_refused_request_answers_its_status_and_writes_nothing(
    filled, nanjing_reporter, suzhou_reporter, client_for, case, setup, call, status, fields
):
    if setup is not None:
        setup(filled)
    before = snapshot(filled)
    evidence_files = Evidence.objects.count()

    response = call(filled, {"reporter": client_for(nanjing_reporter), "suzhou": client_for(suzhou_reporter)})

    assert response.status_code == status
    assert set(response.json()) == {"message", "errors"}
    assert sorted(response.json()["errors"]) == fields
    assert snapshot(filled) == before
    assert Evidence.objects.count() == evidence_files


def test_malformed_json_is_a_json_400(filled, nanjing_reporter, client_for):
    before = snapshot(filled)
    response = _put_raw(client_for(nanjing_reporter), filled, '{"values": [')
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "请求体不是有效的 JSON。",
        "errors": {"body": ["第 1 行第 13 列附近有语法错误。"]},
    }
    assert snapshot(filled) == before


def test_a_bare_nan_literal_is_not_json(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    response = _put_raw(
        client_for(nanjing_reporter), filled, f'{{"values": [{{"indicator": "{stock.code}", "value": NaN}}]}}'
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "请求体不是有效的 JSON。",
        "errors": {"body": ["不接受 NaN：JSON 中没有这种数值。"]},
    }


def test_a_wrong_content_type_is_a_json_415(filled, nanjing_reporter, client_for):
    before = snapshot(filled)
    response = client_for(nanjing_reporter).generic(
        "PUT", url(filled, "values/"), "values=1", content_type="text/plain", **if_match(filled)
    )
    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "不支持请求中的媒体类型 “text/plain”。", "errors": {}}
    evidence = client_for(nanjing_reporter).post(url(filled, "evidence/"), {"file": "x"}, format="json")
    assert evidence.status_code == 415
    assert snapshot(filled) == before


def test_errors_have_the_same_shape_and_fields_in_english(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    share = first_of_kind(filled, "share")
    body = json.dumps(
        {
            "values": [
                {"indicator": stock.code, "value": "abc"},
                {"indicator": share.code, "numerator": "5", "denominator": "0"},
                {"indicator": "no-such-indicator", "value": "1"},
            ]
        }
    )
    client = client_for(nanjing_reporter)

    chinese = _put_raw(client, filled, body)
    english = _put_raw(client, filled, body, HTTP_ACCEPT_LANGUAGE="en")

    assert chinese.status_code == english.status_code == 400
    assert chinese["Content-Language"] == "zh-hans"
    assert english["Content-Language"] == "en"
    assert set(chinese.json()) == set(english.json()) == {"message", "errors"}
    assert sorted(chinese.json()["errors"]) == sorted(english.json()["errors"])
    assert (
        english.json()["message"] == "The submitted data contain errors; please correct the fields named and try again."
    )
    stale_zh = client.put(url(filled, "values/"), {"values": []}, format="json", HTTP_IF_MATCH='"1"')
    stale_en = client.put(
        url(filled, "values/"), {"values": []}, format="json", HTTP_IF_MATCH='"1"', HTTP_ACCEPT_LANGUAGE="en"
    )
    assert stale_zh.status_code == stale_en.status_code == 412
    assert list(stale_zh.json()["errors"]) == list(stale_en.json()["errors"]) == ["version"]


def test_a_precondition_is_needed_for_narratives_too(filled, nanjing_reporter, client_for):
    before = snapshot(filled)
    response = client_for(nanjing_reporter).put(
        url(filled, "narratives/"), {"narratives": [{"measure": 1, "progress": "x"}]}, format="json"
    )
    assert response.status_code == 428
    assert response.json() == {
        "message": "请在 If-Match 请求头或 version 字段中提供读取时的版本号，以免覆盖他人的修改。",
        "errors": {"version": ["缺少版本号（If-Match 或 version）。"]},
    }
    assert snapshot(filled) == before


def test_if_match_star_says_any_version_explicitly(filled, nanjing_reporter, client_for):
    stock = first_of_kind(filled, "stock")
    response = client_for(nanjing_reporter).put(
        url(filled, "values/"), {"values": [{"indicator": stock.code, "value": "5"}]}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert DataValue.objects.get(submission=filled, indicator=stock).value == 5


def test_a_bad_submission_id_is_not_found(nanjing_reporter, client_for, plan):
    response = client_for(nanjing_reporter).get(f"{API}/submissions/not-a-uuid/")
    assert response.status_code == 404
    assert set(response.json()) == {"message", "errors"}
