# Rollups rewrite province figures on every run and changed city figures in place: leaving room on each page
# lets PostgreSQL update a figure without touching its eight indexes (a heap-only tuple update).

from django.db import migrations


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reporting_figure SET (fillfactor = 70)")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE reporting_figure RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0005_figure_region_period"),
    ]

    operations = [
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
