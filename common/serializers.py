"""Serializer helpers shared by the apps' APIs."""

import copy
from typing import Any

from rest_framework import serializers


# A ModelSerializer that builds its fields from the model once per class instead of once per instance.
# ModelSerializer.get_fields reads the model's metadata and builds every field anew each time a serializer is
# made (for a write's answer, about half the CPU of serializing it). What it builds depends only on the class
# (its Meta and declared fields), never on the instance or the context, so it is built once and each instance
# gets a deep copy of the unbound fields, as DRF copies a serializer's declared fields.
# No docstring on purpose: drf-spectacular would show it as the description of every subclass without one.
class FieldsOnceModelSerializer(serializers.ModelSerializer):
    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built")
        if built is None:
            built = super().get_fields()
            cls._fields_built = built  # type: ignore[attr-defined]
        return copy.deepcopy(built)
