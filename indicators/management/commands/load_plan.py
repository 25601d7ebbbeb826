"""`manage.py load_plan <dir>`: load (or reload) a plan directory, idempotently, in one transaction.

The command lives in `indicators` because it writes both the plan (measures.services) and its
indicators (indicators.services), and imports run one way: indicators → measures.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from indicators.plan_source import plan_indicators_read
from indicators.services import plan_indicators_load
from measures.plan_source import plan_source_read
from measures.services import LoadReport, plan_load


class Command(BaseCommand):
    help = "Load a plan directory (plan.yaml, its source text and data files); safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="e.g. fixtures/plans/js-2018-28")

    def handle(self, *args: Any, directory: str, verbosity: int = 1, **options: Any) -> None:
        try:
            # Everything is read and checked before the first write, so a broken fixture reports every
            # problem at once and leaves the database as it was.
            source = plan_source_read(directory=directory)
            indicators = plan_indicators_read(source=source)
            report = LoadReport()
            with transaction.atomic(durable=True):
                plan, _ = plan_load(source=source, report=report)
                plan_indicators_load(plan=plan, indicators=indicators, report=report)
        except ValidationError as error:
            lines = "\n".join(f"  - {message}" for message in error.messages)
            raise CommandError(f"load_plan {directory}: nothing was written; fix these first:\n{lines}") from error
        if verbosity >= 1:
            self.report_write(plan.document_number, report)

    def report_write(self, document_number: str, report: LoadReport) -> None:
        verdict = "changes written" if report.changed else "already up to date, nothing written"
        self.stdout.write(f"load_plan {report.plan_code} ({document_number}): {verdict}")
        for name, counts in report.counts.items():
            line = (
                f"  {name:<17} created {counts.created:>4}  updated {counts.updated:>4}  "
                f"unchanged {counts.unchanged:>4}"
            )
            if counts.deleted:
                line += f"  deleted {counts.deleted:>4}"
            if counts.stale:
                line += f"  not in the data (left in place) {counts.stale}"
            self.stdout.write(line)
        if report.confirmed_scopes:
            self.stdout.write(
                f"  {report.confirmed_scopes} measures or tasks have a division of labour confirmed by "
                "coordinators; their responsibilities were left as they are."
            )
