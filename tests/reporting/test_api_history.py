"""The history of a submission through the API: every change of a value, a narrative, an evidence file and
the state, with who, when, what (field: old → new) and why."""

from reporting.services.submissions import submission_values_put
from tests.reporting.conftest import first_of_kind, full_values
from tests.reporting.test_api_support import if_match, pdf, url


def _history(client, submission):
    response = client.get(url(submission, "history/"))
    assert response.status_code == 200
    return response.json()


def _strip(entries):
    return [(e["user"], e["kind"], e["subject"], e["action"], e["changes"], e["reason"]) for e in entries]


def test_value_narrative_evidence_and_return_each_leave_an_entry(
    draft, nanjing_reporter, nanjing_reviewer, auditor, client_for
):
    reporter = client_for(nanjing_reporter)
    stock = first_of_kind(draft, "stock")
    share = first_of_kind(draft, "share")
    reporter.put(
        url(draft, "values/"),
        {
            "values": [
                {"indicator": stock.code, "value": "100"},
                {"indicator": share.code, "numerator": "1", "denominator": "4"},
            ]
        },
        format="json",
        **if_match(draft),
    )
    reporter.put(
        url(draft, "values/"),
        {"values": [{"indicator": stock.code, "value": "120.5", "comment": "新口径"}]},
        format="json",
        **if_match(draft),
    )
    reporter.put(
        url(draft, "narratives/"),
        {"narratives": [{"measure": 2, "progress": "开展宣讲 12 场。"}]},
        format="json",
        **if_match(draft),
    )
    reporter.put(
        url(draft, "narratives/"),
        {"narratives": [{"measure": 2, "progress": "开展宣讲 14 场。"}]},
        format="json",
        **if_match(draft),
    )
    evidence_id = reporter.post(url(draft, "evidence/"), {"file": pdf("宣讲.pdf")}, format="multipart").json()["id"]
    reporter.delete(url(draft, f"evidence/{evidence_id}/"), {"reason": "与举措无关"}, format="json")
    rest = [v for v in full_values(draft) if v["indicator"] not in (stock.code, share.code)]
    submission_values_put(submission=draft, user=nanjing_reporter, values=rest)
    reporter.post(url(draft, "submit/"))
    client_for(nanjing_reviewer).post(url(draft, "return/"), {"reason": "第 2 项举措请补充数据来源。"}, format="json")

    entries = _history(client_for(auditor), draft)
    kept = [e for e in _strip(entries) if not (e[1] == "value" and e[2] not in (stock.code, share.code))]

    assert kept == [
        ("nj-reporter", "state", "", "create", [{"field": "status", "old": None, "new": "draft"}], ""),
        ("nj-reporter", "value", stock.code, "created", [{"field": "value", "old": None, "new": "100"}], ""),
        (
            "nj-reporter",
            "value",
            share.code,
            "created",
            [{"field": "numerator", "old": None, "new": "1"}, {"field": "denominator", "old": None, "new": "4"}],
            "",
        ),
        (
            "nj-reporter",
            "value",
            stock.code,
            "changed",
            [{"field": "value", "old": "100", "new": "120.5"}, {"field": "comment", "old": "", "new": "新口径"}],
            "",
        ),
        (
            "nj-reporter",
            "narrative",
            "2",
            "created",
            [{"field": "progress", "old": None, "new": "开展宣讲 12 场。"}],
            "",
        ),
        (
            "nj-reporter",
            "narrative",
            "2",
            "changed",
            [{"field": "progress", "old": "开展宣讲 12 场。", "new": "开展宣讲 14 场。"}],
            "",
        ),
        (
            "nj-reporter",
            "evidence",
            "宣讲.pdf",
            "created",
            [
                {"field": "original_name", "old": None, "new": "宣讲.pdf"},
                {"field": "size", "old": None, "new": entries_size(entries)},
                {"field": "sha256", "old": None, "new": entries_sha(entries)},
            ],
            "",
        ),
        (
            "nj-reporter",
            "evidence",
            "宣讲.pdf",
            "removed",
            [
                {"field": "removed_at", "old": None, "new": entries_removed_at(entries)},
                {"field": "removal_reason", "old": "", "new": "与举措无关"},
            ],
            "与举措无关",
        ),
        ("nj-reporter", "state", "", "submit", [{"field": "status", "old": "draft", "new": "submitted"}], ""),
        (
            "nj-reviewer",
            "state",
            "",
            "return",
            [{"field": "status", "old": "submitted", "new": "returned"}],
            "第 2 项举措请补充数据来源。",
        ),
    ]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def entries_size(entries):
    return next(c["new"] for e in entries if e["kind"] == "evidence" for c in e["changes"] if c["field"] == "size")


def entries_sha(entries):
    return next(c["new"] for e in entries if e["kind"] == "evidence" for c in e["changes"] if c["field"] == "sha256")


def entries_removed_at(entries):
    return next(c["new"] for e in entries for c in e["changes"] if c["field"] == "removed_at")


def test_a_returned_report_edited_again_shows_it_became_a_draft(filled, nanjing_reporter, nanjing_reviewer, client_for):
    reporter = client_for(nanjing_reporter)
    reporter.post(url(filled, "submit/"))
    client_for(nanjing_reviewer).post(url(filled, "return/"), {"reason": "请核实"}, format="json")
    stock = first_of_kind(filled, "stock")
    reporter.put(
        url(filled, "values/"), {"values": [{"indicator": stock.code, "value": "1"}]}, format="json", **if_match(filled)
    )

    last = _history(reporter, filled)[-2:]

    assert [(e["kind"], e["action"], e["changes"]) for e in last] == [
        ("value", "changed", [{"field": "value", "old": "1000", "new": "1"}]),
        ("submission", "changed", [{"field": "status", "old": "returned", "new": "draft"}]),
    ]


def test_history_is_for_readers_only(filled, coordinator, nanjing_reviewer, suzhou_reporter, admin_user, client_for):
    assert client_for(coordinator).get(url(filled, "history/")).status_code == 200
    assert client_for(nanjing_reviewer).get(url(filled, "history/")).status_code == 200
    assert client_for(suzhou_reporter).get(url(filled, "history/")).status_code == 404
    assert client_for(admin_user).get(url(filled, "history/")).status_code == 404
