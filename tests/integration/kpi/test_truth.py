"""Truth: on a generated data set of 50,000 persons and over 100,000 enrolment events produced to the
real broker, the KPIs the service serves equal the independent batch recount of the source
partitions exactly; a replay from offset 0 into a fresh state (new app id, empty RocksDB) serves
exactly the same. The measured rates are printed (run with ``-s``), never asserted."""
from __future__ import annotations

import time
import uuid
from collections import Counter

from services.kpi.domain.synthetic import SyntheticConfig, generate

from .conftest import as_pb, expected_cells, produce, read_source_partitions, served, wait_for

ENROLMENT_EVENTS = {"EnrolmentRequested", "EnrolmentFunded", "EnrolmentRejected", "EnrolmentStarted",
                    "EnrolmentCompleted", "EnrolmentCancelled", "EnrolmentNoShow", "EnrolmentDroppedOut"}


def serve_until_equal(kpi, token, expected, timeout_s: float = 600) -> float:
    started = time.monotonic()
    try:
        wait_for(lambda: served(kpi.list_all(token)) == expected, timeout_s, "the recount to be served", pause_s=1)
    except AssertionError:
        got = served(kpi.list_all(token))
        diff = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        raise AssertionError(f"{len(diff)} of {len(expected)} cells differ, e.g. {diff[:5]}\n{kpi.log()}")
    return time.monotonic() - started


def test_streaming_projection_equals_the_batch_recount_and_a_replay(start_kpi, kafka, consumer_token):
    namespace = f"t{uuid.uuid4().hex[:10]}."
    events = generate(SyntheticConfig(persons=50_000, enrolments=30_000, seed=20250101))
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["PersonRegistered"] >= 50_000
    assert sum(n for k, n in kinds.items() if k in ENROLMENT_EVENTS) >= 100_000

    first = start_kpi(namespace, f"kpi-a-{namespace}", readout_interval_s=2)
    fed = produce(kafka, namespace, events)
    # The replay starts once the log is complete, into a fresh state (new app id, empty RocksDB)
    # from offset 0, while the live projection is still catching up: both must serve the recount.
    # (Running them side by side uses both cores; the test does not depend on the overlap.)
    replay = start_kpi(namespace, f"kpi-b-{namespace}", readout_interval_s=2)
    started = time.monotonic()
    expected = as_pb(expected_cells(read_source_partitions(kafka, namespace), first.settings))
    assert sum(1 for k in expected if k[0] == "participation_4w") > 100  # many cells, municipalities included
    live_s = serve_until_equal(first, consumer_token, expected)
    assert first.stop() == 0
    serve_until_equal(replay, consumer_token, expected)
    replay_s = time.monotonic() - started
    print(f"\n[kpi truth] {len(events)} events ({sum(n for k, n in kinds.items() if k in ENROLMENT_EVENTS)} "
          f"enrolment events, {kinds['PersonRegistered']} persons); produced at {fed['per_second']:.0f} events/s; "
          f"served equal to the recount {live_s:.1f}s after producing ended; replay from offset 0 served "
          f"equal in {replay_s:.1f}s = {len(events) / replay_s:.0f} events/s end to end (side by side with the live "
          f"projection catching up); {len(expected)} cells")
