"""Fixtures of the PostgreSQL partition tests (test_partitions*.py, test_event_ids.py)."""

from tests.partition_ledger import pg_ledger, schema_url

__all__ = ["pg_ledger", "schema_url"]
