"""`manage.py import_history FILE --user NAME`: bulk import of historical values (CSV or XLSX).

Rows are checked by the same rules as the API; rejected rows are listed (row, field, reason) on the
console and in a CSV report beside the file. See `reporting.services.bulk_import` for the format."""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from measures.models import Plan
from reporting.services.bulk_import import TEMPLATE_HEADINGS, history_import, rejected_csv

SHOWN = 50


class Command(BaseCommand):
    help = "Import historical values (CSV or XLSX) as confirmed reports, with a report of rejected rows."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (UTF-8 or GB18030) or XLSX; headings: " + ",".join(TEMPLATE_HEADINGS))
        parser.add_argument("--user", required=True, help="the coordinator who imports (recorded on every report)")
        parser.add_argument("--plan", default="js-2018-28")
        parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "utf-8-sig", "gb18030"])
        parser.add_argument("--create-periods", action="store_true", help="create missing quarters that have ended")
        parser.add_argument("--strict", action="store_true", help="write nothing if any row is rejected")
        parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
        parser.add_argument("--no-rollup", action="store_true", help="do not queue the rollup of what changed")
        parser.add_argument("--report", help="where to write the rejected rows (default: FILE.rejected.csv)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No such user: {options['user']}")
        plan = Plan.objects.filter(code=options["plan"]).first()
        if plan is None:
            raise CommandError(f"Plan {options['plan']!r} is not loaded.")
        try:
            report = history_import(
                user=user,
                plan=plan,
                path=path,
                encoding=options["encoding"],
                create_periods=options["create_periods"],
                strict=options["strict"],
                dry_run=options["dry_run"],
                rollup=not options["no_rollup"],
            )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("；".join(m for messages in exc.message_dict.values() for m in messages)) from exc
        if report.rejected:
            target = Path(options["report"] or f"{path}.rejected.csv")
            target.write_text(rejected_csv(report), encoding="utf-8")
        if options["json"]:
            data = report.as_dict()
            data["rejected"] = data["rejected"][:SHOWN]
            self.stdout.write(json.dumps(data, ensure_ascii=False, default=str))
            return
        for row in report.rejected[:SHOWN]:
            where = f"{row.sheet}!" if row.sheet else ""
            self.stdout.write(f"  {where}第 {row.row} 行 · {row.field} · {row.reason}")
        if len(report.rejected) > SHOWN:
            self.stdout.write(
                f"  … 另有 {len(report.rejected) - SHOWN} 条，见 {options['report'] or f'{path}.rejected.csv'}"
            )
        verdict = "（试运行，未写入）" if options["dry_run"] else ("" if report.written else "（未写入）")
        self.stdout.write(
            f"{report.file}: {report.rows} 行，接受 {report.accepted}，拒绝 {report.rejected_rows} 行{verdict}；"
            f"新建报表 {report.submissions_created}，新增数值 {report.values_created}，更新 {report.values_updated}，"
            f"未变 {report.values_unchanged}；{report.seconds} 秒。"
        )
