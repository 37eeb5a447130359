"""FerretDB v1 loses concurrent updates of one document; the services' connections serialise
write commands so that single-document updates are atomic again (services/common/mongo.py)."""
from __future__ import annotations

import threading

import pytest
from pymongo import ReturnDocument

from services.common.mongo import make_client


@pytest.fixture
def coll(mongo_uri, unique):
    client = make_client(mongo_uri)
    db = client[f"test_{unique}"]
    yield db["race"]
    client.drop_database(db.name)
    client.close()


def _run(*targets):
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_increments_and_pushes_are_all_kept(coll):
    coll.insert_one({"_id": 1, "n": 0, "items": []})

    def inc():
        for _ in range(150):
            coll.update_one({"_id": 1}, {"$inc": {"n": 1}})

    def push():
        for i in range(150):
            coll.update_one({"_id": 1}, {"$push": {"items": i}})

    _run(inc, inc, push)
    doc = coll.find_one({"_id": 1})
    assert doc["n"] == 300
    assert sorted(doc["items"]) == list(range(150))


def test_version_checked_updates_race_a_blind_writer_without_losing_either(coll):
    coll.insert_one({"_id": 1, "version": 0, "a": [], "b": []})

    def compare_and_set():
        for i in range(100):
            while True:
                doc = coll.find_one({"_id": 1})
                if coll.find_one_and_update({"_id": 1, "version": doc["version"]},
                                            {"$set": {"version": doc["version"] + 1, "a": doc["a"] + [i]}},
                                            return_document=ReturnDocument.AFTER):
                    break

    def blind():
        for i in range(100):
            coll.update_one({"_id": 1}, {"$push": {"b": i}})

    _run(compare_and_set, blind)
    doc = coll.find_one({"_id": 1})
    assert doc["a"] == list(range(100))
    assert sorted(doc["b"]) == list(range(100))
    assert doc["version"] == 100
