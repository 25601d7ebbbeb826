"""The trail of a submission: every change of its values, narratives, evidence and state, with who,
when, what (field: old → new) and why, read from django-simple-history and the workflow's Transition rows."""

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reporting.models import DataValue, Evidence, Narrative, Submission, Transition


@dataclass(frozen=True)
class HistoryEntry:
    """One change in a submission's trail: who, when, what (field: old → new) and why."""

    at: datetime
    user: str | None
    kind: str  # submission, state, value, narrative, evidence
    subject: str  # the indicator code, measure number or file name the change is about
    action: str
    changes: list[dict[str, Any]]
    reason: str


VALUE_TRAIL = ("value", "numerator", "denominator", "done", "done_on", "comment")
NARRATIVE_TRAIL = ("progress", "problems", "next_steps")
EVIDENCE_TRAIL = ("original_name", "description", "size", "sha256", "removed_at", "removal_reason")
# Fields of the submission itself whose changes the workflow's Transition rows already tell, with the reason.
STATE_FIELDS = (
    "status",
    "submitted_at",
    "submitted_by",
    "city_approved_at",
    "city_approved_by",
    "confirmed_at",
    "confirmed_by",
    "return_reason",
    "is_late",
)
SUBMISSION_TRAIL = ("plan", "period", "region", "body", *STATE_FIELDS)
HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _shown(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _field_value(row: Any, name: str) -> Any:
    # Foreign keys are compared by id: the historical row holds the id as it was, the object may have moved on.
    field = row._meta.get_field(name)
    return getattr(row, field.attname)


def _trail(rows: Any, *, kind: str, fields: tuple[str, ...], subject: Any, actor: Any) -> list[HistoryEntry]:
    """Turn historical rows (ordered by object, then time) into entries with the fields that changed."""
    entries: list[HistoryEntry] = []
    previous: dict[int, Any] = {}
    for row in rows:
        before = previous.get(row.id)
        previous[row.id] = row
        changes = []
        for name in fields:
            value = _field_value(row, name)
            if row.history_type == "-":
                old, new = value, None
            else:
                # Without an earlier row (a first save, or data bulk-loaded before the trail) the old value is
                # unknown and given as null; empty fields of a first save are not listed.
                old, new = (_field_value(before, name) if before is not None else None), value
                if before is None and new in (None, ""):
                    continue
            # An empty text and no text at all are the same thing to a reader.
            if old != new and {old, new} != {None, ""}:
                changes.append({"field": name, "old": _shown(old), "new": _shown(new)})
        if not changes and row.history_type == "~":
            continue
        action = HISTORY_ACTIONS[row.history_type]
        if kind == "evidence" and row.history_type == "~" and row.removed_at is not None and before is not None:
            action = "removed" if before.removed_at is None else action
        who = row.history_user or actor(row)
        entries.append(
            HistoryEntry(
                at=row.history_date,
                user=who.get_username() if who is not None else None,
                kind=kind,
                subject=subject(row),
                action=action,
                changes=changes,
                reason=row.history_change_reason or "",
            )
        )
    return entries


def submission_history(*, submission: Submission) -> list[HistoryEntry]:
    """Every change of the submission's values, narratives, evidence and state, oldest first.

    Five queries whatever the length of the trail: the historical rows of values, narratives, evidence and
    the submission, and the Transition rows. A workflow step saves the submission and writes a Transition
    in one transaction; the two are shown once, as the Transition (it names the action and the reason),
    and the submission's own rows add only what no Transition tells (a returned report becoming a draft
    again when edited, or a change made outside the workflow)."""
    entries: list[HistoryEntry] = []
    values = (
        DataValue.history.filter(submission_id=submission.pk)
        .select_related("history_user", "updated_by", "indicator")
        .order_by("id", "history_date", "history_id")
    )
    entries += _trail(
        values, kind="value", fields=VALUE_TRAIL, subject=lambda r: r.indicator.code, actor=lambda r: r.updated_by
    )
    narratives = (
        Narrative.history.filter(submission_id=submission.pk)
        .select_related("history_user", "updated_by", "measure")
        .order_by("id", "history_date", "history_id")
    )
    entries += _trail(
        narratives,
        kind="narrative",
        fields=NARRATIVE_TRAIL,
        subject=lambda r: str(r.measure.number),
        actor=lambda r: r.updated_by,
    )
    evidence = (
        Evidence.history.filter(submission_id=submission.pk)
        .select_related("history_user", "uploaded_by", "removed_by")
        .order_by("id", "history_date", "history_id")
    )
    entries += _trail(
        evidence,
        kind="evidence",
        fields=EVIDENCE_TRAIL,
        subject=lambda r: r.original_name,
        actor=lambda r: r.removed_by or r.uploaded_by,
    )

    transitions = list(Transition.objects.filter(submission=submission).select_related("actor").order_by("at", "id"))
    unmatched = list(transitions)
    own_rows = (
        Submission.history.filter(id=submission.pk)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    for own in _trail(own_rows, kind="submission", fields=SUBMISSION_TRAIL, subject=lambda r: "", actor=lambda r: None):
        status = next((c for c in own.changes if c["field"] == "status"), None)
        if status is not None:
            match = next(
                (
                    t
                    for t in unmatched
                    if (t.from_status or None) == status["old"]
                    and t.to_status == status["new"]
                    and abs((t.at - own.at).total_seconds()) < 60
                ),
                None,
            )
            if match is not None:
                unmatched.remove(match)
                rest = [c for c in own.changes if c["field"] not in STATE_FIELDS]
                if not rest or own.action == "created":
                    continue
                own = replace(own, changes=rest)  # noqa: PLW2901
        entries.append(own)
    for t in transitions:
        entries.append(
            HistoryEntry(
                at=t.at,
                user=t.actor.get_username(),
                kind="state",
                subject="",
                action=t.action,
                changes=[{"field": "status", "old": t.from_status or None, "new": t.to_status}],
                reason=t.reason,
            )
        )
    entries.sort(key=lambda e: e.at)
    return entries
