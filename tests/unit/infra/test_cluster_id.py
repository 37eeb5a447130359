import base64
import uuid

from infra import stack


def test_a_cluster_id_never_starts_with_a_dash_so_the_storage_tool_cannot_read_it_as_an_option(monkeypatch):
    # The first UUID would encode to an id starting with '-' (0xf8 -> "-"): it must be drawn again.
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=bytes(range(16)))
    draws = iter([dashed, plain])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(dashed.bytes).decode().startswith("-")

    cluster_id = stack.kafka_cluster_id()

    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).rstrip(b"=").decode()
    assert len(cluster_id) == 22
