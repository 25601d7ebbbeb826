"""The OpenAPI schema at /api/v1/schema/ and its docs UI at /api/v1/docs/, served without any outside host."""

import re

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = ["plans", "programmes", "measures", "tasks", "indicators", "targets", "bodies", "regions"]
CHINESE = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


@pytest.fixture(scope="module")
def schema(django_db_blocker, tmp_path_factory):
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it: any warning fails the build."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_schema_validates_without_warnings_and_holds_every_read_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    for name in READ_ENDPOINTS:
        assert f"/api/v1/{name}/" in schema["paths"]
        assert any(path.startswith(f"/api/v1/{name}/{{") for path in schema["paths"])


def _operations(schema):
    for path, item in schema["paths"].items():
        if any(path.startswith(f"/api/v1/{name}/") for name in READ_ENDPOINTS):
            yield path, item["get"]


def test_every_read_operation_has_a_bilingual_summary_and_documents_its_errors(schema):
    operations = list(_operations(schema))

    assert len(operations) == 2 * len(READ_ENDPOINTS)
    for path, operation in operations:
        assert CHINESE.search(operation["summary"]), path
        assert LATIN_WORD.search(operation["summary"]), path
        expected = {"200", "401", "403"} | ({"404"} if path.endswith("}/") else set())
        assert expected <= set(operation["responses"]), path
        for status in expected - {"200"}:
            error = operation["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_filtered_lists_document_the_400_for_a_bad_filter(schema):
    for name in READ_ENDPOINTS:
        responses = schema["paths"][f"/api/v1/{name}/"]["get"]["responses"]
        assert "400" in responses, name


def test_every_paginated_list_documents_its_bounds_and_the_400_for_a_bad_page(schema):
    """Found by schemathesis: `?offset=abc` used to answer the first page, undocumented."""
    paginated = 0
    for path, item in schema["paths"].items():
        parameters = {p["name"]: p["schema"] for p in item.get("get", {}).get("parameters", [])}
        if "offset" not in parameters:
            continue
        paginated += 1
        assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}, path
        assert parameters["offset"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, path
        error = item["get"]["responses"]["400"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}, path
    assert paginated >= len(READ_ENDPOINTS)


def test_error_component_has_the_api_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]

    assert set(error["properties"]) == {"message", "errors"}
    assert error["properties"]["errors"]["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
    assert sorted(error["required"]) == ["errors", "message"]


def test_filters_are_documented_with_their_types(schema):
    def parameters(path):
        return {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}

    measures = parameters("/api/v1/measures/")
    indicators = parameters("/api/v1/indicators/")

    assert measures["plan"]["type"] == "string"
    assert measures["programme"] == {"type": "integer"}
    assert measures["body"] == {"type": "string"}
    assert measures["is_proposed"] == {"type": "boolean"}
    assert indicators["kind"]["enum"] == ["flow", "milestone", "ratio", "share", "stock"]


def test_schema_endpoint_answers(api_client):
    response = api_client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert b"/api/v1/measures/{id}/" in response.content


def test_schema_and_docs_are_refused_to_anonymous_visitors(client):
    # The schema maps every endpoint and field: it is for signed-in users (a deploy check keeps it so).
    assert client.get("/api/v1/schema/").status_code == 401
    assert client.get("/api/v1/docs/").status_code == 401
    assert "API 文档" not in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_docs_are_served_from_own_static_files_with_no_outside_host(client, user):
    client.force_login(user)
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # The CSP allows only same-origin scripts, so the page may hold no inline script.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", html)
    assert len(scripts) == 3
    assert all('src="/' in attributes for attributes in scripts)


def test_docs_start_up_script_is_served_as_a_file(client, user):
    client.force_login(user)
    script = client.get("/api/v1/docs/", {"script": ""})

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v1/schema/" in script.content
    assert re.findall(rb"https?://", script.content) == []


def _as_json_schema(node):
    """OpenAPI 3.0 to JSON Schema: `nullable` becomes a union with null, component refs point into `$defs`."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_json_schema(value) for key, value in node.items()}
    if "$ref" in converted:
        converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/$defs/")
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _assert_responses_match_schema(schema, api_client, detail_keys):
    """GET each list and, for each key, its detail; every body must validate against the documented 200."""
    from jsonschema import Draft202012Validator

    definitions = _as_json_schema(schema["components"]["schemas"])
    checked = 0
    for name, key in detail_keys.items():
        detail_template = next(p for p in schema["paths"] if p.startswith(f"/api/v1/{name}/{{"))
        for template, url in [(f"/api/v1/{name}/", f"/api/v1/{name}/"), (detail_template, f"/api/v1/{name}/{key}/")]:
            documented = schema["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
            validator = Draft202012Validator({"$defs": definitions, **_as_json_schema(documented["schema"])})
            response = api_client.get(url)
            assert response.status_code == 200, url
            assert list(validator.iter_errors(response.json())) == [], url
            checked += 1
    assert checked == 2 * len(READ_ENDPOINTS)


def test_every_read_response_matches_its_documented_schema(schema, api_client):
    from indicators.models import Indicator, Target
    from measures.models import Measure, Programme, Region, ResponsibleBody, Task
    from tests.factories import IndicatorFactory, TargetFactory, TaskFactory, plan_tree_create

    plan = plan_tree_create(size=2)
    # The optional parts left empty as well: no task, no lead body, no region, no deadline, a baseline.
    TaskFactory(measure=plan.measures.first(), recurrence="ongoing")
    TargetFactory(
        indicator=IndicatorFactory(measure=plan.measures.first(), kind="milestone", unit=""),
        deadline=None,
        baseline_value=3,
        baseline_year=2017,
    )

    _assert_responses_match_schema(
        schema,
        api_client,
        {
            "plans": plan.code,
            "programmes": Programme.objects.first().pk,
            "measures": Measure.objects.first().pk,
            "tasks": Task.objects.first().pk,
            "indicators": Indicator.objects.last().pk,
            "targets": Target.objects.last().pk,
            "bodies": ResponsibleBody.objects.first().code,
            "regions": Region.objects.first().code,
        },
    )


def test_real_plan_responses_match_their_documented_schema(schema, api_client, plan):
    from indicators.models import Indicator, Target

    measure = plan.measures.get(number=6)
    indicator = Indicator.objects.filter(plan=plan, targets__isnull=False).first()

    _assert_responses_match_schema(
        schema,
        api_client,
        {
            "plans": plan.code,
            "programmes": measure.programme_id,
            "measures": measure.pk,
            "tasks": measure.tasks.first().pk,
            "indicators": indicator.pk,
            "targets": Target.objects.filter(indicator__plan=plan).last().pk,
            "bodies": "js-trade-unions",
            "regions": "320000",
        },
    )
