"""The project's own infrastructure scripts: idempotent start, clear port errors, clean stop.

These use a second, private FerretDB on other ports and a temporary home, so they do not disturb
the stack the rest of the session runs on.
"""
from __future__ import annotations

import socket

import pytest

from infra.stack import InfraError, InfraSettings, Stack, pid_alive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_stack(stack, tmp_path):
    home = tmp_path / "llr"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "ferretdb").symlink_to(stack.ferretdb_bin)
    settings = InfraSettings(home=home, ferretdb_port=_free_port(), kafka_port=_free_port(),
                             kafka_controller_port=_free_port(), start_timeout_s=60)
    private = Stack(settings)
    yield private
    private.stop()


def test_start_twice_is_harmless_and_stop_leaves_no_process(private_stack):
    ferret = private_stack.ferretdb
    assert ferret.start(60) is True
    pid = ferret.pid()
    assert pid is not None and ferret.healthy()
    assert ferret.start(60) is False, "second start leaves the running server alone"
    assert ferret.pid() == pid
    assert ferret.stop(10) is True
    assert not pid_alive(pid)
    assert ferret.status() == "stopped"
    assert ferret.stop(10) is False


def test_a_port_taken_by_another_process_is_named(private_stack):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", private_stack.settings.ferretdb_port))
        blocker.listen()
        with pytest.raises(InfraError, match=f"port {private_stack.settings.ferretdb_port} \\(ferretdb\\)"):
            private_stack.ferretdb.start(10)
    assert private_stack.ferretdb.pid() is None


def test_the_session_stack_is_healthy(stack):
    assert stack.status() == {"ferretdb": "healthy", "kafka": "healthy"}
