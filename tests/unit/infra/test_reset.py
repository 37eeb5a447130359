"""``make reset`` (``infra.reset``) wipes the platform's data and keeps the tools."""
from __future__ import annotations

import socket

import pytest

from infra.reset import reset
from infra.run import SERVICE_ORDER, free_port
from infra.stack import InfraSettings


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A checkout's .llr with tools, keys, data and logs; services configured on idle ports."""
    home = tmp_path / ".llr"
    for d in ("venv/bin", "kafka/libs", "bin", "gen", "keys", "data/kafka", "data/ferretdb", "data/kpi", "logs/kafka"):
        (home / d).mkdir(parents=True)
    (home / "kafka/libs/kafka_2.13-3.9.2.jar").write_bytes(b"jar")
    (home / "bin/ferretdb").write_bytes(b"binary")
    (home / "keys/token-signing.pem").write_bytes(b"key")
    (home / "data/kafka/meta.properties").write_text("cluster.id=x")
    (home / "data/ferretdb/llr_accounts.sqlite").write_bytes(b"x" * 4096)
    (home / "data/platform-run.json").write_text("{}")
    (home / "logs/accounts.log").write_text("old log")
    for name in SERVICE_ORDER:
        monkeypatch.setenv(f"LLR_{name.upper()}_GRPC_PORT", str(free_port()))
    monkeypatch.setenv("LLR_KPI_DATA_DIR", str(home / "data/kpi"))
    return home


def settings(home) -> InfraSettings:
    return InfraSettings(home=home, kafka_port=free_port(), kafka_controller_port=free_port(),
                         ferretdb_port=free_port())


def test_reset_removes_data_and_logs_and_keeps_tools_and_keys(home):
    said = []
    assert reset(settings(home), out=said.append) == 0
    assert not (home / "data").exists() and not (home / "logs").exists()
    for kept in ("venv/bin", "kafka/libs/kafka_2.13-3.9.2.jar", "bin/ferretdb", "gen", "keys/token-signing.pem"):
        assert (home / kept).exists(), kept
    text = "\n".join(said)
    assert f"{home / 'data'}  (Kafka topics, FerretDB databases, KPI state, run record" in text
    assert "kept (tools and development keys)" in text and str(home / "keys") in text
    assert "the next `make run` starts on fresh data with the demo" in text
    # A second reset has nothing left to do and says so.
    said.clear()
    assert reset(settings(home), out=said.append) == 0
    assert any("nothing to remove" in line for line in said)


def test_reset_refuses_while_the_platform_runs(home, monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("LLR_ENROLMENTS_GRPC_PORT", str(listener.getsockname()[1]))
        said = []
        assert reset(settings(home), out=said.append) == 2
    assert "the platform is running (enrolments (127.0.0.1:" in said[0] and "nothing was removed" in said[0]
    assert (home / "data/ferretdb/llr_accounts.sqlite").exists()
