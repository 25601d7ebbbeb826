"""A submission's answer builds its serializer fields once per class, and each answer still gets fields of its own."""

from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from measures.serializers import RegionSummarySerializer
from reporting.serializers import ReportUploadResultSerializer, SubmissionSerializer


def test_the_fields_are_built_from_the_model_once_and_copied_for_each_answer(draft, nanjing_reporter, monkeypatch):
    request = APIRequestFactory().get("/")
    request.user = nanjing_reporter
    context = {"request": request, "summary": {"created": 0, "updated": 0, "unchanged": 0}}
    first = ReportUploadResultSerializer(draft, context=context).data
    built = []
    original = serializers.ModelSerializer.build_field

    def counted(self, *args, **kwargs):
        built.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(serializers.ModelSerializer, "build_field", counted)
    one, two = (ReportUploadResultSerializer(draft, context=context) for _ in range(2))

    assert one.data == two.data == first
    assert built == []  # nothing rebuilt from the model, nested region summary included
    assert one.fields["status"] is not two.fields["status"]
    assert one.fields["region"] is not two.fields["region"]
    assert one.fields["status"].parent is one
    assert two.fields["status"].parent is two
    # Each class keeps its own fields: the answer's summary is not on the plain submission.
    assert "summary" in one.fields
    assert "summary" not in SubmissionSerializer(draft, context=context).fields
    assert list(RegionSummarySerializer(draft.region).data) == ["code", "name", "name_en"]
