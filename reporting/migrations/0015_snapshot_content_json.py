# The snapshot content becomes PostgreSQL `json` instead of `jsonb`: nothing queries inside it, and parsing a
# year's content (~0.7 MB) into jsonb took ~10 ms of the snapshot INSERT's ~17 ms (see JSONTextField).
# Changing the column's type drops its compression setting, so lz4 (0012) is set again where the server has it.

from django.db import migrations

import reporting.models

LZ4_AVAILABLE = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def lz4_set(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(LZ4_AVAILABLE)
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute("ALTER TABLE reporting_reportsnapshot ALTER COLUMN content SET COMPRESSION lz4")


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0014_slicecheck_fingerprint"),
    ]

    operations = [
        # Set again after the type changes, either way (going back to jsonb drops the setting as well).
        migrations.RunPython(migrations.RunPython.noop, lz4_set),
        migrations.AlterField(
            model_name="reportsnapshot",
            name="content",
            field=reporting.models.JSONTextField(verbose_name="报告内容"),
        ),
        migrations.RunPython(lz4_set, migrations.RunPython.noop),
    ]
