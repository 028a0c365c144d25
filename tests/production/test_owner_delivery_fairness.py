"""One owner's dead or slow receiver never holds up the others' deliveries: a run offers
every waiting notification once, owners in turns, several owners at once (a receiver
that hangs holds its own lane only), the owners whose receiver did not answer last time
after all the others; it stops trying an owner whose receiver did not answer three times
in a row (one notification it chokes on holds up none behind it), starts no POST past its
budget, reads each row's webhook just before its POST, and signs each POST when it
starts; and what a sweep queued for a removed webhook never reaches the one set after it."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session

from app import jobs
from ledger import owner_delivery
from ledger.model_webhooks import OwnerDelivery, OwnerWebhook
from ledger.notifications import NO_ANSWER_LIMIT
from ledger.owner_delivery import HEADER, deliver_to_owners
from tests.conftest import bearer
from tests.flows import register
from tests.production.test_owner_webhooks import (
    HOOK_A,
    HOOK_B,
    Receiver,
    _deliveries,
    _engine,
    _expire,
    _notes,
    _set_hook,
)

NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)


def _queue(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any, counts: dict[str, int]
) -> None:
    """A and B with webhooks, and ``counts`` new notifications of each queued for them,
    none tried yet."""
    for key, count in counts.items():
        for _ in range(count):
            register(client, demo, who=f"enterprise_{key}")
        _set_hook(client, demo, key, {"a": HOOK_A, "b": HOOK_B}[key])
        _expire(app, demo["enterprises"][key], count)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 503)  # the sweep's own delivery
    assert jobs.expiry_sweep(app)["owner_queued"] == sum(counts.values())
    with Session(_engine(app)) as s:  # as if that delivery had not run yet
        s.execute(update(OwnerDelivery).values(attempts=0, last_error=None, last_attempt_at=None))
        s.commit()


def test_an_unreachable_owner_is_tried_three_times_a_run_and_the_others_still_get_theirs(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 12, "b": 2})
    sent: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        if url == HOOK_A:
            raise ConnectionRefusedError("connection refused")
        return 500 if sent.count(HOOK_B) == 1 else 204  # B refuses one, takes the next

    result = deliver_to_owners(_engine(app), post, NOW)
    assert sent.count(HOOK_A) == NO_ANSWER_LIMIT and sent.count(HOOK_B) == 2
    assert (result.delivered, result.failed) == (1, 2 + NO_ANSWER_LIMIT - 1)
    rows = _deliveries(app)
    a_rows = [rows[i] for i in _notes(app, demo["enterprises"]["a"]) if i in rows]
    tried = [1] * NO_ANSWER_LIMIT
    assert sorted(r.attempts for r in a_rows) == [0] * (12 - NO_ANSWER_LIMIT) + tried


def test_a_notification_the_receiver_chokes_on_holds_up_none_behind_it(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 4})
    first = min(_notes(app, demo["enterprises"]["a"]))

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        if headers["Idempotency-Key"] == f"notification-{first}":
            raise TimeoutError("read timed out")  # the oldest, every run
        return 204

    for _ in range(2):
        result = deliver_to_owners(_engine(app), post, NOW)
    assert (result.delivered, result.failed) == (0, 1)  # the others went on the first run
    rows = _deliveries(app)
    assert rows[first].attempts == 2 and rows[first].delivered_at is None
    assert all(r.delivered_at is not None for i, r in rows.items() if i != first)


def test_a_backlog_drains_in_one_run_in_turns(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 23, "b": 3})
    sent: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        return 204

    first = deliver_to_owners(_engine(app), post, NOW, lanes=1)  # one at a time: the order
    assert sent[:6] in ([HOOK_A, HOOK_B] * 3, [HOOK_B, HOOK_A] * 3)  # not A's backlog first
    assert first.delivered == 26 and len(sent) == 26
    sent.clear()
    assert deliver_to_owners(_engine(app), post, NOW).delivered == 0
    assert sent == []


def test_a_receiver_that_hangs_holds_its_own_lane_only(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 3, "b": 5})
    b_done = threading.Event()
    seen: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        if url == HOOK_A:  # hangs until B's five are in (at most 10 s), then times out
            seen.append("A waited" if b_done.wait(timeout=10) else "A gave up waiting")
            raise TimeoutError("read timed out")
        seen.append("B")
        if seen.count("B") == 5:
            b_done.set()
        return 204

    result = deliver_to_owners(_engine(app), post, NOW, lanes=2)
    assert seen[:6] == ["B"] * 5 + ["A waited"]  # B's five went while A's first hung
    assert (result.delivered, result.failed) == (5, NO_ANSWER_LIMIT)


def _tried_last_run(app: Any, errors: dict[int, str]) -> None:
    """Record one attempt an hour ago on each row of ``errors`` with that error, as a run
    records them: all at the run's one time."""
    with Session(_engine(app)) as s:
        for nid, error in errors.items():
            s.execute(
                update(OwnerDelivery)
                .where(OwnerDelivery.notification_id == nid)  # type: ignore[arg-type]
                .values(attempts=1, last_error=error, last_attempt_at=NOW - dt.timedelta(hours=1))
            )  # fmt: skip
        s.commit()


def _order_of_next_run(app: Any, lanes: int = 1) -> list[str]:
    sent: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        return 204

    deliver_to_owners(_engine(app), post, NOW, lanes=lanes)
    return sent


def test_an_owner_whose_receiver_did_not_answer_last_time_comes_after_the_others(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 2, "b": 3})
    a_rows = sorted(_notes(app, demo["enterprises"]["a"]))
    _tried_last_run(app, {a_rows[0]: "ConnectTimeout: timed out"})
    assert _order_of_next_run(app) == [HOOK_B] * 3 + [HOOK_A] * 2


def test_it_is_the_owners_last_attempt_that_counts_not_its_first(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 4, "b": 4})
    a_rows = sorted(_notes(app, demo["enterprises"]["a"]))
    timed_out = "ReadTimeout: timed out"
    # Last run A's receiver choked on its oldest, then answered the next three (refused).
    _tried_last_run(app, {a_rows[0]: timed_out} | dict.fromkeys(a_rows[1:], "HTTP 400"))
    assert sorted(_order_of_next_run(app)[:2]) == [HOOK_A, HOOK_B]  # in turns: not down
    with Session(_engine(app)) as s:  # all eight waiting again
        s.execute(update(OwnerDelivery).values(delivered_at=None))
        s.commit()
    # This time it refused the oldest, then gave no answer three times: down.
    _tried_last_run(app, {a_rows[0]: "HTTP 503"} | dict.fromkeys(a_rows[1:], timed_out))
    assert _order_of_next_run(app) == [HOOK_B] * 4 + [HOOK_A] * 4


def test_a_lane_left_idle_by_the_others_serves_an_owner_that_did_not_answer(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 2, "b": 40})
    a_rows = sorted(_notes(app, demo["enterprises"]["a"]))
    _tried_last_run(app, {a_rows[0]: "ConnectTimeout: timed out"})
    sent: list[str] = []
    # The run's budget is spent when B's receiver says so, not after half a second of a
    # machine that may be slow: B's first POST waits until A's two are sent, then ends it.
    clock, a_done = [0.0], threading.Event()
    monkeypatch.setattr(owner_delivery, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        if url == HOOK_A:
            if sent.count(HOOK_A) == 2:
                a_done.set()
            return 204
        a_done.wait(timeout=30)  # B's receiver holds its lane: A is served beside it
        clock[0] = 1e9  # the run's budget spent
        return 500

    deliver_to_owners(_engine(app), post, NOW, budget=0.5, lanes=4)
    assert sent.count(HOOK_A) == 2 and sent.count(HOOK_B) == 1  # A was not kept waiting


def test_each_post_reads_its_webhook_a_replaced_one_gets_the_rest(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 3})
    moved = "https://oa2.a.example/hooks/cylinders"
    sent: list[str] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(url)
        if len(sent) == 1:
            _set_hook(client, demo, "a", moved)  # replaced while the first POST waits
        return 204

    assert deliver_to_owners(_engine(app), post, NOW).delivered == 3
    assert sent == [HOOK_A, moved, moved]


def test_a_run_offers_at_most_its_share_oldest_in_turns_first(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 4, "b": 1})
    oldest_a = sorted(_notes(app, demo["enterprises"]["a"]))[:2]
    only_b = set(_notes(app, demo["enterprises"]["b"]))
    sent: list[int] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        sent.append(int(headers["Idempotency-Key"].removeprefix("notification-")))
        return 204

    assert deliver_to_owners(_engine(app), post, NOW, most=3).delivered == 3
    assert set(sent) == set(oldest_a) | only_b  # A's two oldest and B's one; two wait
    assert deliver_to_owners(_engine(app), post, NOW, most=3).delivered == 2


def test_each_post_is_signed_at_its_own_moment_and_none_starts_past_the_budget(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 3})
    stamps: list[str] = []
    ticks = iter(range(1_800_000_000, 1_800_000_100, 7))

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        stamps.append(headers[HEADER].split(",")[0])
        return 204

    assert deliver_to_owners(_engine(app), post, NOW, budget=-1.0).delivered == 0
    assert stamps == [] and {r.attempts for r in _deliveries(app).values()} == {0}
    done = deliver_to_owners(_engine(app), post, NOW, clock=lambda: next(ticks))
    assert done.delivered == 3
    assert stamps == ["t=1800000000", "t=1800000007", "t=1800000014"]


def test_rows_a_racing_sweep_queued_for_a_removed_webhook_never_reach_the_next(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    a = demo["enterprises"]["a"]
    _expire(app, a, 2)
    monkeypatch.setattr(jobs, "_post_bytes", lambda *_: 204)
    assert jobs.expiry_sweep(app)["overdue"] == 2  # no webhook yet: nothing queued
    old_notes = sorted(_notes(app, a))
    _set_hook(client, demo, "a", HOOK_A)
    with Session(_engine(app)) as s:
        old = s.get(OwnerWebhook, a)
        assert old is not None
        old_generation = old.generation
    headers = bearer(demo["tokens"]["enterprise_a"])
    assert client.delete(f"/api/v1/enterprises/{a}/webhook", headers=headers).status_code == 204
    secret = _set_hook(client, demo, "a", HOOK_A)
    with Session(_engine(app)) as s:  # what a sweep that read the old webhook commits late
        s.add_all(
            OwnerDelivery(notification_id=n, enterprise_id=a, generation=old_generation)
            for n in old_notes
        )
        s.commit()
    _expire(app, a, 1, skip=2)
    receiver = Receiver(app, {HOOK_A: secret}, {})
    monkeypatch.setattr(jobs, "_post_bytes", receiver)
    deliver = functools.partial(owner_delivery.deliver_to_owners, most=1)
    monkeypatch.setattr(owner_delivery, "deliver_to_owners", deliver)  # stale rows: no place
    swept = jobs.expiry_sweep(app)
    new = sorted(set(_notes(app, a)) - set(old_notes))
    assert swept["owner_queued"] == 1 and swept["owner_delivered"] == 1
    assert receiver.sent == [(HOOK_A, *new)]
    read = client.get(f"/api/v1/enterprises/{a}/webhook", headers=headers).get_json()
    assert (read["pending"], read["failed"], read["given_up"]) == (0, 0, 0)


def test_a_lane_that_fails_stops_the_run_and_its_error_reaches_the_job(
    app: Any, client: Any, demo: dict[str, Any], monkeypatch: Any
) -> None:
    _queue(app, client, demo, monkeypatch, {"a": 3, "b": 3})
    opened = owner_delivery.transaction

    @contextlib.contextmanager
    def failing(engine: Any, write: bool = True) -> Iterator[Any]:
        if write:  # recording an outcome: the database refuses
            raise OSError("disk I/O error")
        with opened(engine, write=write) as session:
            yield session

    monkeypatch.setattr(owner_delivery, "transaction", failing)
    with pytest.raises(OSError, match="disk I/O error"):
        deliver_to_owners(_engine(app), lambda *_: 204, NOW, lanes=2)
    monkeypatch.setattr(owner_delivery, "transaction", opened)
    assert {r.attempts for r in _deliveries(app).values()} == {0}  # nothing recorded
    assert deliver_to_owners(_engine(app), lambda *_: 204, NOW).delivered == 6  # all kept
