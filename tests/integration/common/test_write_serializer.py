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


def test_guarded_version_checked_updates_from_many_threads_lose_nothing(coll):
    """Version-checked updates filter by _id alone on FerretDB (a guard in the filter makes the
    write scan the collection); the guard is checked under a lock of the document, so no update is lost
    and every lost race is reported as one."""
    from services.common.mongo import guarded_delete_one, guarded_find_one_and_update, guarded_update_one

    coll.insert_one({"_id": "agg", "version": 0, "seen": []})
    conflicts = []

    def worker(name: str) -> None:
        for i in range(40):
            while True:
                version = coll.find_one({"_id": "agg"})["version"]
                if guarded_find_one_and_update(coll, "agg", {"version": version},
                                               {"$set": {"version": version + 1}, "$push": {"seen": f"{name}{i}"}}):
                    break
                conflicts.append(name)
    _run(*[(lambda n=n: worker(n)) for n in "abcd"])
    doc = coll.find_one({"_id": "agg"})
    assert doc["version"] == 160 and len(doc["seen"]) == len(set(doc["seen"])) == 160
    assert guarded_find_one_and_update(coll, "agg", {"version": 3}, {"$set": {"x": 1}}) is None
    assert not guarded_update_one(coll, "agg", {"seen": {"$ne": "a0"}}, {"$set": {"x": 1}})
    assert guarded_update_one(coll, "agg", {"seen": {"$ne": "z9"}}, {"$set": {"x": 1}})
    assert not guarded_delete_one(coll, "agg", {"version": {"$lte": 100}})
    assert guarded_delete_one(coll, "agg", {"version": {"$gte": 160}}) and coll.count_documents({}) == 0
