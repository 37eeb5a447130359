"""``domain.signals.Signal`` -> ``llr.kpi.v1.FraudSignal``."""
from __future__ import annotations

from llr.kpi.v1 import kpi_service_pb2 as api

from services.kpi.domain.signals import Signal


def signal_to_pb(signal: Signal) -> api.FraudSignal:
    return api.FraudSignal(
        signal_id=signal.signal_id, rule=signal.rule, subject=signal.subject,
        window_start=signal.window_start.isoformat(), window_end=signal.window_end.isoformat(),
        policy_version=signal.policy_version, summary=signal.summary,
        figures=[api.Figure(name=name, value=value) for name, value in signal.figures],
        provider_ids=signal.provider_ids, person_ids=signal.person_ids, enrolment_ids=signal.enrolment_ids,
        truncated=signal.truncated)
