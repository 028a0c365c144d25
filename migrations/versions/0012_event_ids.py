"""event ids in one plain table (PostgreSQL)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:55:00

Since 0006 ``events`` is partitioned by month and keyed by (id, recorded_at): a look-up by
id alone probes every month's index, once for every append with a client-chosen id (an
Idempotency-Key, an offline station's or driver's record), and nothing in the database
keeps an id unique across months (the append's advisory lock on the id does).

``event_ids (id PRIMARY KEY, recorded_at)`` names each event's month. A row trigger on
``events`` (cloned onto every partition, present and future; it fires for COPY too)
registers every inserted event in its own schema's ``event_ids`` (the function's
search_path is fixed), so the key refuses an id already taken in any month
(``unique_violation``). An event inserted again with its own id and ``recorded_at`` is
the same event moving between partitions (``ledger.partitions`` re-homing DEFAULT's rows),
not a second one: that is let through. ``event_ids`` is append-only under the same switch
as ``events`` (its guard yields only while its own schema's ``events_append_only`` is
disabled).

The upgrade fills the table from every event under an exclusive lock on ``events`` (reads
go on, appends wait), and fails, rolling back, if an id is stored twice already.

SQLite keeps one ``events`` table keyed by id: the migration does nothing there.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The function's own search_path is the schema it is made in ({schema}): the rows go to
# that schema's event_ids whatever the inserting session's search_path.
REGISTER = """
CREATE OR REPLACE FUNCTION ledger_register_event_id() RETURNS trigger
SET search_path = {schema} AS $$
BEGIN
    INSERT INTO event_ids (id, recorded_at) VALUES (NEW.id, NEW.recorded_at)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND AND NOT EXISTS (
        SELECT 1 FROM event_ids WHERE id = NEW.id AND recorded_at = NEW.recorded_at
    ) THEN
        RAISE EXCEPTION 'ledger: the event id % is taken by another event', NEW.id
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# Raises unless the trigger TG_ARGV[1] of the table TG_ARGV[0], in the guarded table's own
# schema, is there and disabled (a switch it cannot find counts as on).
GUARD = """
CREATE OR REPLACE FUNCTION ledger_append_only_with() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = to_regclass(format('%I.%I', TG_TABLE_SCHEMA, TG_ARGV[0]))
        AND tgname = TG_ARGV[1] AND tgenabled = 'D'
    ) THEN
        RAISE EXCEPTION 'ledger: % on % is forbidden: the table is append-only',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = conn.dialect.identifier_preparer.quote(
        conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    )
    op.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    op.execute(
        "CREATE TABLE event_ids "
        "(id VARCHAR(36) NOT NULL, recorded_at TIMESTAMP WITH TIME ZONE NOT NULL)"
    )
    op.execute("INSERT INTO event_ids (id, recorded_at) SELECT id, recorded_at FROM events")
    op.execute("ALTER TABLE event_ids ADD CONSTRAINT event_ids_pkey PRIMARY KEY (id)")
    op.execute(REGISTER.format(schema=schema))
    op.execute(
        "CREATE TRIGGER events_register_id AFTER INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION ledger_register_event_id()"
    )
    op.execute(GUARD)
    op.execute(
        "CREATE TRIGGER event_ids_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON event_ids "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only_with('events', 'events_append_only')"
    )
    op.execute("ANALYZE event_ids")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER events_register_id ON events")  # and its clones on the partitions
    op.execute("DROP TABLE event_ids")  # and its guard
    op.execute("DROP FUNCTION ledger_register_event_id()")
    op.execute("DROP FUNCTION ledger_append_only_with()")
