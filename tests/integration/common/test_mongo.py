"""mongoengine against the real FerretDB: round trip and a unique index that rejects a duplicate."""
from __future__ import annotations

import mongoengine
import pytest
from mongoengine import Document, IntField, StringField

from services.common.mongo import connect, disconnect
from services.common.settings import ServiceSettings


class Provider(Document):
    provider_id = StringField(primary_key=True)
    name = StringField(required=True)
    enterprise_number = StringField(required=True, unique=True)
    offers = IntField(default=0)
    meta = {"db_alias": "test-common", "collection": "providers"}


@pytest.fixture
def connected(mongo_uri, unique):
    settings = ServiceSettings(mongo_uri=mongo_uri, mongo_db=f"test_{unique}", service_name="test-common")
    db = connect(settings, alias="test-common")
    Provider.ensure_indexes()
    yield db
    db.client.drop_database(db.name)
    disconnect("test-common")


def test_round_trip_and_unique_index(connected):
    Provider(provider_id="p1", name="Syntra West", enterprise_number="0123.456.789").save(force_insert=True)
    loaded = Provider.objects.get(provider_id="p1")
    assert (loaded.name, loaded.enterprise_number, loaded.offers) == ("Syntra West", "0123.456.789", 0)

    with pytest.raises(mongoengine.NotUniqueError):
        Provider(provider_id="p2", name="Copycat", enterprise_number="0123.456.789").save(force_insert=True)
    with pytest.raises(mongoengine.NotUniqueError):
        Provider(provider_id="p1", name="Same id", enterprise_number="0999.999.999").save(force_insert=True)
    assert Provider.objects.count() == 1
    assert Provider.objects.get(provider_id="p1").name == "Syntra West"


def test_ferretdb_looks_documents_up_by_id_through_its_index(stack, mongo_db):
    """infra/ferretdb/build.sh corrects FerretDB v1.24.2's `_id` filter expression to the one its
    `_id` index is built on, so lookups, updates and deletes by `_id` use the index instead of
    scanning the table. The binary carries the corrected expression, and `_id` filters on
    strings and ObjectIds still find exactly the right documents."""
    from bson import ObjectId

    binary = stack.settings.home / "bin" / "ferretdb"
    code = binary.read_bytes()
    assert b'_ferretdb_sjson->"_id"' in code, "built without infra/ferretdb/build.sh's correction"
    coll = mongo_db["lookups"]
    oid = ObjectId()
    coll.insert_many([{"_id": f"acc-{i:04d}", "n": i} for i in range(300)] + [{"_id": oid, "n": -1}, {"_id": 7, "n": 7}])
    assert coll.find_one({"_id": "acc-0299"})["n"] == 299
    assert coll.find_one({"_id": "acc-0300"}) is None
    assert coll.find_one({"_id": oid})["n"] == -1 and coll.find_one({"_id": 7})["n"] == 7
    assert coll.update_one({"_id": "acc-0150"}, {"$set": {"n": 1500}}).modified_count == 1
    assert coll.find_one({"_id": "acc-0150"})["n"] == 1500
    assert coll.delete_one({"_id": "acc-0000"}).deleted_count == 1 and coll.count_documents({}) == 301
