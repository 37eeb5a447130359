"""MilestoneReached from the atomic qualification counter, with a policy whose milestone is low."""
from __future__ import annotations

import pytest
import yaml

from llr.certification.v1 import events_pb2
from services.certification.domain.policy import POLICY_FILE

from .conftest import payload, types


@pytest.fixture
def settings(settings, tmp_path):
    data = yaml.safe_load(POLICY_FILE.read_text())
    data["versions"][0]["milestones"]["LEERCOACH"] = {"every": 1000, "at": [3]}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return settings.model_copy(update={"policy_file": path})


def test_the_nth_leercoach_qualification_is_a_milestone(client, events):
    client.accredit("org-a")
    certs = [client.issue("org-a", client.qualified_leercoach("org-a", f"coach-{i}").candidate_id).certificate
             for i in range(4)]
    assert [c.qualification_number for c in certs] == [1, 2, 3, 4]
    seen = events(lambda evs: "MilestoneReached" in types(evs) and types(evs).count("CertificateIssued") == 4)
    milestones = [payload(e) for e in seen if e.event_type.endswith("MilestoneReached")]
    assert [(m.role, m.count, m.certificate_id) for m in milestones] == [
        (events_pb2.CREDENTIAL_TYPE_LEERCOACH, 3, certs[2].certificate_id)]
    # On the certificate's key, right after its CertificateIssued.
    assert types(seen, certs[2].certificate_id) == ["CertificateIssued", "MilestoneReached"]
