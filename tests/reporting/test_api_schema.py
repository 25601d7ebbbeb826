"""The OpenAPI schema documents every reporting and login endpoint: a bilingual summary, its request, and
its error responses in the API's one error shape."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

CHINESE = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
PREFIXES = ("/api/v1/periods", "/api/v1/due", "/api/v1/submissions", "/api/v1/auth")


@pytest.fixture(scope="module")
def operations(django_db_blocker):
    with django_db_blocker.unblock():
        paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return {
        (method.upper(), path): operation
        for path, item in paths.items()
        if path.startswith(PREFIXES)
        for method, operation in item.items()
    }


def test_every_operation_has_a_bilingual_summary_and_errors_in_the_error_shape(operations):
    assert len(operations) == 23
    for key, operation in operations.items():
        assert CHINESE.search(operation["summary"]), key
        assert LATIN_WORD.search(operation["summary"]), key
        errors = {code: r for code, r in operation["responses"].items() if int(code) >= 400}
        assert "401" in errors or key == ("POST", "/api/v1/auth/token/"), key
        for code, response in errors.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (key, code)


def test_writes_document_their_conflicts_and_preconditions(operations):
    def codes(method, path):
        return set(operations[(method, path)]["responses"])

    values = "/api/v1/submissions/{id}/values/"
    assert {"200", "400", "401", "403", "404", "409", "412", "428", "422"} <= codes("PUT", values)
    assert {"201", "200", "400", "403", "409"} <= codes("POST", "/api/v1/submissions/")
    assert {"201", "413", "412"} <= codes("POST", "/api/v1/submissions/{id}/evidence/")
    assert {"201", "200", "400", "403", "404", "409", "412", "422", "428"} <= codes(
        "POST", "/api/v1/submissions/report/"
    )
    assert {"409", "412", "403", "404"} <= codes("POST", "/api/v1/submissions/{id}/submit/")
    assert {"429", "400"} <= codes("POST", "/api/v1/auth/token/")
    headers = {p["name"] for p in operations[("PUT", values)]["parameters"] if p["in"] == "header"}
    assert headers == {"If-Match", "Idempotency-Key"}
    body = operations[("PUT", values)]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ValuesPutRequest"}
    upload = operations[("POST", "/api/v1/submissions/{id}/evidence/")]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]


# found by schemathesis: downloads were documented as application/octet-stream, a type never served


@pytest.fixture(scope="module")
def paths(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)["paths"]


def test_evidence_download_documents_each_type_an_upload_may_have(paths):
    content = paths["/api/v1/submissions/{id}/evidence/{evidence_id}/"]["get"]["responses"]["200"]["content"]

    assert sorted(content) == [
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "image/jpeg",
        "image/png",
    ]
    assert {media["schema"]["format"] for media in content.values()} == {"binary"}


def test_export_download_documents_each_format_and_create_its_404_for_an_unknown_snapshot(paths):
    content = paths["/api/v1/exports/{id}/file/"]["get"]["responses"]["200"]["content"]
    create = paths["/api/v1/exports/"]["post"]["responses"]

    assert sorted(content) == [
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/zip",
        "text/csv",
    ]
    assert create["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
