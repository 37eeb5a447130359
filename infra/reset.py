"""``make reset``: wipe the platform's data and keep the tools.

Removed: ``<home>/data`` (Kafka's topics, FerretDB's databases, the KPI service's state and the
run record of ``infra.run``) and the logs (``<home>/logs``, which describe the data that is gone).
Nothing outside the home is touched: a KPI state directory configured elsewhere
(``LLR_KPI_DATA_DIR``) is named, not removed. Kept: everything ``make`` downloaded or
built (the virtualenv, the Kafka jars, the FerretDB binary, the generated protobuf code) and the
development keys in ``<home>/keys`` (the token-signing key pair and the credential issuer key are
the development identity of the platform, not its data; ``docker compose`` uses them too; delete
that directory by hand for new ones).

Kafka and FerretDB hold the data files open, so a running local stack is stopped first (and left
stopped: ``make run`` starts it again). A running platform is not: the reset refuses while any
service answers on its port, because wiping the data under running services would leave them
with state that no longer exists anywhere else.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from infra.stack import InfraSettings, Stack, port_in_use


def running_services() -> list[str]:
    """The services whose gRPC port answers (``make run`` in another terminal)."""
    from infra.run import SERVICE_ORDER, _grpc_port

    return [f"{name} (127.0.0.1:{port})" for name in SERVICE_ORDER
            if (port := _grpc_port(name)) and port_in_use(port)]


def size_mib(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total / 2**20


def reset(settings: InfraSettings | None = None, out=print) -> int:
    from services.kpi.settings import KpiSettings

    settings = settings or InfraSettings()
    home = settings.home
    busy = running_services()
    if busy:
        out(f"error: the platform is running ({', '.join(busy)}): stop `make run` (Ctrl-C) first, "
            f"then `make reset`; nothing was removed")
        return 2
    stopped = Stack(settings).stop()
    if stopped:
        out(f"stopped {' and '.join(stopped)} (they hold the data files; `make run` starts them again)")
    targets = [(home / "data", "Kafka topics, FerretDB databases, KPI state, run record"),
               (home / "logs", "logs of the services and the infrastructure")]
    removed = []
    for path, what in targets:
        if path.exists():
            mib = size_mib(path)
            shutil.rmtree(path)
            removed.append(f"  {path}  ({what}; {mib:.0f} MiB)")
    if removed:
        out("removed:")
        for line in removed:
            out(line)
    else:
        out(f"nothing to remove: no data under {home}")
    kpi_dir = KpiSettings().data_dir
    if kpi_dir.exists() and not kpi_dir.resolve().is_relative_to(home.resolve()):
        out(f"note: the KPI state directory {kpi_dir} (LLR_KPI_DATA_DIR) is outside {home} and was not "
            f"removed; remove it by hand, or the KPI service will not match the fresh Kafka")
    kept = [p for p in (home / "venv", home / "kafka", home / "bin", home / "gen", home / "keys") if p.exists()]
    if kept:
        out("kept (tools and development keys): " + ", ".join(str(p) for p in kept))
    out("the next `make run` starts on fresh data with the demo")
    return 0


def main() -> int:
    return reset()


if __name__ == "__main__":
    sys.exit(main())
