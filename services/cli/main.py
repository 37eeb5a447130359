"""``llr``: start and inspect the local platform, issue development tokens, and act as its users.

    llr stack start|stop|status
    llr token ORG ROLE [--person PERSON_ID]
    llr cert verify CREDENTIAL.json          # public, no token
    llr cert show CERTIFICATE_ID --as ORG:MENTORING_ORGANISATION
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import grpc
import typer
from rich.console import Console
from rich.table import Table

from infra.stack import InfraError, Stack
from services.common.auth import Role

from .connect import auth, channel, token

app = typer.Typer(help="The leer- en loopbaanrekening platform on this machine.", no_args_is_help=True)
stack_app = typer.Typer(help="The local Kafka and FerretDB.", no_args_is_help=True)
cert_app = typer.Typer(help="Mentor and leercoach certificates.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(cert_app, name="cert")
console = Console()


def new_request_id() -> str:
    return str(uuid.uuid4())


def fail_rpc(err: grpc.RpcError) -> None:
    console.print(f"[red]{err.code().name}[/red]: {err.details()}")
    raise typer.Exit(1)


@stack_app.command("start")
def stack_start() -> None:
    """Start Kafka and FerretDB (harmless when they already run)."""
    stack = Stack()
    try:
        started = stack.start()
    except InfraError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2)
    console.print(f"started: {', '.join(started) or 'nothing (already running)'}")
    console.print(stack.describe())


@stack_app.command("stop")
def stack_stop() -> None:
    """Stop Kafka and FerretDB."""
    stopped = Stack().stop()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Show whether Kafka and FerretDB are healthy."""
    stack = Stack()
    table = Table("component", "status")
    for name, status in stack.status().items():
        colour = "green" if status == "healthy" else "red"
        table.add_row(name, f"[{colour}]{status}[/{colour}]")
    console.print(table)
    raise typer.Exit(0 if stack.healthy() else 3)


@app.command("token")
def issue_token(organisation_id: str, role: Role, person: str = typer.Option("", help="person id (CITIZEN_COUNTER)"),
                hours: float = 8) -> None:
    """Print a development access token for ORGANISATION_ID acting as ROLE."""
    print(token(organisation_id, role, person, hours))


@cert_app.command("verify")
def cert_verify(credential: Path = typer.Argument(..., help="credential JSON file, or - for standard input")) -> None:
    """Verify a certificate's credential (public: no token needed)."""
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import certification_service_pb2_grpc as rpc

    text = sys.stdin.read() if str(credential) == "-" else credential.read_text()
    try:
        reply = rpc.CertificationServiceStub(channel("certification")).Verify(pb.VerifyRequest(credential_json=text))
    except grpc.RpcError as err:
        fail_rpc(err)
    status = pb.VerificationStatus.Name(reply.status).removeprefix("VERIFICATION_STATUS_")
    colour = "green" if status == "VALID" else "red"
    console.print(f"[{colour}]{status}[/{colour}]")
    if reply.reason:
        console.print(reply.reason)
    for problem in reply.problems:
        console.print(f"- {pb.VerificationStatus.Name(problem.status)}: {problem.reason}")
    raise typer.Exit(0 if status == "VALID" else 1)


@cert_app.command("show")
def cert_show(certificate_id: str, as_: str = typer.Option(..., "--as", help="ORG:ROLE"),
              credential_out: Path | None = typer.Option(None, help="write the signed credential JSON here")) -> None:
    """Show a certificate and optionally save its signed credential."""
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import certification_service_pb2_grpc as rpc

    try:
        reply = rpc.CertificationServiceStub(channel("certification")).GetCertificate(
            pb.GetCertificateRequest(certificate_id=certificate_id), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    c = reply.certificate
    table = Table("field", "value")
    for name in ("certificate_id", "holder_id", "organisation_id", "valid_from", "valid_until", "credential_id"):
        table.add_row(name, str(getattr(c, name)))
    table.add_row("status", pb.CertificateStatus.Name(c.status))
    console.print(table)
    if credential_out:
        credential_out.write_text(json.dumps(json.loads(reply.credential_json), indent=2))
        console.print(f"credential written to {credential_out}")


if __name__ == "__main__":
    app()
