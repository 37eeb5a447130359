"""Adapters of the certification service: document mapping, event mapping and issuer key files
(no database needed)."""
from __future__ import annotations

import copy
import dataclasses
import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llr.certification.v1 import events_pb2
from services.certification.adapters import events as event_mapping
from services.certification.adapters.issuer_key import generate_issuer_key_file, load_issuer_key
from services.certification.adapters.mapping import (
    certificate_fields, certificate_from, training_fields, training_from,
)
from services.certification.domain.credentials.encoding import ED25519_PRIV_MULTICODEC, multibase_encode
from services.certification.domain.credentials.keys import public_key_multibase
from services.common.envelope import unwrap

from .builders import T0, issued_leercoach, policy, training

ISSUER = "did:web:certificering.llr.example"


def state(cert):
    return {k: v for k, v in dataclasses.asdict(cert).items() if k != "pending_events"}


def test_certificate_documents_round_trip_through_every_status():
    org, cand, recs, cert = issued_leercoach(T0)
    snapshots = [copy.deepcopy(cert)]
    cert.suspend(reason="complaint", now=T0 + timedelta(days=10))
    snapshots.append(copy.deepcopy(cert))
    cert.reinstate(now=T0 + timedelta(days=20))
    later = T0 + timedelta(days=365 * 3 - 30)
    recs.append(training(org, cand, "LC-CE", hours=21, on=later.date() - timedelta(days=5)))
    cert.renew(trainings=recs, policy=policy(later.date()), now=later)
    snapshots.append(copy.deepcopy(cert))
    cert.revoke(reason="fraud", now=later + timedelta(days=1))
    snapshots.append(copy.deepcopy(cert))
    assert [c.status.value for c in snapshots] == ["ACTIVE", "SUSPENDED", "ACTIVE", "REVOKED"]
    for c in snapshots:
        fields = certificate_fields(c, 7, '{"id": "x"}')
        stored = certificate_from({"_id": c.certificate_id, **fields})
        assert state(stored.certificate) == state(c)
        assert (stored.qualification_number, stored.credential_json) == (7, '{"id": "x"}')


def test_training_records_round_trip_with_exact_hours():
    org, cand, _, _ = issued_leercoach(T0)
    rec = training(org, cand, "LC-DAY-1", hours="3.25")
    assert training_from(training_fields(rec)) == rec


def test_domain_events_map_to_the_protobuf_contract():
    org, cand, recs, cert = issued_leercoach(T0)
    issued = cert.pull_events()
    cert.suspend(reason="complaint", now=T0)
    cert.reinstate(now=T0 + timedelta(days=1))
    cert.revoke(reason="fraud", now=T0 + timedelta(days=2))
    lifecycle = cert.pull_events()
    envelopes = [event_mapping.to_envelope(e, aggregate_version=0) for e in issued + lifecycle]
    assert [e.event_type for e in envelopes] == [
        "llr.certification.v1.CertificateIssued", "llr.certification.v1.CertificateSuspended",
        "llr.certification.v1.CertificateReinstated", "llr.certification.v1.CertificateRevoked"]
    assert [e.aggregate_version for e in envelopes] == [1, 2, 3, 4]
    assert {e.aggregate_id for e in envelopes} == {cert.certificate_id}
    body = unwrap(envelopes[0])
    assert isinstance(body, events_pb2.CertificateIssued)
    assert (body.holder_id, body.role, body.valid_until, body.qualification_number) == (
        cand.person_id, events_pb2.CREDENTIAL_TYPE_LEERCOACH, "2028-03-02", 1)
    assert unwrap(envelopes[3]).reason == "fraud"
    # Deterministic, unique event ids: a retried command yields the same ids.
    again = [event_mapping.to_envelope(e, aggregate_version=0) for e in issued + lifecycle]
    assert [e.event_id for e in again] == [e.event_id for e in envelopes]
    assert len({e.event_id for e in envelopes}) == len(envelopes)


def test_training_hours_are_decimal_strings_in_events():
    from services.certification.domain.model import TrainingRecord
    org, cand, _, _ = issued_leercoach(T0)
    _, event = TrainingRecord.record(org, cand, record_id="r-1", module_id="M", hours="3.50",
                                     completed_on=T0.date(), result="PASSED", now=T0)
    body = unwrap(event_mapping.to_envelope(event, aggregate_version=2))
    assert (body.hours, body.completed_on, body.result) == ("3.5", T0.date().isoformat(), "PASSED")


@pytest.mark.parametrize("form", ["pem", "seed", "hex", "multibase"])
def test_the_issuer_key_file_may_hold_any_configured_form(tmp_path, form):
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    content = {
        "pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()),
        "seed": seed,
        "hex": seed.hex().encode() + b"\n",
        "multibase": multibase_encode(ED25519_PRIV_MULTICODEC + seed).encode() + b"\n",
    }[form]
    path = tmp_path / "issuer.key"
    path.write_bytes(content)
    loaded = load_issuer_key(path, issuer_id=ISSUER, key_id="key-1")
    assert loaded.verification_method == f"{ISSUER}#key-1"
    assert public_key_multibase(loaded.public_key) == public_key_multibase(key.public_key())


def test_missing_or_bad_issuer_key_files_are_clear_errors(tmp_path):
    with pytest.raises(RuntimeError, match="LLR_CERTIFICATION_ISSUER_KEY_FILE"):
        load_issuer_key(tmp_path / "absent.pem", issuer_id=ISSUER, key_id="k")
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    with pytest.raises(RuntimeError, match="bad.pem"):
        load_issuer_key(bad, issuer_id=ISSUER, key_id="k")


def test_a_generated_development_key_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "issuer.pem"
    generate_issuer_key_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_issuer_key(path, issuer_id=ISSUER, key_id="k").issuer_id == ISSUER
    with pytest.raises(FileExistsError):
        generate_issuer_key_file(path)
