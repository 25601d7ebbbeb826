# A year's snapshot content is ~0.6 MB of JSON, stored compressed out of line (TOAST). PostgreSQL's default
# compression (pglz) took about a third of the snapshot INSERT's server time; lz4 compresses it several times
# faster, and decompresses faster when a snapshot is rendered again. Only where the server was built with
# lz4 (PostgreSQL 14+ lists it among default_toast_compression's values); elsewhere nothing changes.

from django.db import migrations

LZ4_AVAILABLE = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def _compression_set(schema_editor, method):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(LZ4_AVAILABLE)
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute(f"ALTER TABLE reporting_reportsnapshot ALTER COLUMN content SET COMPRESSION {method}")


def lz4_set(apps, schema_editor):
    _compression_set(schema_editor, "lz4")


def lz4_reset(apps, schema_editor):
    _compression_set(schema_editor, "pglz")


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0011_export_job_sent_at"),
    ]

    operations = [
        migrations.RunPython(lz4_set, lz4_reset),
    ]
