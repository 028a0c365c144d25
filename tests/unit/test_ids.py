"""Record ids are RFC 9562 UUIDv7: valid, unique and ordered by time."""

import time
import uuid

from ledger.ids import new_id


def test_ids_are_version_7_uuids_with_the_rfc_variant():
    value = uuid.UUID(new_id())
    assert value.version == 7 and value.variant == uuid.RFC_4122


def test_ids_made_later_sort_later_and_never_repeat():
    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert all(first < other for other in later)
    assert len(set(later)) == 1000
