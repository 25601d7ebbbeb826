"""On PostgreSQL the security log is append-only in the database itself: UPDATE and DELETE raise.

The application never changes a row; this stops anyone who reaches the database with the application's
credentials from doing so quietly. TRUNCATE is left to table owners: production runs the portal as a
role that does not own its tables (README, operations), and the test suite needs TRUNCATE to reset
its database. SQLite, the zero-set-up default, has no trigger; the hash chain still shows tampering."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION accounts_securityevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'security log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS accounts_securityevent_no_change ON accounts_securityevent;
CREATE TRIGGER accounts_securityevent_no_change
    BEFORE UPDATE OR DELETE ON accounts_securityevent
    FOR EACH ROW EXECUTE FUNCTION accounts_securityevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_securityevent_no_change ON accounts_securityevent;
DROP FUNCTION IF EXISTS accounts_securityevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_security_log")]

    operations = [migrations.RunPython(forwards, backwards)]
