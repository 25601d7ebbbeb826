"""Ceiling views: DRF with nothing of the portal's own work (no token, no scoping, no validation, no history).

BareIngestView takes the same report payload the API takes and only bulk-inserts it; BareFiguresView reads
the same rolled-up rows a dashboard reads and returns them as JSON. Mounted only by `bench.urls`."""

from typing import Any, cast

from django.db import connection
from psycopg2.extras import execute_values
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

INGEST_TABLE = """
CREATE TABLE IF NOT EXISTS bench_ingest (
    id bigserial PRIMARY KEY, report text NOT NULL, indicator text NOT NULL, value numeric,
    numerator numeric, denominator numeric, comment text NOT NULL DEFAULT ''
)
"""


class BareIngestView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        # request.data is typed as a dict or a list; the benchmark posts the report payload, a JSON object. The
        # ceiling validates nothing (by design), so the cast only tells mypy what it holds.
        data = cast(dict[str, Any], request.data)
        rows = [
            (
                data["report"],
                v["indicator"],
                v.get("value"),
                v.get("numerator"),
                v.get("denominator"),
                v.get("comment", ""),
            )
            for v in data["values"]
        ]
        with connection.cursor() as cursor:
            execute_values(
                cursor.cursor,
                "INSERT INTO bench_ingest (report, indicator, value, numerator, denominator, comment) VALUES %s",
                rows,
            )
        return Response({"rows": len(rows)}, status=201)


class BareFiguresView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT i.code, f.span, f.basis, f.value, f.numerator, f.denominator, f.reported_count,
                       f.expected_count, f.coverage, f.computed_at
                FROM reporting_figure f JOIN indicators_indicator i ON i.id = f.indicator_id
                JOIN reporting_period p ON p.id = f.period_id JOIN measures_region r ON r.id = f.region_id
                WHERE p.year = %s AND p.quarter = %s AND r.code = %s AND f.basis = 'official'
                """,
                [
                    int(request.query_params["year"]),
                    int(request.query_params["quarter"]),
                    request.query_params["region"],
                ],
            )
            names = [c[0] for c in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return Response(rows)
