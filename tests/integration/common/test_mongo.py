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
