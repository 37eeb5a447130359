"""``llr``: start and inspect the local platform, issue development tokens, and act as its users.

    llr stack start|stop|status
    llr token ORG ROLE [--person PERSON_ID]
    llr offers --as PROVIDER:PROVIDER
    llr enrol post --as PROVIDER:PROVIDER --person P --offer O --start YYYY-MM-DD --end YYYY-MM-DD
    llr enrol show ENROLMENT_ID --as PROVIDER:PROVIDER
    llr account show PERSON_ID --as vdab:REGISSEUR          # wallets, holds, explained balance
    llr cert register PERSON_ID --role LEERCOACH --as ORG:MENTORING_ORGANISATION
    llr cert train CANDIDATE_ID MODULE HOURS [--result PASSED] --as ORG:MENTORING_ORGANISATION
    llr cert issue CANDIDATE_ID --as ORG:MENTORING_ORGANISATION [--credential-out c.json]
    llr cert show CERTIFICATE_ID --as ORG:MENTORING_ORGANISATION [--credential-out c.json]
    llr cert verify CREDENTIAL.json                          # public, no token
    llr kpi list|watch [--kpi participation_12m] [--cell province=] --as statbel:KPI_CONSUMER

``--as ORG:ROLE`` signs a development token with the key ``make run`` created (.llr/keys).
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
enrol_app = typer.Typer(help="Training enrolments (as a training provider).", no_args_is_help=True)
account_app = typer.Typer(help="Learning and career accounts.", no_args_is_help=True)
kpi_app = typer.Typer(help="Participation KPIs (aggregates only).", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(cert_app, name="cert")
app.add_typer(enrol_app, name="enrol")
app.add_typer(account_app, name="account")
app.add_typer(kpi_app, name="kpi")
AS = typer.Option(..., "--as", help="ORG:ROLE, e.g. prov-cvo-gent:PROVIDER")
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


def _stub(service: str, module: str, name: str):
    import importlib

    rpc = importlib.import_module(f"llr.{service}.v1.{module}_pb2_grpc")
    return getattr(rpc, f"{name}Stub")(channel(service))


def _enum(enum, prefix: str, value: str, option: str) -> int:
    """The protobuf enum number of ``prefix + VALUE``, or a clear error listing the choices."""
    try:
        return enum.Value(prefix + value.upper())
    except ValueError:
        choices = ", ".join(n.removeprefix(prefix) for n in enum.keys() if not n.endswith("UNSPECIFIED"))
        console.print(f"[red]error[/red]: --{option} must be one of {choices}; got {value!r}")
        raise typer.Exit(2)


def _enrolment_table(e) -> Table:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    table = Table("field", "value")
    for name in ("enrolment_id", "person_id", "provider_id", "offer_id", "provider_reference", "planned_start",
                 "planned_end", "price_cents", "leercoach_id"):
        table.add_row(name, str(getattr(e, name)))
    table.add_row("instrument", pb.FundingInstrument.Name(e.instrument).removeprefix("FUNDING_INSTRUMENT_"))
    table.add_row("status", pb.EnrolmentStatus.Name(e.status).removeprefix("ENROLMENT_STATUS_"))
    return table


@app.command("offers")
def offers(as_: str = AS) -> None:
    """List the offers of the calling provider."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    try:
        reply = _stub("enrolments", "enrolments_service", "EnrolmentService").ListOffers(
            pb.ListOffersRequest(page_size=100), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    table = Table("title", "price (EUR)", "hours", "start window")
    table.add_column("offer_id", no_wrap=True, min_width=36)  # copied into `llr enrol post --offer`
    for o in reply.offers:
        table.add_row(o.title, f"{o.price_cents / 100:.2f}", str(o.hours), f"{o.earliest_start} .. {o.latest_start}",
                      o.offer_id)
    console.print(table)


@enrol_app.command("post")
def enrol_post(as_: str = AS, person: str = typer.Option(...), offer: str = typer.Option(...),
               start: str = typer.Option(..., help="planned start, YYYY-MM-DD"),
               end: str = typer.Option(..., help="planned end, YYYY-MM-DD"),
               instrument: str = typer.Option("TRAINING_BUDGET", help="TRAINING_BUDGET, TRAINING_CHEQUES, "
                                              "TRAINING_LEAVE or CAREER_CHEQUE"),
               leercoach: str = typer.Option("", help="person id of a certified leercoach"),
               reference: str = typer.Option("", help="the provider's own reference"),
               request_id: str = typer.Option("", help="repeat a request safely; default: a new one")) -> None:
    """Post one enrolment; the funding decision follows through the accounts service."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    kind = _enum(pb.FundingInstrument, "FUNDING_INSTRUMENT_", instrument, "instrument")
    try:
        reply = _stub("enrolments", "enrolments_service", "EnrolmentService").CreateEnrolment(
            pb.CreateEnrolmentRequest(request_id=request_id or new_request_id(), person_id=person, offer_id=offer,
                                      planned_start=start, planned_end=end, instrument=kind,
                                      leercoach_id=leercoach, provider_reference=reference), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    console.print(_enrolment_table(reply.enrolment))


@enrol_app.command("show")
def enrol_show(enrolment_id: str, as_: str = AS) -> None:
    """Show one enrolment and its status (REQUESTED, FUNDED, REJECTED, STARTED, ...)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    try:
        reply = _stub("enrolments", "enrolments_service", "EnrolmentService").GetEnrolment(
            pb.GetEnrolmentRequest(enrolment_id=enrolment_id), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    console.print(_enrolment_table(reply.enrolment))


@account_app.command("show")
def account_show(person_id: str, as_: str = AS,
                 wallet: str = typer.Option("TRAINING_BUDGET", help="the wallet whose balance is explained")) -> None:
    """Show a person's wallets and holds, and explain one wallet's balance entry by entry."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = _stub("accounts", "accounts_service", "AccountService")
    metadata = auth(as_, person_id if as_.upper().endswith(":CITIZEN_COUNTER") else "")
    try:
        account = stub.GetAccount(pb.GetAccountRequest(person_id=person_id), metadata=metadata).account
        explained = stub.ExplainBalance(pb.ExplainBalanceRequest(person_id=person_id, wallet=wallet), metadata=metadata)
    except grpc.RpcError as err:
        fail_rpc(err)
    wallets = Table("wallet", "unit", "balance", "held", "available", title=f"account of {person_id}")
    for w in account.wallets:
        wallets.add_row(w.wallet, w.unit, str(w.balance), str(w.held), str(w.available))
    console.print(wallets)
    lines = Table("#", "when", "entry", "amount", "balance", "held", "available", "why",
                  title=f"{explained.wallet}: balance {explained.balance} = the sum of these entries")
    for line in explained.lines:
        e = line.entry
        lines.add_row(str(e.seq), e.occurred_at[:10], e.kind, str(e.amount), str(line.balance_after),
                      str(line.held_after), str(line.available_after), e.explanation)
    console.print(lines)


@cert_app.command("register")
def cert_register(person_id: str, as_: str = AS, role: str = typer.Option("LEERCOACH", help="LEERCOACH or MENTOR")) -> None:
    """Register a candidate of the calling mentoring organisation."""
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import events_pb2 as ev

    kind = _enum(ev.CredentialType, "CREDENTIAL_TYPE_", role, "role")
    try:
        reply = _stub("certification", "certification_service", "CertificationService").RegisterCandidate(
            pb.RegisterCandidateRequest(request_id=new_request_id(), person_id=person_id, role=kind),
            metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    console.print(f"candidate [bold]{reply.candidate.candidate_id}[/bold] registered")


@cert_app.command("train")
def cert_train(candidate_id: str, module: str, hours: str, as_: str = AS,
               on: str = typer.Option("", "--date", help="YYYY-MM-DD; default today"),
               result: str = typer.Option("NOT_ASSESSED", help="PASSED, FAILED or NOT_ASSESSED")) -> None:
    """Record a completed training module (and its assessment) of a candidate."""
    from datetime import date

    from llr.certification.v1 import certification_service_pb2 as pb

    outcome = _enum(pb.AssessmentResult, "ASSESSMENT_RESULT_", result, "result")
    try:
        _stub("certification", "certification_service", "CertificationService").RecordTraining(
            pb.RecordTrainingRequest(request_id=new_request_id(), candidate_id=candidate_id, module_id=module,
                                     hours=hours, completed_on=on or date.today().isoformat(), result=outcome),
            metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    console.print(f"{module} recorded for {candidate_id}")


@cert_app.command("issue")
def cert_issue(candidate_id: str, as_: str = AS,
               credential_out: Path | None = typer.Option(None, help="write the signed credential JSON here")) -> None:
    """Issue the certificate when the requirements hold (otherwise: what is missing)."""
    from llr.certification.v1 import certification_service_pb2 as pb

    try:
        reply = _stub("certification", "certification_service", "CertificationService").IssueCertificate(
            pb.IssueCertificateRequest(request_id=new_request_id(), candidate_id=candidate_id), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    c = reply.certificate
    console.print(f"certificate [bold]{c.certificate_id}[/bold] valid {c.valid_from} .. {c.valid_until}")
    if credential_out:
        credential_out.write_text(json.dumps(json.loads(reply.credential_json), indent=2))
        console.print(f"credential written to {credential_out}")


def _kpi_row(c) -> tuple[str, ...]:
    if c.suppressed:
        return c.kpi, c.cell, c.reference_date, "suppressed", ""
    value = f"{c.numerator / c.denominator:.1%}" if c.HasField("denominator") and c.denominator else str(c.numerator)
    detail = f"{c.numerator}/{c.denominator}" if c.HasField("denominator") else ""
    return c.kpi, c.cell, c.reference_date, value, detail


@kpi_app.command("list")
def kpi_list(as_: str = AS, kpi: str = typer.Option("participation_12m"), cell: str = typer.Option("")) -> None:
    """The current value of every cell of a KPI (suppressed cells carry no numbers)."""
    from llr.kpi.v1 import kpi_service_pb2 as pb

    try:
        reply = _stub("kpi", "kpi_service", "KpiService").List(
            pb.ListRequest(kpi=kpi, cell_prefix=cell, page_size=1000), metadata=auth(as_))
    except grpc.RpcError as err:
        fail_rpc(err)
    table = Table("kpi", "cell", "reference date", "value", "numerator/denominator")
    for c in reply.cells:
        table.add_row(*_kpi_row(c))
    console.print(table)


@kpi_app.command("watch")
def kpi_watch(as_: str = AS, kpi: str = typer.Option("participation_4w"),
              cell: str = typer.Option("region=flanders")) -> None:
    """Follow a KPI live: the current cells, then every change (Ctrl-C stops)."""
    from llr.kpi.v1 import kpi_service_pb2 as pb

    stream = _stub("kpi", "kpi_service", "KpiService").Subscribe(
        pb.SubscribeRequest(kpi=kpi, cell_prefix=cell), metadata=auth(as_))
    try:
        for reply in stream:
            console.print("  ".join(_kpi_row(reply.cell)))
    except grpc.RpcError as err:
        fail_rpc(err)
    except KeyboardInterrupt:
        stream.cancel()


if __name__ == "__main__":
    app()
