"""The aggregate-store contract on the in-memory fake (the integration suite runs it on FerretDB)."""
from __future__ import annotations

from services.common.persistence import InMemoryAggregateStore, InMemoryOnceStore, InMemoryOutbox
from tests.contracts.aggregate_store import AggregateStoreContract, OnceStoreContract


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
