"""Web forms for quarterly reporting. They only carry text between the page and the services: every
number, date and rule is checked by the same service the API and the XLSX import call, so the three
entry paths accept and refuse alike. Service errors (`values.<code>.<field>`) come back onto the
field that caused them."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from indicators.models import Indicator
from measures.models import Measure, Programme
from reporting.models import DataValue, Narrative, Submission
from reporting.selectors import value_as_number
from reporting.services.submissions import submission_narratives_put, submission_values_put

NARRATIVE_FIELDS = ("progress", "problems", "next_steps")
NARRATIVE_LABELS = {"progress": _("进展情况"), "problems": _("存在问题"), "next_steps": _("下步计划")}
MAX_TEXT = 10_000  # a generous cap on what the form accepts; the services enforce the real limits


def fields_for(kind: str) -> tuple[str, ...]:
    """The inputs of one indicator, by kind; the first is where an error about the whole value goes."""
    if kind == Indicator.Kind.MILESTONE:
        return ("done", "done_on", "comment")
    if kind in (Indicator.Kind.RATIO, Indicator.Kind.SHARE):
        return ("numerator", "denominator", "comment")
    return ("value", "comment")


def decimal_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass
class IndicatorRow:
    indicator: Indicator
    fields: list[forms.BoundField]
    comment: forms.BoundField
    previous: DataValue | None
    previous_number: Decimal | None
    errors: list[str] = field(default_factory=list)


@dataclass
class MeasureBlock:
    measure: Measure
    indicators: list[IndicatorRow] = field(default_factory=list)
    narrative: list[forms.BoundField] = field(default_factory=list)


@dataclass
class ProgrammeBlock:
    programme: Programme
    measures: list[MeasureBlock] = field(default_factory=list)


class ReportForm(forms.Form):
    """One submission's values and narratives. The hidden version is the optimistic lock."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(
        self,
        *args: Any,
        submission: Submission,
        indicators: list[Indicator],
        values: dict[int, DataValue],
        previous: dict[int, DataValue],
        measures: list[Measure],
        narratives: dict[int, Narrative],
        readonly: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"]["version"] = submission.version
        super().__init__(*args, **kwargs)
        self.submission = submission
        self.indicators = indicators
        self.values = values
        self.measures = measures
        self.narratives = narratives
        # field name → (indicator code, service field) and (measure number, narrative field)
        self.value_fields: dict[str, tuple[str, str]] = {}
        self.narrative_fields: dict[str, tuple[int, str]] = {}
        for indicator in indicators:
            self._add_value_fields(indicator, values.get(indicator.pk))
        for measure in measures:
            narrative = narratives.get(measure.pk)
            for key in NARRATIVE_FIELDS:
                name = f"n-{measure.number}-{key}"
                self.fields[name] = forms.CharField(
                    label=NARRATIVE_LABELS[key],
                    required=False,
                    strip=False,
                    max_length=MAX_TEXT,
                    initial=getattr(narrative, key) if narrative else "",
                    widget=forms.Textarea(attrs={"rows": 3}),
                )
                self.narrative_fields[name] = (measure.number, key)
        if readonly:
            for form_field in self.fields.values():
                form_field.disabled = True
        self.previous = previous

    def _add_value_fields(self, indicator: Indicator, value: DataValue | None) -> None:
        code = indicator.code
        for key in fields_for(indicator.kind):
            name = f"v-{code}-{key}"
            if key in ("value", "numerator", "denominator"):
                label = {
                    "value": _("数值"),
                    "numerator": indicator.numerator_label or _("分子"),
                    "denominator": indicator.denominator_label or _("分母"),
                }[key]
                form_field: forms.Field = forms.CharField(
                    label=label,
                    required=False,
                    max_length=64,
                    initial=decimal_text(getattr(value, key) if value else None),
                    widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 14}),
                )
            elif key == "done":
                done = value.done if value else None
                form_field = forms.ChoiceField(
                    label=_("是否完成"),
                    required=False,
                    choices=[("", "—"), ("true", _("是")), ("false", _("否"))],
                    initial="" if done is None else ("true" if done else "false"),
                )
            elif key == "done_on":
                form_field = forms.CharField(
                    label=_("完成日期"),
                    required=False,
                    max_length=32,
                    initial=value.done_on.isoformat() if value and value.done_on else "",
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
            else:
                form_field = forms.CharField(
                    label=_("说明"),
                    required=False,
                    max_length=MAX_TEXT,
                    initial=value.comment if value else "",
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
            self.fields[name] = form_field
            self.value_fields[name] = (code, key)

    # -- layout for the template ------------------------------------------------------------------

    def programme_blocks(self) -> list[ProgrammeBlock]:
        """Indicators and narratives grouped by measure, measures by programme, in plan order."""
        by_measure: dict[int, MeasureBlock] = {}
        for measure in self.measures:
            by_measure[measure.pk] = MeasureBlock(
                measure=measure,
                narrative=[self[f"n-{measure.number}-{key}"] for key in NARRATIVE_FIELDS],
            )
        for indicator in self.indicators:
            block = by_measure.setdefault(indicator.measure_id, MeasureBlock(measure=indicator.measure))
            keys = fields_for(indicator.kind)
            previous = self.previous.get(indicator.pk)
            block.indicators.append(
                IndicatorRow(
                    indicator=indicator,
                    fields=[self[f"v-{indicator.code}-{key}"] for key in keys if key != "comment"],
                    comment=self[f"v-{indicator.code}-comment"],
                    previous=previous,
                    previous_number=value_as_number(previous, indicator) if previous else None,
                )
            )
        programmes: dict[int, ProgrammeBlock] = {}
        for block in sorted(by_measure.values(), key=lambda b: b.measure.number):
            programme = block.measure.programme
            programmes.setdefault(programme.pk, ProgrammeBlock(programme=programme)).measures.append(block)
        return sorted(programmes.values(), key=lambda p: p.programme.number)

    # -- to and from the services -------------------------------------------------------------------

    def _posted(self, name: str) -> Any:
        """The submitted value, or what is stored when the request did not carry the field at all:
        a partial POST (a script, an old page) leaves the fields it does not name untouched."""
        if name in self.data:
            return self.cleaned_data.get(name)
        return self.fields[name].initial

    def values_payload(self) -> list[dict[str, Any]]:
        """One item per indicator that has input now or a stored value (so clearing a field clears it);
        indicators left blank that were never stored are not sent, so no empty rows are created."""
        items: dict[str, dict[str, Any]] = {}
        touched: set[str] = set()
        for name, (code, key) in self.value_fields.items():
            if name in self.data:
                touched.add(code)
            raw = self._posted(name)
            items.setdefault(code, {"indicator": code})[key] = raw if raw not in (None, "") else None
        stored = {i.code for i in self.indicators if i.pk in self.values}
        return [
            item
            for code, item in items.items()
            if code in touched and (code in stored or any(v is not None for k, v in item.items() if k != "indicator"))
        ]

    def narratives_payload(self) -> list[dict[str, Any]]:
        items: dict[int, dict[str, Any]] = {}
        touched: set[int] = set()
        for name, (number, key) in self.narrative_fields.items():
            if name in self.data:
                touched.add(number)
            items.setdefault(number, {"measure": number})[key] = self._posted(name) or ""
        stored = {m.number for m in self.measures if m.pk in self.narratives}
        return [
            item
            for number, item in items.items()
            if number in touched and (number in stored or any(item[k].strip() for k in NARRATIVE_FIELDS))
        ]

    def add_service_errors(self, error: ValidationError) -> None:
        """Put each service error on the field it names; what names no field goes to the form."""
        by_code = {i.code: i for i in self.indicators}
        for key, messages in error.message_dict.items():
            parts = key.split(".", 2)
            name = None
            if parts[0] == "values" and len(parts) >= 2 and parts[1] in by_code:
                field_key = parts[2] if len(parts) == 3 else fields_for(by_code[parts[1]].kind)[0]
                name = f"v-{parts[1]}-{field_key}"
            elif parts[0] == "narratives" and len(parts) == 3:
                name = f"n-{parts[1]}-{parts[2]}"
            for message in messages:
                if name in self.fields:
                    self.add_error(name, message)
                else:
                    self.add_error(None, message)

    def save(self, *, user: User) -> Submission | None:
        """Write values and narratives in one transaction. Returns the submission, or None with the
        errors on the form. Stale versions, locks and permissions raise as the services raise them."""
        version = self.cleaned_data["version"]
        errors: dict[str, list[str]] = {}
        try:
            with transaction.atomic():
                submission = self.submission
                try:
                    submission, _summary = submission_values_put(
                        submission=submission, user=user, values=self.values_payload(), expected_version=version
                    )
                except ValidationError as exc:
                    errors.update(exc.message_dict)
                try:
                    submission, _summary = submission_narratives_put(
                        submission=submission,
                        user=user,
                        narratives=self.narratives_payload(),
                        expected_version=submission.version if not errors else version,
                    )
                except ValidationError as exc:
                    errors.update(exc.message_dict)
                if errors:
                    # Raised inside the block so values written before a narrative error roll back.
                    raise ValidationError(errors)
        except ValidationError as exc:
            self.add_service_errors(exc)
            return None
        self.submission = submission
        return submission


class ReasonForm(forms.Form):
    """Return and reopen need a reason; the service checks it again."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(label=_("原因"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class StartForm(forms.Form):
    """Start (or find) the submission of one reporter for one period."""

    plan = forms.IntegerField(widget=forms.HiddenInput)
    period = forms.CharField(widget=forms.HiddenInput, max_length=8)
    region = forms.IntegerField(widget=forms.HiddenInput, required=False)
    body = forms.IntegerField(widget=forms.HiddenInput, required=False)


class EvidenceForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    file = forms.FileField(label=_("文件"))
    description = forms.CharField(label=_("说明"), required=False, max_length=255)


class EvidenceRemoveForm(forms.Form):
    reason = forms.CharField(label=_("删除原因"), max_length=255)


class XlsxUploadForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    file = forms.FileField(label=_("填报模板（.xlsx）"))
