"""The contract of ``services.common.persistence.AggregateStore``, for every adapter.

A subclass provides ``make_store(stream)`` (a store of that stream on a fresh database) and
``pending(store, sweep)`` (the outbox items of its database). The unit suite runs it on the
in-memory fake, the integration suite on the real FerretDB with no write serialisation.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from google.protobuf.wrappers_pb2 import StringValue

from services.common.envelope import wrap
from services.common.errors import AlreadyExists, ConcurrencyConflict
from services.common.outbox import PendingEvent
from services.common.persistence import AggregateNotFound, AggregateStore, Decision, Record


def event(aggregate_id: str, text: str, topic: str = "test.contract") -> PendingEvent:
    return PendingEvent(topic, wrap(StringValue(value=text), aggregate_type="counter", aggregate_id=aggregate_id,
                                    aggregate_version=1, producer="contract", occurred_at=datetime.now(timezone.utc),
                                    event_id=f"{aggregate_id}:{text}"))


def withdraw(amount: int):
    """A use case with an invariant: the balance never goes below zero."""
    def decide(record: Record) -> Decision[bool]:
        if record.body["balance"] < amount:
            return Decision(False)
        return Decision(True, {"balance": record.body["balance"] - amount,
                               "withdrawals": record.body["withdrawals"] + 1},
                        [event(record.id, f"withdrawal {record.version + 1}")])
    return decide


class AggregateStoreContract:
    """Stores are used with ``local_queue`` off: what is proven here holds without it."""

    def make_store(self, stream: str) -> AggregateStore:
        raise NotImplementedError

    def pending(self, store: AggregateStore, sweep: bool = False) -> list:
        return store.outbox.pending(sweep)

    # -- loading and creating ---------------------------------------------------------------------
    def test_a_missing_aggregate_loads_as_none(self):
        assert self.make_store("things").load("nothing") is None

    def test_created_aggregate_loads_at_version_one(self):
        store = self.make_store("things")
        created = store.create("t-1", {"name": "one", "tags": ["a"]})
        assert created == Record("t-1", 1, {"name": "one", "tags": ["a"]})
        assert store.load("t-1") == created

    def test_creating_twice_is_already_exists_and_keeps_the_first(self):
        store = self.make_store("things")
        store.create("t-1", {"name": "first"})
        with pytest.raises(AlreadyExists):
            store.create("t-1", {"name": "second"})
        assert store.load("t-1").body == {"name": "first"}

    def test_a_body_may_not_carry_the_fields_the_store_owns(self):
        store = self.make_store("things")
        with pytest.raises(ValueError, match="version"):
            store.create("t-1", {"version": 3})
        assert store.load("t-1") is None

    def test_streams_do_not_see_each_other(self):
        a, b = self.make_store("apples"), self.make_store("pears")
        a.create("x", {"kind": "apple"})
        assert b.load("x") is None

    # -- saving ---------------------------------------------------------------------------------
    def test_save_commits_the_next_version(self):
        store = self.make_store("things")
        v1 = store.create("t-1", {"n": 1})
        v2 = store.save(v1, {"n": 2})
        assert (v2.version, store.load("t-1")) == (2, Record("t-1", 2, {"n": 2}))

    def test_peek_shows_every_answered_change(self):
        store = self.make_store("things")
        assert store.peek("t-1") is None
        v1 = store.create("t-1", {"n": 1})
        assert store.peek("t-1") == v1
        store.update("t-1", lambda r: Decision(None, {"n": 2}))
        assert store.peek("t-1") == Record("t-1", 2, {"n": 2})

    def test_save_on_a_stale_version_is_a_conflict_and_changes_nothing(self):
        store = self.make_store("things")
        v1 = store.create("t-1", {"n": 1})
        store.save(v1, {"n": 2})
        with pytest.raises(ConcurrencyConflict):
            store.save(v1, {"n": 99})
        assert store.load("t-1") == Record("t-1", 2, {"n": 2})

    def test_update_decides_on_the_newest_state(self):
        store = self.make_store("accounts")
        store.create("acc", {"balance": 10, "withdrawals": 0})
        assert store.update("acc", withdraw(4)) is True
        assert store.update("acc", withdraw(7)) is False
        assert store.load("acc") == Record("acc", 2, {"balance": 6, "withdrawals": 1})

    def test_update_of_a_missing_aggregate_is_not_found(self):
        with pytest.raises(AggregateNotFound):
            self.make_store("accounts").update("nobody", withdraw(1))

    # -- concurrency ----------------------------------------------------------------------------
    def test_concurrent_changes_are_never_lost(self):
        store = self.make_store("counters")
        store.create("c", {"n": 0})
        increment = lambda r: Decision(None, {"n": r.body["n"] + 1})  # noqa: E731
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: store.update("c", increment), range(80)))
        assert store.load("c") == Record("c", 81, {"n": 80})

    def test_concurrent_withdrawals_never_overspend(self):
        store = self.make_store("accounts")
        store.create("acc", {"balance": 10, "withdrawals": 0})
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda _: store.update("acc", withdraw(1)), range(40)))
        assert outcomes.count(True) == 10
        assert store.load("acc").body == {"balance": 0, "withdrawals": 10}

    def test_concurrent_creates_make_one_aggregate(self):
        store = self.make_store("things")
        won, lock = [], threading.Lock()

        def create(i: int) -> None:
            try:
                store.create("same", {"by": i})
                with lock:
                    won.append(i)
            except AlreadyExists:
                pass
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(16)))
        assert len(won) == 1
        assert store.load("same") == Record("same", 1, {"by": won[0]})

    def test_create_many_creates_what_does_not_exist_yet(self):
        store = self.make_store("things")
        store.create("b", {"n": "old"})
        created = store.create_many([("a", {"n": 1}, [event("a", "made")]), ("b", {"n": 2}, [event("b", "made")]),
                                     ("c", {"n": 3}, [])])
        assert created == [True, False, True]
        assert [store.load(i).body for i in "abc"] == [{"n": 1}, {"n": "old"}, {"n": 3}]
        assert store.update("a", lambda r: Decision(None, {"n": r.body["n"] + 1})) is None
        assert store.load("a") == Record("a", 2, {"n": 2})
        assert [e["event_id"] for item in self.pending(store) for e in item.events] == ["a:made"]

    # -- outbox -----------------------------------------------------------------------------------
    def test_events_of_a_commit_wait_in_the_outbox_until_done(self):
        store = self.make_store("accounts")
        store.create("acc", {"balance": 5, "withdrawals": 0}, [event("acc", "opened")])
        store.update("acc", withdraw(2))
        store.update("acc", withdraw(9))  # refused: no commit, no event
        items = self.pending(store)
        texts = sorted(e["event_id"] for item in items for e in item.events)
        assert texts == ["acc:opened", "acc:withdrawal 2"]
        store.outbox.done(items)
        assert self.pending(store, sweep=True) == []

    def test_a_commit_without_events_leaves_nothing_to_publish(self):
        store = self.make_store("things")
        store.create("t-1", {"n": 1})
        assert self.pending(store, sweep=True) == []


class OnceStoreContract:
    """``OnceStore``: the first put of a key wins, under any concurrency."""

    def make_once_store(self, name: str):
        raise NotImplementedError

    def test_the_first_put_of_a_key_wins(self):
        store = self.make_once_store("requests")
        assert store.get("k") is None
        assert store.put("k", {"answer": 1}) is True
        assert store.put("k", {"answer": 2}) is False
        assert store.get("k") == {"answer": 1}

    def test_put_many_stores_the_new_keys_and_keeps_the_first_body_of_the_others(self):
        store = self.make_once_store("requests")
        store.put("b", {"answer": "first"})
        assert store.put_many({"a": {"answer": 1}, "b": {"answer": 2}, "c": {"answer": 3}}) == {"b"}
        assert [store.get(k) for k in "abc"] == [{"answer": 1}, {"answer": "first"}, {"answer": 3}]
        assert store.put_many({}) == set()

    def test_concurrent_puts_of_one_key_store_one_body(self):
        store = self.make_once_store("requests")
        with ThreadPoolExecutor(8) as pool:
            won = list(pool.map(lambda i: store.put("same", {"by": i}), range(16)))
        assert won.count(True) == 1
        assert store.get("same") == {"by": won.index(True)}


class KeyedLogContract:
    """``KeyedLog``: numbered entries under a key, none lost or doubled under concurrency."""

    def make_log(self, name: str, fresh: bool = False):
        """A log on the same storage; ``fresh``: as another process would open it."""
        raise NotImplementedError

    def test_entries_are_numbered_from_one_and_read_in_order(self):
        log = self.make_log("deadlines")
        assert [log.append("2025-04-01", {"id": x}) for x in "abc"] == [1, 2, 3]
        log.append("2025-04-02", {"id": "z"})
        assert log.read("2025-04-01") == [(1, {"id": "a"}), (2, {"id": "b"}), (3, {"id": "c"})]
        assert log.read("2025-04-01", after=2) == [(3, {"id": "c"})]
        assert log.read("2025-04-03") == []

    def test_concurrent_appenders_in_several_processes_lose_nothing(self):
        logs = [self.make_log("deadlines", fresh=True) for _ in range(3)]
        logs[0].append("day", {"id": "first"})
        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(lambda i: logs[i % 3].append("day", {"id": i}), range(60)))
        assert sorted(numbers) == list(range(2, 62))
        entries = self.make_log("deadlines", fresh=True).read("day")
        assert [n for n, _ in entries] == list(range(1, 62))
        assert sorted(e["id"] for _, e in entries[1:]) == list(range(60))

    def test_append_each_adds_one_entry_under_each_key_and_reads_page_by_page(self):
        log = self.make_log("trail")
        log.append("a", {"n": 0})
        assert log.append_each(["a", "b", "a"], {"n": 1}) == {"a": 2, "b": 1}
        assert log.read("a") == [(1, {"n": 0}), (2, {"n": 1})]
        assert log.read("b") == [(1, {"n": 1})]
        for n in range(2, 6):
            log.append("a", {"n": n})
        assert log.read("a", after=1, limit=2) == [(2, {"n": 1}), (3, {"n": 2})]
        assert log.read("a", after=5, limit=2) == [(6, {"n": 5})]

    def test_an_entry_is_never_overwritten(self):
        logs = [self.make_log("trail", fresh=True) for _ in range(2)]
        logs[0].append("k", {"by": "first"})
        # The second instance (another process) knows nothing of "k": it must not write over entry 1.
        assert logs[1].append_each(["k", "new"], {"by": "second"}) == {"k": 2, "new": 1}
        assert self.make_log("trail", fresh=True).read("k") == [(1, {"by": "first"}), (2, {"by": "second"})]

    def test_concurrent_appenders_of_one_entry_under_several_keys_leave_no_gap_and_no_double(self):
        logs = [self.make_log("trail", fresh=True) for _ in range(3)]
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda i: logs[i % 3].append_each(["hot", f"own-{i}", "warm" if i % 2 else "hot"],
                                                                  {"i": i}), range(60)))
        reader = self.make_log("trail", fresh=True)
        hot, warm = reader.read("hot"), reader.read("warm")
        assert [n for n, _ in hot] == list(range(1, 61)) and sorted(e["i"] for _, e in hot) == list(range(60))
        assert [n for n, _ in warm] == list(range(1, 31))
        assert sorted(e["i"] for _, e in warm) == list(range(1, 60, 2))
        assert all(g[f"own-{i}"] == 1 for i, g in enumerate(got))
