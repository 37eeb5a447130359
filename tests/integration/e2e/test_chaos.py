"""Chaos in ``make test``: under load, the broker is killed twice (down longer than the consumers'
session timeout), each service once and FerretDB once; after they came back and the platform is
quiet, nothing a user would notice is wrong (see ``chaos.py`` for the audit). ``make chaos`` runs
20 kills."""
from __future__ import annotations

from .chaos import run


def test_kills_of_every_process_under_load_leave_no_anomaly(stack):
    audit = run(stack, kills=7, seed=7)
    print(audit.report())
    assert audit.kills == ["kafka", "accounts", "enrolments", "kafka", "certification", "kpi", "ferretdb"]
    assert audit.acknowledged >= 30, audit.report()
    assert audit.kpi_cells > 0, audit.report()
    assert audit.anomalies == [], audit.report()
