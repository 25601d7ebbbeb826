"""What a whole-report upload reads in one statement (`report_definitions_read`): the same rows the ORM reads,
the indicator list kept per process only under a digest of its rows, and the memberships read per request."""

from datetime import date

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from indicators.models import Indicator
from portal.accounts.models import Membership
from portal.accounts.services import membership_end
from reporting.models import Submission
from reporting.selectors import period_get_by_code
from reporting.selectors.definitions import indicator_sets_forget, report_definitions_read
from reporting.services.submissions import indicators_for_values
from tests.reporting.conftest import full_values
from tests.reporting.test_api_support import API

REPORT = f"{API}/submissions/report/"
FIELDS = ("pk", "plan_id", "code", "name", "kind", "scale")


@pytest.fixture
def today(time_machine):
    time_machine.move_to(date(2026, 1, 5))


def _rows(indicators) -> list[tuple]:
    return [tuple(getattr(i, f) for f in FIELDS) for i in indicators]


def _orm(plan, region=None, body=None) -> list[tuple]:
    return _rows(indicators_for_values(submission=Submission(plan=plan, region=region, body=body)))


def _read(user, **data):
    return report_definitions_read(user=type(user).objects.get(pk=user.pk), data=data)


def test_the_rows_read_are_the_orms(plan, period, nanjing, edu_body, nanjing_reporter):
    indicator_sets_forget()
    city = _read(nanjing_reporter, plan=plan.code, period=f" {period.code} ", region=nanjing.code)
    body = _read(nanjing_reporter, period=period.code, body=edu_body.code)

    assert city.get("period", period.code) == period_get_by_code(code=period.code)
    assert city.get("region", nanjing.code) == nanjing
    assert city.get("plan", plan.code) == plan
    assert body.get("plan", None) == plan  # no plan named: the first issued, as the serializer chooses
    assert body.get("body", edu_body.code) == edu_body
    assert body.get("region", nanjing.code) is None  # not read for this request
    assert _rows(
        city.indicators_of(plan=city.get("plan", plan.code), region=city.get("region", nanjing.code), body=None)
    ) == _orm(plan, region=nanjing)
    assert _rows(
        body.indicators_of(plan=body.get("plan", None), region=None, body=body.get("body", edu_body.code))
    ) == _orm(plan, body=edu_body)
    assert _orm(plan, body=edu_body)
    assert _orm(plan, region=nanjing)


def test_an_unknown_code_reads_nothing(plan, nanjing_reporter):
    known = _read(nanjing_reporter, period="2031Q1", region="999999", plan="no-such-plan")

    assert known.get("period", "2031Q1") is None
    assert known.get("region", "999999") is None
    assert known.get("plan", "no-such-plan") is None
    assert known.indicators is None


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"name": "改过的名称"},
        "moved to the end",
        {"reporter": Indicator.Reporter.BODY},
        {"scale": 1000},
    ],
    ids=["deactivated", "renamed", "moved", "no-longer-the-citys", "rescaled"],
)
def test_a_changed_indicator_set_is_read_again(plan, period, nanjing, nanjing_reporter, change):
    """The list is kept under a digest of its rows: any change to them, by any path, is seen at once."""
    indicator_sets_forget()
    before = _read(nanjing_reporter, period=period.code, region=nanjing.code)
    first = Indicator.objects.filter(pk=before.indicators[0].pk)
    if change == "moved to the end":
        last = Indicator.objects.get(pk=before.indicators[-1].pk)
        change = {"measure": last.measure_id, "sort_order": last.sort_order + 1}
    first.update(**change)
    after = _read(nanjing_reporter, period=period.code, region=nanjing.code)

    assert _rows(after.indicators) == _orm(plan, region=nanjing)
    assert _rows(after.indicators) != _rows(before.indicators)


def test_a_deactivated_indicator_is_refused_at_once(plan, period, nanjing, nanjing_reporter, client_for, today):
    values = full_values(Submission(plan=plan, region=nanjing))
    body = {"period": period.code, "region": nanjing.code, "values": values}
    client = client_for(nanjing_reporter)
    assert client.post(REPORT, body, format="json").status_code == 201
    Indicator.objects.filter(plan=plan, code=values[0]["indicator"]).update(is_active=False)

    response = client.post(REPORT, body, format="json", HTTP_IF_MATCH="*")

    assert response.status_code == 400
    assert response.json()["errors"] == {f"values.{values[0]['indicator']}": ["该指标不由本填报主体填报。"]}


def test_a_role_ended_counts_at_once(plan, period, nanjing, nanjing_reporter, today):
    """The memberships are read on every request, in the same statement as the rest: a city reporter whose role
    ended a moment ago finds the city's report no longer there, with the token that worked a moment before."""
    _instance, token = AuthToken.objects.create(user=nanjing_reporter)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    body = {"period": period.code, "region": nanjing.code, "values": full_values(Submission(plan=plan, region=nanjing))}
    assert client.post(REPORT, body, format="json").status_code == 201
    membership_end(membership=Membership.objects.get(user=nanjing_reporter), on=date(2026, 1, 4))

    response = client.post(REPORT, body, format="json", HTTP_IF_MATCH="*")

    assert response.status_code == 404
    assert Submission.objects.get().version == 2
