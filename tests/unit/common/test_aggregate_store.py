"""The aggregate-store contract on the in-memory fake (the integration suite runs it on FerretDB)."""
from __future__ import annotations

from services.common.persistence import InMemoryAggregateStore, InMemoryKeyedLog, InMemoryOnceStore, InMemoryOutbox
from tests.contracts.aggregate_store import AggregateStoreContract, KeyedLogContract, OnceStoreContract


class TestInMemoryAggregateStore(AggregateStoreContract):
    def setup_method(self) -> None:
        self.outbox = InMemoryOutbox()

    def make_store(self, stream: str) -> InMemoryAggregateStore:
        store = InMemoryAggregateStore(stream, self.outbox)
        store.local_queue = False
        return store


class TestInMemoryOnceStore(OnceStoreContract):
    def make_once_store(self, name: str) -> InMemoryOnceStore:
        return InMemoryOnceStore()


class TestInMemoryKeyedLog(KeyedLogContract):
    def setup_method(self) -> None:
        self.log = InMemoryKeyedLog()

    def make_log(self, name: str, fresh: bool = False) -> InMemoryKeyedLog:
        return self.log  # one process's memory is the whole storage of the fake
