"""``llr``: start and inspect the local platform, issue development tokens, and act as its users.

    llr stack start|stop|status
    llr token ORG ROLE [--person PERSON_ID]
    llr provider accredit|suspend|reinstate|show PROVIDER_ID --as vdab:REGISSEUR
    llr provider rescreen PROVIDER_ID --as vdab:REGISSEUR
    llr organisation accredit|suspend|reinstate|rescreen|show ORGANISATION_ID --as vdab:REGISSEUR
    llr policies [--kind KIND] --as vdab:REGISSEUR
    llr offers [publish] --as PROVIDER:PROVIDER
    llr enrol post --as PROVIDER:PROVIDER --person P --offer O --start YYYY-MM-DD --end YYYY-MM-DD
    llr enrol bulk FILE.csv --as PROVIDER:PROVIDER                   # per-row results
    llr enrol show|start|complete|dropout|cancel ENROLMENT_ID --as PROVIDER:PROVIDER
    llr payables list [--status OVERDUE] --as PROVIDER:PROVIDER      # or vdab:REGISSEUR [--provider P]
    llr payables pay PAYABLE_ID --reference R --amount EUR [--paid-on D] --as payments:SERVICE
    llr payables stats [--provider P] --as vdab:REGISSEUR            # payment-term p50/p95, overdue
    llr account show PERSON_ID --as vdab:REGISSEUR                   # wallets, holds, explained balance
    llr account show PERSON_ID --as loket:CITIZEN_COUNTER:PERSON_ID  # a counter serves one person
    llr account credit|assess PERSON_ID --as vdab:REGISSEUR
    llr account pop PERSON_ID --offer O [--offer O2] --as loket:CITIZEN_COUNTER:PERSON_ID  # the POP
    llr cheque buy|guidance PERSON_ID --as loket:CITIZEN_COUNTER:PERSON_ID
    llr guidance accredit CENTRE_ID --name NAME --as vdab:REGISSEUR    # a career centre (loopbaancentrum)
    llr guidance redeem PERSON_ID CHEQUE_ID --centre CENTRE_ID --as loket:CITIZEN_COUNTER:PERSON_ID
    llr guidance step PERSON_ID CHEQUE_ID PHASE [--hours H] [--score MEANING=3 ...] --as CENTRE:CAREER_CENTRE
    llr guidance cash|show PERSON_ID CHEQUE_ID --as CENTRE:CAREER_CENTRE
    llr guidance list [--centre CENTRE_ID] --as CENTRE:CAREER_CENTRE    # the centre's trajectories
    llr cert register PERSON_ID --role LEERCOACH --as ORG:MENTORING_ORGANISATION
    llr cert train CANDIDATE_ID MODULE HOURS [--result PASSED] --as ORG:MENTORING_ORGANISATION
    llr cert issue CANDIDATE_ID --as ORG:MENTORING_ORGANISATION [--credential-out c.json]
    llr cert show CERTIFICATE_ID --as ORG:MENTORING_ORGANISATION [--credential-out c.json]
    llr cert verify CREDENTIAL.json                                  # public, no token
    llr kpi list|watch [--kpi participation_12m] [--cell province=] --as statbel:KPI_CONSUMER
    llr audit account|enrolment|provider|certificate|organisation|candidate|opening ID --as vdab:REGISSEUR
    llr signals [--rule enrolment_burst] [--subject ID] --as vdab:REGISSEUR  # fraud signals, evidence

``--as ORG:ROLE`` signs a development token with the key ``make run`` created (.llr/keys).
Exit codes: 0 done, 1 the platform said no (the gRPC status and its reason are printed) or a
check failed, 2 a usage error (what to type instead is printed).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import sys
import threading
import uuid
from pathlib import Path

import grpc
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.stack import InfraError, Stack
from services.common.auth import Role

from . import show
from .connect import auth, channel, endpoint, parse_identity, platform_today, service_settings, token
from .show import UsageError, money


def _typer(help_text: str) -> typer.Typer:
    # Plain (click-style) help: no boxes, and no `<bool>` type markers on flags; as wide as the
    # terminal up to 120 columns, so one-line descriptions are not cut at 80.
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None, add_completion=False,
                       context_settings={"max_content_width": 120})


app = _typer("The leer- en loopbaanrekening platform on this machine.")
stack_app = _typer("The local Kafka and FerretDB.")
provider_app = _typer("Training providers (the regisseur accredits, suspends and reinstates them).")
org_app = _typer("Mentoring organisations (the regisseur accredits, re-screens, suspends and reinstates them).")
cert_app = _typer("Mentor and leercoach certificates.")
enrol_app = _typer("Training enrolments (as a training provider).")
account_app = _typer("Learning and career accounts.")
# `llr offers --as P:PROVIDER` lists (the group's callback), `llr offers publish` adds one.
offers_app = typer.Typer(rich_markup_mode=None, add_completion=False, context_settings={"max_content_width": 120})
cheque_app = _typer("Career cheques (loopbaancheques), at a citizen's counter.")
kpi_app = _typer("Participation KPIs (aggregates only).")
payables_app = _typer("Payment terms: what the platform owes training providers, and when.")
guidance_app = _typer("Career guidance at accredited career centres (loopbaancentra), paid with a career cheque.")
opening_app = _typer("Budget openings: a limited budget shared out by a seeded lottery after a window.")
app.add_typer(stack_app, name="stack")
app.add_typer(offers_app, name="offers")
app.add_typer(provider_app, name="provider")
app.add_typer(org_app, name="organisation")
app.add_typer(org_app, name="org", hidden=True)   # the short name of earlier releases
app.add_typer(cert_app, name="cert")
app.add_typer(enrol_app, name="enrol")
app.add_typer(account_app, name="account")
app.add_typer(cheque_app, name="cheque")
app.add_typer(guidance_app, name="guidance")
app.add_typer(kpi_app, name="kpi")
app.add_typer(opening_app, name="opening")
app.add_typer(payables_app, name="payables")

AS = typer.Option(..., "--as", metavar="ORG:ROLE",
                  help="who acts, e.g. prov-cvo-gent:PROVIDER or vdab:REGISSEUR; a citizen's counter "
                       "names the person it serves: loket-gent:CITIZEN_COUNTER:PERSON_ID")
REGISSEUR = typer.Option(..., "--as", metavar="ORG:ROLE", help="the regisseur, e.g. vdab:REGISSEUR")


def _instruments() -> list[str]:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    return [n.removeprefix("FUNDING_INSTRUMENT_") for n in pb.FundingInstrument.keys() if not n.endswith("UNSPECIFIED")]


INSTRUMENTS = _instruments()


def _console(stderr: bool = False) -> Console:
    # Outside a terminal (a pipe, a file, a test) rich would wrap at 80 columns: let lines be
    # long. Messages on stderr are never wrapped (a terminal folds them itself).
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(stderr=stderr, width=None if wide else 200, soft_wrap=stderr)


console = _console()
err_console = _console(stderr=True)
_last_service: list[str] = [""]


def new_request_id() -> str:
    return str(uuid.uuid4())


def fail_rpc(err: grpc.RpcError) -> None:
    code = err.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        service = _last_service[0]
        ca_file = service_settings(service).grpc_tls_ca_file
        how = (f"over TLS trusting {ca_file}" if ca_file else
               f"in plaintext (a service with a certificate needs LLR_{service.upper()}_GRPC_TLS_CA_FILE)")
        err_console.print(f"[red]UNAVAILABLE[/red]: the {service} service at {endpoint(service)} does not answer "
                          f"{escape(how)}; is the platform running (`make run`)?")
    else:
        err_console.print(f"[red]{code.name}[/red]: {escape(err.details() or '')}")
    raise typer.Exit(1)


def usage_error(message: str) -> None:
    err_console.print(f"[red]error[/red]: {escape(message)}")
    raise typer.Exit(2)


def handled(fn):
    """Every command: a usage error or an RPC error is one clear line on stderr, never a traceback."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            usage_error(str(exc))
        except grpc.RpcError as err:
            fail_rpc(err)
    return run


def _stub(service: str, module: str, name: str, chan: grpc.Channel | None = None):
    import importlib

    _last_service[0] = service
    rpc = importlib.import_module(f"llr.{service}.v1.{module}_pb2_grpc")
    return getattr(rpc, f"{name}Stub")(chan or channel(service))


def _enum(enum, prefix: str, value: str, option: str) -> int:
    """The protobuf enum number of ``prefix + VALUE``, or a clear error listing the choices."""
    try:
        return enum.Value(prefix + value.upper())
    except ValueError:
        choices = ", ".join(n.removeprefix(prefix) for n in enum.keys() if not n.endswith("UNSPECIFIED"))
        raise UsageError(f"--{option} must be one of {choices}; got {value!r}") from None


def _name(enum, prefix: str, number: int) -> str:
    return enum.Name(number).removeprefix(prefix)


def _fields(title: str | None = None) -> Table:
    return Table("field", "value", title=title, title_justify="left")


# --- the local infrastructure -------------------------------------------------------------------
@stack_app.command("start")
def stack_start() -> None:
    """Start Kafka and FerretDB (harmless when they already run)."""
    stack = Stack()
    try:
        started = stack.start()
    except InfraError as exc:
        err_console.print(f"[red]error[/red]: {escape(str(exc))}")
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
@handled
def issue_token(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"),
                role: Role = typer.Argument(..., metavar="ROLE"),
                person: str = typer.Option("", metavar="PERSON_ID", help="the person a CITIZEN_COUNTER serves"),
                hours: float = typer.Option(8, metavar="HOURS", help="validity")) -> None:
    """Print a development access token for ORGANISATION_ID acting as ROLE."""
    print(token(organisation_id, role, person, hours))


# --- the regisseur: providers, organisations, policies -------------------------------------------
def _provider_table(p) -> Table:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    table = _fields()
    table.add_row("provider_id", p.provider_id)
    table.add_row("name", escape(p.name))
    table.add_row("status", _name(pb.ProviderStatus, "PROVIDER_STATUS_", p.status))
    if p.suspension_reason:
        table.add_row("suspension reason", escape(p.suspension_reason))
    table.add_row("mandated career centre", "yes" if p.mandated_career_centre else "no")
    if p.accredited_until:
        table.add_row("accredited until", f"{p.accredited_until} (screened {p.screened_on})")
    return table


@provider_app.command("accredit")
@handled
def provider_accredit(provider_id: str = typer.Argument(..., metavar="PROVIDER_ID"),
                      name: str = typer.Option(..., metavar="NAME", help="the provider's name"),
                      career_centre: bool = typer.Option(False, "--career-centre",
                                                         help="a mandated career centre (loopbaancentrum)"),
                      as_: str = REGISSEUR) -> None:
    """Accredit a training provider (again with the same name: nothing changes)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").AccreditProvider(
        pb.AccreditProviderRequest(request_id=new_request_id(), provider_id=provider_id, name=name,
                                   mandated_career_centre=career_centre), metadata=auth(as_))
    console.print(_provider_table(reply.provider))


@provider_app.command("suspend")
@handled
def provider_suspend(provider_id: str = typer.Argument(..., metavar="PROVIDER_ID"),
                     reason: str = typer.Option(..., metavar="TEXT", help="why (shown to the provider)"),
                     as_: str = REGISSEUR) -> None:
    """Suspend a provider: it can post no new enrolments and its payables are frozen until it is reinstated."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").SuspendProvider(
        pb.SuspendProviderRequest(request_id=new_request_id(), provider_id=provider_id, reason=reason),
        metadata=auth(as_))
    console.print(_provider_table(reply.provider))


@provider_app.command("reinstate")
@handled
def provider_reinstate(provider_id: str = typer.Argument(..., metavar="PROVIDER_ID"), as_: str = REGISSEUR) -> None:
    """Reinstate a suspended provider (its frozen payables can be paid again)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").ReinstateProvider(
        pb.ReinstateProviderRequest(request_id=new_request_id(), provider_id=provider_id), metadata=auth(as_))
    console.print(_provider_table(reply.provider))


@provider_app.command("rescreen")
@handled
def provider_rescreen(provider_id: str = typer.Argument(..., metavar="PROVIDER_ID"), as_: str = REGISSEUR) -> None:
    """Record a new screening of a provider today: its accreditation is renewed for the policy's period."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").RescreenProvider(
        pb.RescreenProviderRequest(request_id=new_request_id(), provider_id=provider_id), metadata=auth(as_))
    console.print(_provider_table(reply.provider))


@provider_app.command("show")
@handled
def provider_show(provider_id: str = typer.Argument(..., metavar="PROVIDER_ID"), as_: str = AS) -> None:
    """Show a provider (the regisseur, or the provider itself)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").GetProvider(
        pb.GetProviderRequest(provider_id=provider_id), metadata=auth(as_))
    console.print(_provider_table(reply.provider))


def _organisation_table(o) -> Table:
    from llr.certification.v1 import certification_service_pb2 as pb

    table = _fields()
    table.add_row("organisation_id", o.organisation_id)
    table.add_row("name", escape(o.name))
    table.add_row("status", _name(pb.OrganisationStatus, "ORGANISATION_STATUS_", o.status))
    if o.suspension_reason:
        table.add_row("suspension reason", escape(o.suspension_reason))
    if o.accredited_until:
        table.add_row("accredited until", f"{o.accredited_until} (screened {o.screened_on})")
    return table


def _organisation_call(method: str, as_: str, **fields) -> None:
    """Call ``method`` of the certification service with ``fields`` and show the organisation."""
    from llr.certification.v1 import certification_service_pb2 as pb

    request = getattr(pb, f"{method}Request")(**fields)
    reply = getattr(_stub("certification", "certification_service", "CertificationService"), method)(
        request, metadata=auth(as_))
    console.print(_organisation_table(reply.organisation))


@org_app.command("accredit")
@handled
def org_accredit(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"),
                 name: str = typer.Option(..., metavar="NAME", help="the organisation's name"),
                 as_: str = REGISSEUR) -> None:
    """Accredit a mentoring organisation for the policy's period (again with the same name: nothing changes)."""
    _organisation_call("AccreditOrganisation", as_, request_id=new_request_id(), organisation_id=organisation_id,
                       name=name)


@org_app.command("suspend")
@handled
def org_suspend(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"),
                reason: str = typer.Option(..., metavar="TEXT", help="why"), as_: str = REGISSEUR) -> None:
    """Suspend an organisation: it registers, trains, certifies and assigns nothing until reinstated."""
    _organisation_call("SuspendOrganisation", as_, request_id=new_request_id(), organisation_id=organisation_id,
                       reason=reason)


@org_app.command("reinstate")
@handled
def org_reinstate(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"), as_: str = REGISSEUR) -> None:
    """Reinstate a suspended organisation."""
    _organisation_call("ReinstateOrganisation", as_, request_id=new_request_id(), organisation_id=organisation_id)


@org_app.command("rescreen")
@handled
def org_rescreen(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"), as_: str = REGISSEUR) -> None:
    """Record a new screening today: the accreditation is renewed for the policy's period."""
    _organisation_call("RescreenOrganisation", as_, request_id=new_request_id(), organisation_id=organisation_id)


@org_app.command("show")
@handled
def org_show(organisation_id: str = typer.Argument(..., metavar="ORGANISATION_ID"), as_: str = AS) -> None:
    """Show an organisation and its accreditation (the regisseur, or the organisation itself)."""
    _organisation_call("GetOrganisation", as_, organisation_id=organisation_id)


@app.command("policies")
@handled
def policies(kind: str = typer.Option("", metavar="KIND",
                                      help="TRAINING_BUDGET, TRAINING_CHEQUE, TRAINING_LEAVE or CAREER_CHEQUE; "
                                           "default every kind"),
             as_: str = AS) -> None:
    """The policy versions of the accounts service: what is in force from when, and its source."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").ListPolicies(
        pb.ListPoliciesRequest(kind=kind.upper()), metadata=auth(as_))
    table = Table("policy", "kind", "in force", "captured at", "source", title="policies", title_justify="left")
    for p in reply.policies:
        period = f"{p.effective_from} .. {p.effective_until or 'open'}"
        note = " (illustrative)" if p.illustrative else ""
        table.add_row(p.id, p.kind, period, p.capture_point or "-", escape(p.source) + note)
    console.print(table)


# --- the regisseur: the audit trail ------------------------------------------------------------------
AUDIT_SERVICES = ("accounts", "certification", "enrolments")   # the services that keep a trail


def _audit_entries(service: str, kind: str, subject_id: str, metadata) -> list:
    from llr.common.v1 import audit_pb2, audit_pb2_grpc

    _last_service[0] = service
    stub, entries, page_token = audit_pb2_grpc.AuditServiceStub(channel(service)), [], ""
    while True:
        reply = stub.GetAuditTrail(audit_pb2.GetAuditTrailRequest(kind=kind, id=subject_id, page_size=500,
                                                                  page_token=page_token), metadata=metadata)
        entries += reply.entries
        page_token = reply.next_page_token
        if not page_token:
            return entries


@app.command("audit")
@handled
def audit_trail(kind: str = typer.Argument(..., metavar="KIND",
                                           help="account (by person id), enrolment, provider, certificate, "
                                                "organisation, candidate or opening"),
                subject_id: str = typer.Argument(..., metavar="ID"), as_: str = REGISSEUR) -> None:
    """Every command on a subject, in every service, oldest first: who, when, and what was decided why."""
    from llr.common.v1 import audit_pb2
    from services.common.audit import KINDS

    if kind not in KINDS:
        raise UsageError(f"KIND must be one of {', '.join(KINDS)}; got {kind!r}")
    metadata = auth(as_)
    entries = [(service, e) for service in AUDIT_SERVICES for e in _audit_entries(service, kind, subject_id, metadata)]
    entries.sort(key=lambda se: (se[1].at.seconds, se[1].at.nanos, se[0], se[1].seq))
    table = Table("at", "service #", "actor", "command", "request id", "decision", "reason",
                  title=f"audit trail of {kind} {subject_id}", title_justify="left")
    for service, e in entries:
        decision = audit_pb2.AuditDecision.Name(e.decision).removeprefix("AUDIT_DECISION_")
        colour = "green" if decision == "ACCEPTED" else "red"
        table.add_row(e.at.ToDatetime().isoformat(timespec="seconds") + "Z", f"{service} #{e.seq}",
                      escape(f"{e.actor.organisation_id}:{e.actor.role} ({e.actor.subject})"),
                      e.method.rsplit("/", 1)[-1], escape(e.request_id) or "-",
                      f"[{colour}]{decision}[/{colour}]" + ("" if e.code == "OK" else f" {e.code}"),
                      escape(e.reason) or "-")
    console.print(table if entries else f"no command on {kind} {escape(subject_id)} in the audit trail")


# --- training providers: offers and enrolments -----------------------------------------------------
@offers_app.callback(invoke_without_command=True)
@handled
def offers(ctx: typer.Context,
           as_: str = typer.Option("", "--as", metavar="ORG:ROLE", help="the provider, e.g. prov-cvo-gent:PROVIDER, "
                                   "or the regisseur with --provider"),
           provider: str = typer.Option("", metavar="PROVIDER_ID", help="the regisseur: whose offers")) -> None:
    """A provider's offers: `llr offers --as P:PROVIDER` lists them, `llr offers publish` adds one."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    if ctx.invoked_subcommand:
        return
    if not as_:
        raise UsageError("--as is required, e.g. llr offers --as prov-cvo-gent:PROVIDER")
    organisation, role, _ = parse_identity(as_)
    provider_id = provider or organisation
    if role not in (Role.PROVIDER, Role.REGISSEUR):
        raise UsageError("--as: offers are listed by a PROVIDER (its own) or the REGISSEUR (--provider)")
    if role is Role.REGISSEUR and not provider:
        raise UsageError("--provider: the regisseur names the provider whose offers to list")
    stub = _stub("enrolments", "enrolments_service", "EnrolmentService")
    metadata = auth(as_)
    try:
        stub.GetProvider(pb.GetProviderRequest(provider_id=provider_id), metadata=metadata)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.NOT_FOUND:
            raise UsageError(f"no provider {provider_id!r} is known to the platform (the regisseur accredits "
                             f"providers: llr provider accredit)") from None
        raise
    found, page = [], ""
    while True:
        reply = stub.ListOffers(pb.ListOffersRequest(page_size=100, page_token=page,
                                                     provider_id=provider if role is Role.REGISSEUR else ""),
                                metadata=metadata)
        found.extend(reply.offers)
        if not (page := reply.next_page_token):
            break
    if not found:
        console.print(f"provider {provider_id} has no offers")
        return
    table = Table("title", "price", "hours", "start window", "instruments", title=f"offers of {provider_id}",
                  title_justify="left")
    table.add_column("offer_id", no_wrap=True)  # copied into `llr enrol post --offer`
    for o in found:
        table.add_row(escape(o.title), money(o.price_cents), str(o.hours), f"{o.earliest_start} .. {o.latest_start}",
                      _instrument_names(o.instruments), o.offer_id)
    console.print(table)


def _instrument_names(numbers) -> str:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    return ", ".join(_name(pb.FundingInstrument, "FUNDING_INSTRUMENT_", i) for i in numbers)


@offers_app.command("publish")
@handled
def offers_publish(as_: str = AS, title: str = typer.Option(..., metavar="TITLE"),
                   price: str = typer.Option(..., metavar="EUR", help="the price in euro, e.g. 450 or 450.00"),
                   hours: int = typer.Option(..., metavar="HOURS", help="contact hours"),
                   earliest: str = typer.Option(..., metavar="YYYY-MM-DD", help="first possible start"),
                   latest: str = typer.Option(..., metavar="YYYY-MM-DD", help="last possible start"),
                   instrument: list[str] = typer.Option(["TRAINING_BUDGET"], metavar="INSTRUMENT",
                                                        help=f"accepted funding (repeat for more): "
                                                             f"{', '.join(INSTRUMENTS)}"),
                   training_database: bool = typer.Option(False, "--in-training-database",
                                                          help="listed in the Flemish training database "
                                                               "(training cheques need it)"),
                   training_leave: bool = typer.Option(False, "--training-leave",
                                                       help="qualifies for Flemish training leave"),
                   request_id: str = typer.Option("", metavar="ID",
                                                  help="repeat a request safely (the offer id derives from it); "
                                                       "default: a new one")) -> None:
    """Publish an offer of the calling provider."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    kinds = [_enum(pb.FundingInstrument, "FUNDING_INSTRUMENT_", i, "instrument") for i in instrument]
    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").CreateOffer(
        pb.CreateOfferRequest(request_id=request_id or new_request_id(), title=title,
                              price_cents=show.parse_euro(price, "price"), hours=hours, earliest_start=earliest,
                              latest_start=latest, instruments=kinds, in_training_database=training_database,
                              eligible_for_training_leave=training_leave), metadata=auth(as_))
    o = reply.offer
    table = _fields()
    for label, value in (("offer_id", o.offer_id), ("title", escape(o.title)), ("price", money(o.price_cents)),
                         ("hours", str(o.hours)), ("start window", f"{o.earliest_start} .. {o.latest_start}"),
                         ("instruments", _instrument_names(o.instruments)),
                         ("training database", "listed" if o.in_training_database else "not listed"),
                         ("training leave", "eligible" if o.eligible_for_training_leave else "not eligible")):
        table.add_row(label, value)
    console.print(table)


def _enrolment_table(e) -> Table:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    status = _name(pb.EnrolmentStatus, "ENROLMENT_STATUS_", e.status)
    table = _fields()
    for label, value in (("enrolment_id", e.enrolment_id), ("status", status),
                         ("rejection reason", e.rejection_reason),
                         ("cancellation reason", e.cancellation_reason + (" (late)" if e.late_cancellation else "")
                          if e.cancellation_reason else ""),
                         ("person_id", e.person_id), ("provider_id", e.provider_id), ("offer_id", e.offer_id),
                         ("reference", e.provider_reference),
                         ("instrument", _name(pb.FundingInstrument, "FUNDING_INSTRUMENT_", e.instrument)),
                         ("planned", f"{e.planned_start} .. {e.planned_end}"),
                         ("price", money(e.price_cents)), ("hours", str(e.hours)),
                         ("leercoach_id", e.leercoach_id),
                         ("reserved", money(e.reserved_cents) if e.reservation_id else ""),
                         ("captured", money(e.captured_cents) if e.captured_cents else ""),
                         ("started", e.start_date), ("ended", e.end_date),
                         ("hours attended", str(e.hours_attended) if e.hours_attended else ""),
                         ("outcome", _name(pb.Outcome, "OUTCOME_", e.outcome) if e.outcome else ""),
                         ("next deadline", e.next_deadline)):
        if value:
            table.add_row(label, escape(value))
    return table


def derived_reference(provider_id: str, *parts: str) -> str:
    """A provider reference derived from the request: posting the same enrolment again (a retry)
    returns the first one instead of being refused as an overlap."""
    digest = hashlib.sha256("|".join((provider_id, *parts)).encode()).hexdigest()[:12]
    return f"cli-{digest}"


@enrol_app.command("post")
@handled
def enrol_post(as_: str = AS, person: str = typer.Option(..., metavar="PERSON_ID"),
               offer: str = typer.Option(..., metavar="OFFER_ID", help="from `llr offers`"),
               start: str = typer.Option(..., metavar="YYYY-MM-DD", help="planned start"),
               end: str = typer.Option(..., metavar="YYYY-MM-DD", help="planned end"),
               instrument: str = typer.Option("TRAINING_BUDGET", metavar="INSTRUMENT",
                                              help=f"how it is funded: {', '.join(INSTRUMENTS)}"),
               leercoach: str = typer.Option("", metavar="PERSON_ID", help="a certified leercoach who guides"),
               reference: str = typer.Option("", metavar="REFERENCE",
                                             help="the provider's own reference; default: one derived from "
                                                  "the request, printed"),
               request_id: str = typer.Option("", metavar="ID",
                                              help="repeat a request safely; default: a new one")) -> None:
    """Post one enrolment; the funding decision follows through the accounts service."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    organisation, _, _ = parse_identity(as_)
    kind = _enum(pb.FundingInstrument, "FUNDING_INSTRUMENT_", instrument, "instrument")
    derived = not reference
    reference = reference or derived_reference(organisation, person, offer, start, end, instrument.upper(), leercoach)
    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").CreateEnrolment(
        pb.CreateEnrolmentRequest(request_id=request_id or new_request_id(), person_id=person, offer_id=offer,
                                  planned_start=start, planned_end=end, instrument=kind,
                                  leercoach_id=leercoach, provider_reference=reference), metadata=auth(as_))
    console.print(_enrolment_table(reply.enrolment))
    if derived:
        console.print(f"reference {reference} (derived from the request: posting it again returns this enrolment)")
    console.print(f"the funding decision follows: llr enrol show {reply.enrolment.enrolment_id} --as {as_}")


BULK_COLUMNS = ("person_id", "offer_id", "planned_start", "planned_end")
BULK_OPTIONAL = ("instrument", "leercoach_id", "provider_reference")


def read_bulk_csv(path: Path, provider_id: str):
    """The rows of a bulk upload file: (line number, request row) for the rows to send and
    (line number, reason) for the rows the CLI cannot send (an unknown instrument)."""
    import csv

    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in BULK_COLUMNS if c not in header]
    if missing:
        raise UsageError(f"{path}: the header must name the columns {', '.join(BULK_COLUMNS)} (optional: "
                         f"{', '.join(BULK_OPTIONAL)}); missing: {', '.join(missing)}")
    unknown = [c for c in header if c not in BULK_COLUMNS + BULK_OPTIONAL]
    if unknown:
        raise UsageError(f"{path}: unknown column(s) {', '.join(unknown)}; the columns are "
                         f"{', '.join(BULK_COLUMNS + BULK_OPTIONAL)}")
    rows, refused = [], []
    for raw in reader:
        line = reader.line_num
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        instrument = (row.get("instrument") or "TRAINING_BUDGET").upper()
        try:
            kind = pb.FundingInstrument.Value("FUNDING_INSTRUMENT_" + instrument)
        except ValueError:
            refused.append((line, f"instrument must be one of {', '.join(INSTRUMENTS)}; got {instrument!r}"))
            continue
        reference = row.get("provider_reference") or derived_reference(
            provider_id, row["person_id"], row["offer_id"], row["planned_start"], row["planned_end"], instrument,
            row.get("leercoach_id", ""))
        rows.append((line, pb.BulkCreateEnrolmentsRequest(
            person_id=row["person_id"], offer_id=row["offer_id"], planned_start=row["planned_start"],
            planned_end=row["planned_end"], instrument=kind, leercoach_id=row.get("leercoach_id", ""),
            provider_reference=reference)))
    if not rows and not refused:
        raise UsageError(f"{path}: no rows below the header")
    return rows, refused


@enrol_app.command("bulk")
@handled
def enrol_bulk(file: Path = typer.Argument(..., metavar="FILE.csv",
                                           help="a header line with person_id, offer_id, planned_start, planned_end "
                                                "(and optionally instrument, leercoach_id, provider_reference), "
                                                "then one enrolment per line"),
               as_: str = AS) -> None:
    """Post many enrolments from a CSV file in one upload; prints the result of every row."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    organisation, _, _ = parse_identity(as_)
    rows, refused = read_bulk_csv(file, organisation)
    stub = _stub("enrolments", "enrolments_service", "EnrolmentService")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  transient=True) as progress:
        task = progress.add_task("uploading rows", total=len(rows))

        def stream():
            for _, request in rows:
                yield request
                progress.advance(task)
        reply = stub.BulkCreateEnrolments(stream(), metadata=auth(as_)) if rows else None
    table = Table("line", "reference", "result", "enrolment_id / reason", title=f"{file}: one result per row",
                  title_justify="left")
    results = {}
    for line, reason in refused:
        results[line] = ("", "[red]not sent[/red]", escape(reason))
    replayed = 0
    for r in reply.results if reply else []:
        line, request = rows[r.row]
        if r.error_code:
            where = f"{r.field}: " if r.field and not r.reason.startswith(r.field) else ""
            results[line] = (request.provider_reference, f"[red]{r.error_code}[/red]", escape(where + r.reason))
        else:
            replayed += r.replayed
            results[line] = (request.provider_reference, "replayed" if r.replayed else "[green]created[/green]",
                             r.enrolment_id)
    for line in sorted(results):
        table.add_row(str(line), escape(results[line][0]), results[line][1], results[line][2])
    console.print(table)
    created = reply.created if reply else 0
    failed = (reply.failed if reply else 0) + len(refused)
    console.print(f"{len(rows) + len(refused)} rows: {created} created, {replayed} replayed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def _enrolment_change(rpc: str, request) -> None:
    reply = getattr(_stub("enrolments", "enrolments_service", "EnrolmentService"), rpc)(request[0], metadata=request[1])
    console.print(_enrolment_table(reply.enrolment))


DATE_TODAY = typer.Option("", "--date", metavar="YYYY-MM-DD", help="default: the platform's today")


@enrol_app.command("start")
@handled
def enrol_start(enrolment_id: str = typer.Argument(..., metavar="ENROLMENT_ID"), as_: str = AS,
                on: str = DATE_TODAY) -> None:
    """Declare that the learner started (a funded enrolment)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    _enrolment_change("StartEnrolment", (pb.StartEnrolmentRequest(
        request_id=new_request_id(), enrolment_id=enrolment_id, start_date=on), auth(as_)))


@enrol_app.command("complete")
@handled
def enrol_complete(enrolment_id: str = typer.Argument(..., metavar="ENROLMENT_ID"), as_: str = AS,
                   hours: int = typer.Option(..., metavar="HOURS", help="hours attended"),
                   outcome: str = typer.Option("PASSED", metavar="OUTCOME", help="PASSED, FAILED or ATTENDED"),
                   on: str = DATE_TODAY) -> None:
    """Declare a completion (the funding is captured)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    result = _enum(pb.Outcome, "OUTCOME_", outcome, "outcome")
    _enrolment_change("CompleteEnrolment", (pb.CompleteEnrolmentRequest(
        request_id=new_request_id(), enrolment_id=enrolment_id, hours_attended=hours, outcome=result,
        completion_date=on), auth(as_)))


@enrol_app.command("cancel")
@handled
def enrol_cancel(enrolment_id: str = typer.Argument(..., metavar="ENROLMENT_ID"), as_: str = AS,
                 reason: str = typer.Option(..., metavar="TEXT", help="why")) -> None:
    """Cancel an enrolment before it started (the reservation is released)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    _enrolment_change("CancelEnrolment", (pb.CancelEnrolmentRequest(
        request_id=new_request_id(), enrolment_id=enrolment_id, reason=reason), auth(as_)))


@enrol_app.command("dropout")
@handled
def enrol_dropout(enrolment_id: str = typer.Argument(..., metavar="ENROLMENT_ID"), as_: str = AS,
                  hours: int = typer.Option(..., metavar="HOURS", help="hours attended"),
                  on: str = DATE_TODAY) -> None:
    """Declare that a learner dropped out of a started enrolment."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    _enrolment_change("DeclareDropOut", (pb.DeclareDropOutRequest(
        request_id=new_request_id(), enrolment_id=enrolment_id, hours_attended=hours, dropout_date=on), auth(as_)))


@enrol_app.command("show")
@handled
def enrol_show(enrolment_id: str = typer.Argument(..., metavar="ENROLMENT_ID"), as_: str = AS) -> None:
    """Show one enrolment and its status (REQUESTED, FUNDED, REJECTED with its reason, STARTED, ...)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").GetEnrolment(
        pb.GetEnrolmentRequest(enrolment_id=enrolment_id), metadata=auth(as_))
    console.print(_enrolment_table(reply.enrolment))


# --- accounts ---------------------------------------------------------------------------------------
@account_app.command("show")
@handled
def account_show(person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = AS,
                 wallet: str = typer.Option("TRAINING_BUDGET", metavar="WALLET",
                                            help="the wallet whose balance is explained")) -> None:
    """Show a person's wallets, holds and career cheques, and explain one wallet's balance entry by entry."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = _stub("accounts", "accounts_service", "AccountService")
    metadata = auth(as_)
    account = stub.GetAccount(pb.GetAccountRequest(person_id=person_id), metadata=metadata).account
    explained = stub.ExplainBalance(pb.ExplainBalanceRequest(person_id=person_id, wallet=wallet), metadata=metadata)
    units = {w.wallet: w.unit for w in account.wallets}
    wallets = Table("wallet", "balance", "held", "available", title=f"account of {person_id}", title_justify="left")
    for w in account.wallets:
        wallets.add_row(w.wallet, show.amount(w.balance, w.unit), show.amount(w.held, w.unit),
                        show.amount(w.available, w.unit))
    console.print(wallets)
    if account.holds:
        holds = Table("reservation", "wallet", "amount", "captured", "released", "status", "enrolment",
                      title="holds", title_justify="left")
        for h in account.holds:
            unit = units.get(h.wallet, "EUR_CENT")
            holds.add_row(h.reservation_id, h.wallet, show.amount(h.amount, unit), show.amount(h.captured, unit),
                          show.amount(h.released, unit), h.status, h.enrolment_id)
        console.print(holds)
    if account.career_cheques:
        cheques = Table("cheque", "bought", "hours used", "status", "start by", "own contribution",
                        title="career cheques", title_justify="left")
        for c in account.career_cheques:
            cheques.add_row(c.cheque_id, c.purchase_date, f"{c.hours_used} of {c.hours} h", c.status,
                            c.start_deadline, money(c.own_contribution_cents))
        console.print(cheques)
    if account.HasField("development_plan"):
        plan = account.development_plan
        console.print(f"personal development plan (POP) of {plan.recorded_on}: {', '.join(plan.offer_ids)}")
    unit = units.get(explained.wallet, "EUR_CENT")
    lines = Table("#", "when", "entry", "amount", "balance", "held", "available", "why", title_justify="left",
                  title=f"{explained.wallet}: balance {show.amount(explained.balance, unit)} = the sum of these entries")
    for line in explained.lines:
        e = line.entry
        lines.add_row(str(e.seq), e.occurred_at[:10], e.kind, show.amount(e.amount, unit),
                      show.amount(line.balance_after, unit), show.amount(line.held_after, unit),
                      show.amount(line.available_after, unit), escape(e.explanation))
    console.print(lines)


@account_app.command("assess")
@handled
def account_assess(person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = REGISSEUR,
                   complex_: bool = typer.Option(..., "--complex/--not-complex",
                                                 help="the regisseur's finding on the career question"),
                   note: str = typer.Option("", metavar="TEXT"),
                   on: str = typer.Option("", "--date", metavar="YYYY-MM-DD",
                                          help="default: the platform's today")) -> None:
    """Record the regisseur's assessment of a person's career question (complex or not)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").RecordComplexityAssessment(
        pb.RecordComplexityAssessmentRequest(request_id=new_request_id(), person_id=person_id, complex=complex_,
                                             note=note, assessed_on=on), metadata=auth(as_))
    console.print(f"assessment {reply.assessment_id} recorded for {person_id}: "
                  f"{'complex' if complex_ else 'not complex'}")


@account_app.command("pop")
@handled
def account_pop(person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = AS,
                offer: list[str] = typer.Option(..., metavar="OFFER_ID",
                                                help="a training the POP lists (repeat for more)")) -> None:
    """Record a person's personal development plan (POP): the trainings it lists, which training
    cheques fund for the higher educated too. It replaces the previous plan."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    plan = _stub("accounts", "accounts_service", "AccountService").RecordDevelopmentPlan(
        pb.RecordDevelopmentPlanRequest(request_id=new_request_id(), person_id=person_id, offer_ids=offer),
        metadata=auth(as_)).development_plan
    console.print(f"POP of {person_id} recorded on {plan.recorded_on}: {', '.join(plan.offer_ids)}")


@account_app.command("credit")
@handled
def account_credit(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                   amount_eur: str = typer.Argument(..., metavar="EUR", help="e.g. 100 or 100.00"),
                   explanation: str = typer.Option(..., metavar="TEXT", help="why (shown in the balance)"),
                   as_: str = REGISSEUR) -> None:
    """Credit a person's training budget (the regisseur)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").CreditBudget(
        pb.CreditBudgetRequest(request_id=new_request_id(), person_id=person_id,
                               amount_cents=show.parse_euro(amount_eur, "amount"), explanation=explanation),
        metadata=auth(as_))
    w = reply.wallet
    console.print(f"{w.wallet} of {person_id}: balance {show.amount(w.balance, w.unit)}, "
                  f"available {show.amount(w.available, w.unit)}")


def _opening_table(x) -> Table:
    table = _fields(f"budget opening {x.opening_id}")
    rows = [("title", escape(x.title)), ("window", f"{x.opens_at} .. {x.closes_at} ({x.window})"),
            ("budget", f"{money(x.budget_cents)}: {x.grants} grants of {money(x.grant_cents)}"),
            ("allocation", f"{x.rule}, seed committed as sha256 {x.seed_commitment}"), ("status", x.status)]
    if x.seed:
        rows += [("draw", f"seed {escape(x.seed)}: {x.granted} of {x.applicants} applicants granted"),
                 ("ranking digest", x.ranking_digest),
                 ("credited", f"{x.credited} grants" + (f", {x.not_credited} refused by the account"
                                                        if x.not_credited else ""))]
    else:
        rows.append(("draw from", x.draw_from))
    for label, value in rows:
        table.add_row(label, value)
    return table


@opening_app.command("announce")
@handled
def opening_announce(opening_id: str = typer.Argument(..., metavar="OPENING_ID"),
                     title: str = typer.Option(..., metavar="TEXT"),
                     opens: str = typer.Option(..., metavar="INSTANT", help="e.g. 2027-01-04T09:00:00+01:00"),
                     closes: str = typer.Option(..., metavar="INSTANT", help="exclusive"),
                     budget_eur: str = typer.Option(..., "--budget", metavar="EUR", help="the whole budget"),
                     grant_eur: str = typer.Option(..., "--grant", metavar="EUR", help="per granted person"),
                     seed_file: Path = typer.Option(None, metavar="FILE",
                                                    help="where the secret seed is written (default: "
                                                         "OPENING_ID.seed here; never overwritten)"),
                     as_: str = REGISSEUR) -> None:
    """Announce an opening: a new secret seed is written to a file you keep until the draw; only its SHA-256 is published."""
    import secrets

    from llr.accounts.v1 import accounts_service_pb2 as pb

    request = pb.AnnounceBudgetOpeningRequest(opening_id=opening_id, title=title, opens_at=opens, closes_at=closes,
                                              budget_cents=show.parse_euro(budget_eur, "budget"),
                                              grant_cents=show.parse_euro(grant_eur, "grant"))
    seed_file = seed_file or Path(f"{opening_id}.seed")
    seed = secrets.token_hex(32)
    try:  # the seed is kept before it is committed to: an opening whose seed is lost cannot be drawn
        with os.fdopen(os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(seed + "\n")
    except FileExistsError:
        raise UsageError(f"{seed_file} exists: a seed is never reused; name another --seed-file") from None
    except OSError as exc:
        raise UsageError(f"cannot write --seed-file {seed_file}: {exc.strerror}") from None
    request.seed_commitment = hashlib.sha256(seed.encode()).hexdigest()
    try:
        reply = _stub("accounts", "accounts_service", "AccountService").AnnounceBudgetOpening(
            request, metadata=auth(as_))
    except grpc.RpcError:
        seed_file.unlink()
        raise
    console.print(_opening_table(reply.opening))
    console.print(f"the seed is in {seed_file}: keep it secret until the draw (`llr opening draw {opening_id} "
                  f"--seed-file {seed_file}`)")


@opening_app.command("apply")
@handled
def opening_apply(opening_id: str = typer.Argument(..., metavar="OPENING_ID"),
                  person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = AS) -> None:
    """Apply for a person (once; applying again shows the first application)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    a = _stub("accounts", "accounts_service", "AccountService").ApplyToBudgetOpening(
        pb.ApplyToBudgetOpeningRequest(request_id=new_request_id(), opening_id=opening_id, person_id=person_id),
        metadata=auth(as_)).application
    console.print(f"{person_id} applied to {opening_id} at {a.applied_at}: {a.status}")


@opening_app.command("draw")
@handled
def opening_draw(opening_id: str = typer.Argument(..., metavar="OPENING_ID"),
                 seed_file: Path = typer.Option(..., metavar="FILE", help="the seed file written at the announcement"),
                 as_: str = REGISSEUR) -> None:
    """Draw the lottery after the window and credit the winners (repeat to finish an interrupted draw)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    try:
        seed = seed_file.read_text().strip()
    except OSError as exc:
        raise UsageError(f"cannot read --seed-file {seed_file}: {exc.strerror}") from None
    reply = _stub("accounts", "accounts_service", "AccountService").DrawBudgetOpening(
        pb.DrawBudgetOpeningRequest(opening_id=opening_id, seed=seed), metadata=auth(as_))
    console.print(_opening_table(reply.opening))


@opening_app.command("show")
@handled
def opening_show(opening_id: str = typer.Argument(..., metavar="OPENING_ID"), as_: str = AS,
                 person_id: str = typer.Option("", "--person", metavar="PERSON_ID",
                                               help="also the person's application and, after the draw, rank")) -> None:
    """Show an opening's terms and, after the draw, its public outcome."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = _stub("accounts", "accounts_service", "AccountService")
    metadata = auth(as_)
    console.print(_opening_table(stub.GetBudgetOpening(pb.GetBudgetOpeningRequest(opening_id=opening_id),
                                                       metadata=metadata).opening))
    if person_id:
        a = stub.GetBudgetApplication(pb.GetBudgetApplicationRequest(opening_id=opening_id, person_id=person_id),
                                      metadata=metadata).application
        rank = f", rank {a.rank} of {a.applicants}" if a.rank else ""
        console.print(f"{person_id}: applied at {a.applied_at}, {a.status}{rank}")


def _cheque_table(c) -> Table:
    table = _fields()
    for label, value in (("cheque_id", c.cheque_id), ("status", c.status), ("bought", c.purchase_date),
                         ("hours", f"{c.hours_used} of {c.hours} h used"), ("start by", c.start_deadline),
                         ("own contribution", money(c.own_contribution_cents)), ("policy", c.policy_version_id)):
        if value:
            table.add_row(label, value)
    return table


@cheque_app.command("buy")
@handled
def cheque_buy(person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = AS,
               on: str = typer.Option("", "--date", metavar="YYYY-MM-DD", help="default: the platform's today")) -> None:
    """Sell a career cheque to the person at the counter (or hear why not)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").BuyCareerCheque(
        pb.BuyCareerChequeRequest(request_id=new_request_id(), person_id=person_id, purchase_date=on),
        metadata=auth(as_))
    console.print(_cheque_table(reply.cheque))
    for reason in reply.reasons:
        console.print(f"- {escape(reason)}")


@cheque_app.command("guidance")
@handled
def cheque_guidance(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                    cheque_id: str = typer.Argument(..., metavar="CHEQUE_ID"),
                    hours: int = typer.Argument(..., metavar="HOURS"), as_: str = AS,
                    final: bool = typer.Option(False, "--final", help="the trajectory ends here (unused hours lapse)"),
                    outcome: str = typer.Option("", metavar="OUTCOME", help="at evaluation, e.g. POP_DELIVERED"),
                    on: str = typer.Option("", "--date", metavar="YYYY-MM-DD",
                                           help="default: the platform's today")) -> None:
    """Record a career-guidance session on a cheque."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").RecordCareerGuidance(
        pb.RecordCareerGuidanceRequest(request_id=new_request_id(), person_id=person_id, cheque_id=cheque_id,
                                       hours=hours, guidance_date=on, final=final, outcome=outcome),
        metadata=auth(as_))
    console.print(_cheque_table(reply.cheque))


# --- career guidance at career centres ----------------------------------------------------------
def _trajectory_table(t) -> Table:
    table = _fields()
    c = t.cheque
    rows = [("person", t.person_id), ("cheque_id", c.cheque_id), ("career centre", t.centre_id),
            ("redeemed", t.redeemed_on), ("cheque status", c.status), ("hours", f"{c.hours_used} of {c.hours} h used"),
            ("start by", c.start_deadline),
            ("steps", ", ".join(f"{s.phase} {s.step_date} ({s.hours} h)" for s in t.steps) or "none yet"),
            ("next step", t.next_phase or "none: the POP is delivered")]
    for label, measured in (("intake", t.intake_scores), ("evaluation", t.evaluation_scores)):
        if measured:
            rows.append((label, " ".join(f"{s.dimension}={s.score}" for s in measured)))
    if t.HasField("reorientation"):
        rows += [("reorientation", "yes" if t.reorientation else "no"),
                 ("sustainable job match", "yes" if t.sustainable_job_match else "no")]
    rows.append(("cashed", t.cashed_on or "not yet"))
    for label, value in rows:
        if value:
            table.add_row(label, escape(value))
    return table


def parse_scores(values: list[str]) -> list:
    """``DIMENSION=SCORE`` options as Score messages (the service checks dimensions and scale)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    scores = []
    for value in values:
        dimension, sep, number = value.partition("=")
        if not sep or not dimension or not number.strip().lstrip("-").isdigit():
            raise UsageError(f"--score must be DIMENSION=SCORE, e.g. MEANING=3; got {value!r}")
        scores.append(pb.Score(dimension=dimension.strip().upper(), score=int(number)))
    return scores


@guidance_app.command("accredit")
@handled
def guidance_accredit(centre_id: str = typer.Argument(..., metavar="CENTRE_ID"),
                      name: str = typer.Option(..., metavar="NAME", help="the career centre's name"),
                      as_: str = REGISSEUR) -> None:
    """Accredit a career centre (again with the same name: nothing changes)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    c = _stub("accounts", "accounts_service", "AccountService").AccreditCareerCentre(
        pb.AccreditCareerCentreRequest(request_id=new_request_id(), centre_id=centre_id, name=name),
        metadata=auth(as_)).centre
    console.print(f"career centre {escape(c.centre_id)} ({escape(c.name)}) accredited on {c.accredited_on}")


@guidance_app.command("redeem")
@handled
def guidance_redeem(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                    cheque_id: str = typer.Argument(..., metavar="CHEQUE_ID"),
                    centre: str = typer.Option(..., "--centre", metavar="CENTRE_ID", help="the centre the person chose"),
                    as_: str = AS,
                    on: str = typer.Option("", "--date", metavar="YYYY-MM-DD", help="default: the platform's today")) -> None:
    """Redeem the person's career cheque at the accredited career centre of their choice."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").RedeemCareerCheque(
        pb.RedeemCareerChequeRequest(request_id=new_request_id(), person_id=person_id, cheque_id=cheque_id,
                                     centre_id=centre, redeemed_on=on), metadata=auth(as_))
    console.print(_trajectory_table(reply.trajectory))


@guidance_app.command("step")
@handled
def guidance_step(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                  cheque_id: str = typer.Argument(..., metavar="CHEQUE_ID"),
                  phase: str = typer.Argument(..., metavar="PHASE",
                                              help="INTAKE, ANALYSIS, ACTION_PLAN, EVALUATION or POP, in that order"),
                  as_: str = AS, hours: int = typer.Option(0, metavar="HOURS", help="guidance hours of this step"),
                  score: list[str] = typer.Option([], "--score", metavar="DIMENSION=SCORE",
                                                  help="at INTAKE and EVALUATION, every dimension: MEANING, AUTONOMY, "
                                                       "COMPETENCE, CONNECTION, SAFETY, BALANCE, on the outcome policy's scale (1-5 today)"),
                  reorientation: bool | None = typer.Option(None, "--reorientation/--no-reorientation",
                                                            help="at EVALUATION"),
                  job_match: bool | None = typer.Option(None, "--job-match/--no-job-match",
                                                        help="at EVALUATION: a sustainable job match"),
                  training: list[str] = typer.Option([], "--training", metavar="OFFER_ID",
                                                     help="at POP, repeatable: a training the plan lists; they "
                                                          "become the person's development plan"),
                  on: str = typer.Option("", "--date", metavar="YYYY-MM-DD", help="default: the platform's today")) -> None:
    """Record the next step of a trajectory at the career centre (the POP ends it)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").RecordTrajectoryStep(
        pb.RecordTrajectoryStepRequest(request_id=new_request_id(), person_id=person_id, cheque_id=cheque_id,
                                       phase=phase.upper(), step_date=on, hours=hours, scores=parse_scores(score),
                                       reorientation=reorientation, sustainable_job_match=job_match,
                                       pop_offer_ids=training),
        metadata=auth(as_))
    console.print(_trajectory_table(reply.trajectory))


@guidance_app.command("cash")
@handled
def guidance_cash(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                  cheque_id: str = typer.Argument(..., metavar="CHEQUE_ID"), as_: str = AS,
                  on: str = typer.Option("", "--date", metavar="YYYY-MM-DD", help="default: the platform's today")) -> None:
    """Cash the career cheque after delivering the POP (the centre that guided the person)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").CashCareerCheque(
        pb.CashCareerChequeRequest(request_id=new_request_id(), person_id=person_id, cheque_id=cheque_id,
                                   cashed_on=on), metadata=auth(as_))
    console.print(_trajectory_table(reply.trajectory))


@guidance_app.command("show")
@handled
def guidance_show(person_id: str = typer.Argument(..., metavar="PERSON_ID"),
                  cheque_id: str = typer.Argument(..., metavar="CHEQUE_ID"), as_: str = AS) -> None:
    """Show a trajectory (a centre sees only its own)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    reply = _stub("accounts", "accounts_service", "AccountService").GetCareerTrajectory(
        pb.GetCareerTrajectoryRequest(person_id=person_id, cheque_id=cheque_id), metadata=auth(as_))
    console.print(_trajectory_table(reply.trajectory))


@guidance_app.command("list")
@handled
def guidance_list(as_: str = AS,
                  centre: str = typer.Option("", "--centre", metavar="CENTRE_ID",
                                             help="the regisseur names the centre; a centre lists its own")) -> None:
    """List the trajectories of the cheques redeemed at a career centre, oldest first."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = _stub("accounts", "accounts_service", "AccountService")
    metadata = auth(as_)
    found, page = [], ""
    while True:
        reply = stub.ListCareerTrajectories(pb.ListCareerTrajectoriesRequest(
            centre_id=centre, page_size=200, page_token=page), metadata=metadata)
        found.extend(reply.trajectories)
        if not (page := reply.next_page_token):
            break
    who = centre or as_.split(":")[0]
    if not found:
        console.print(f"no career cheque has been redeemed at career centre {escape(who)}")
        return
    table = Table("person", "redeemed", "next step", "cashed", title=f"trajectories at {who}", title_justify="left")
    table.add_column("cheque_id", no_wrap=True)  # for llr guidance step|cash|show
    for t in found:
        table.add_row(escape(t.person_id), t.redeemed_on, t.next_phase or "none: POP delivered",
                      t.cashed_on or "not yet", t.cheque.cheque_id)
    console.print(table)


# --- certification ----------------------------------------------------------------------------------
@cert_app.command("verify")
@handled
def cert_verify(credential: Path = typer.Argument(..., metavar="CREDENTIAL.json",
                                                  help="a credential file, or - for standard input")) -> None:
    """Verify a certificate's credential (public: no token needed)."""
    from llr.certification.v1 import certification_service_pb2 as pb

    try:
        text = sys.stdin.read() if str(credential) == "-" else credential.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {credential}: {exc.strerror or exc}") from None
    reply = _stub("certification", "certification_service", "CertificationService").Verify(
        pb.VerifyRequest(credential_json=text))
    status = _name(pb.VerificationStatus, "VERIFICATION_STATUS_", reply.status)
    colour = "green" if status == "VALID" else "red"
    console.print(f"[{colour}]{status}[/{colour}]")
    if reply.reason:
        console.print(escape(reply.reason))
    for problem in reply.problems:
        console.print(f"- {_name(pb.VerificationStatus, 'VERIFICATION_STATUS_', problem.status)}: "
                      f"{escape(problem.reason)}")
    raise typer.Exit(0 if status == "VALID" else 1)


def _certificate_table(c) -> Table:
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import events_pb2 as ev

    table = _fields()
    for label, value in (("certificate_id", c.certificate_id), ("holder_id", c.holder_id),
                         ("organisation_id", c.organisation_id),
                         ("role", _name(ev.CredentialType, "CREDENTIAL_TYPE_", c.role)),
                         ("status", _name(pb.CertificateStatus, "CERTIFICATE_STATUS_", c.status)),
                         ("valid", f"{c.valid_from} .. {c.valid_until}"), ("credential_id", c.credential_id),
                         ("suspension reason", c.suspension_reason), ("revoked on", c.revoked_on),
                         ("revocation reason", c.revocation_reason)):
        if value:
            table.add_row(label, escape(value))
    return table


def _write_credential(path: Path | None, credential_json: str) -> None:
    if path:
        try:
            path.write_text(json.dumps(json.loads(credential_json), indent=2))
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        console.print(f"credential written to {path}")


CREDENTIAL_OUT = typer.Option(None, metavar="FILE.json", help="write the signed credential JSON here")


@cert_app.command("show")
@handled
def cert_show(certificate_id: str = typer.Argument(..., metavar="CERTIFICATE_ID"), as_: str = AS,
              credential_out: Path | None = CREDENTIAL_OUT) -> None:
    """Show a certificate and optionally save its signed credential."""
    from llr.certification.v1 import certification_service_pb2 as pb

    reply = _stub("certification", "certification_service", "CertificationService").GetCertificate(
        pb.GetCertificateRequest(certificate_id=certificate_id), metadata=auth(as_))
    console.print(_certificate_table(reply.certificate))
    _write_credential(credential_out, reply.credential_json)


@cert_app.command("register")
@handled
def cert_register(person_id: str = typer.Argument(..., metavar="PERSON_ID"), as_: str = AS,
                  role: str = typer.Option("LEERCOACH", metavar="ROLE", help="LEERCOACH or MENTOR")) -> None:
    """Register a candidate of the calling mentoring organisation."""
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import events_pb2 as ev

    kind = _enum(ev.CredentialType, "CREDENTIAL_TYPE_", role, "role")
    reply = _stub("certification", "certification_service", "CertificationService").RegisterCandidate(
        pb.RegisterCandidateRequest(request_id=new_request_id(), person_id=person_id, role=kind),
        metadata=auth(as_))
    console.print(f"candidate [bold]{reply.candidate.candidate_id}[/bold] registered")


@cert_app.command("train")
@handled
def cert_train(candidate_id: str = typer.Argument(..., metavar="CANDIDATE_ID"),
               module: str = typer.Argument(..., metavar="MODULE"),
               hours: str = typer.Argument(..., metavar="HOURS"), as_: str = AS,
               on: str = typer.Option("", "--date", metavar="YYYY-MM-DD",
                                      help="when it was completed; default the platform's today"),
               result: str = typer.Option("NOT_ASSESSED", metavar="RESULT",
                                          help="PASSED, FAILED or NOT_ASSESSED")) -> None:
    """Record a completed training module (and its assessment) of a candidate."""
    from llr.certification.v1 import certification_service_pb2 as pb

    outcome = _enum(pb.AssessmentResult, "ASSESSMENT_RESULT_", result, "result")
    completed_on = on or platform_today().isoformat()
    _stub("certification", "certification_service", "CertificationService").RecordTraining(
        pb.RecordTrainingRequest(request_id=new_request_id(), candidate_id=candidate_id, module_id=module,
                                 hours=hours, completed_on=completed_on, result=outcome),
        metadata=auth(as_))
    console.print(f"{module} ({hours} h, {completed_on}) recorded for {candidate_id}")


@cert_app.command("issue")
@handled
def cert_issue(candidate_id: str = typer.Argument(..., metavar="CANDIDATE_ID"), as_: str = AS,
               credential_out: Path | None = CREDENTIAL_OUT) -> None:
    """Issue the certificate when the requirements hold (otherwise: what is missing)."""
    from llr.certification.v1 import certification_service_pb2 as pb

    reply = _stub("certification", "certification_service", "CertificationService").IssueCertificate(
        pb.IssueCertificateRequest(request_id=new_request_id(), candidate_id=candidate_id), metadata=auth(as_))
    c = reply.certificate
    console.print(f"certificate [bold]{c.certificate_id}[/bold] valid {c.valid_from} .. {c.valid_until}")
    _write_credential(credential_out, reply.credential_json)


# --- KPIs ---------------------------------------------------------------------------------------------
def _kpi_row(c) -> tuple[str, ...]:
    label = show.cell_label(c.cell)
    if c.suppressed:
        return c.kpi, label, c.reference_date, "suppressed", ""
    denominator = c.denominator if c.HasField("denominator") else None
    value = show.kpi_value(c.kpi, c.numerator, denominator)
    detail = f"{c.numerator}/{c.denominator}" if denominator is not None else ""
    return c.kpi, label, c.reference_date, value, detail


KPI_HELP = "a KPI name, e.g. participation_12m (an unknown name lists them)"
CELL_HELP = ("cells starting with this, e.g. region=flanders, province= or province=Antwerpen "
             "(provinces and municipalities by name or NIS code)")


@kpi_app.command("list")
@handled
def kpi_list(as_: str = AS, kpi: str = typer.Option("participation_12m", metavar="KPI", help=KPI_HELP),
             cell: str = typer.Option("", metavar="PREFIX", help=CELL_HELP)) -> None:
    """The current value of every cell of a KPI (suppressed cells carry no numbers)."""
    from llr.kpi.v1 import kpi_service_pb2 as pb

    name, prefix = show.check_kpi(kpi), show.cell_filter(cell)
    stub = _stub("kpi", "kpi_service", "KpiService")
    found, page = [], ""
    while True:
        reply = stub.List(pb.ListRequest(kpi=name, cell_prefix=prefix, page_size=1000, page_token=page),
                          metadata=auth(as_))
        found.extend(reply.cells)
        if not (page := reply.next_page_token):
            break
    if not found:
        matching = f" matches {cell!r}" if cell else ""
        err_console.print(f"no published cell of {name or 'any KPI'}{matching} (a KPI appears once the events it "
                          f"counts have arrived)")
        raise typer.Exit(1)
    table = Table("kpi", "cell", "reference date", "value", "numerator/denominator")
    for c in found:
        table.add_row(*(escape(v) for v in _kpi_row(c)))
    console.print(table)


@app.command("signals")
@handled
def signals(as_: str = REGISSEUR,
            rule: str = typer.Option("", metavar="RULE", help="one rule, e.g. enrolment_burst, shared_learners"),
            subject: str = typer.Option("", metavar="ID", help="one provider (also its pairs) or person")) -> None:
    """The fraud signals raised over the event streams, with their evidence (regisseur only)."""
    from llr.kpi.v1 import kpi_service_pb2 as pb

    stub = _stub("kpi", "kpi_service", "KpiService")
    found, page, reference = [], "", ""
    while True:
        reply = stub.ListFraudSignals(pb.ListFraudSignalsRequest(rule=rule, subject=subject, page_size=1000,
                                                                 page_token=page), metadata=auth(as_))
        found.extend(reply.signals)
        reference = reply.reference_date
        if not (page := reply.next_page_token):
            break
    if not found:
        console.print(f"no fraud signal (evaluated on {reference or 'no events yet'})")
        return
    console.print(f"{len(found)} fraud signal(s), evaluated on {reference}")
    for s in found:
        console.print(f"[bold]{escape(s.signal_id)}[/bold]  policy {escape(s.policy_version)}")
        console.print(f"  {escape(s.summary)}")
        console.print("  " + escape(", ".join(f"{f.name}={f.value}" for f in s.figures)))
        for label, ids in (("providers", s.provider_ids), ("persons", s.person_ids), ("enrolments", s.enrolment_ids)):
            if ids:
                console.print(f"  {label}: " + escape(" ".join(ids)))
        if s.truncated:
            console.print("  (more ids than shown: the figures count them all)")


@kpi_app.command("watch")
@handled
def kpi_watch(as_: str = AS, kpi: str = typer.Option("participation_4w", metavar="KPI", help=KPI_HELP),
              cell: str = typer.Option("region=flanders", metavar="PREFIX", help=CELL_HELP)) -> None:
    """Follow a KPI live: the current cells, then every change (Ctrl-C stops)."""
    from llr.kpi.v1 import kpi_service_pb2 as pb

    name, prefix = show.check_kpi(kpi), show.cell_filter(cell)
    with channel("kpi") as chan:
        stream = _stub("kpi", "kpi_service", "KpiService", chan).Subscribe(
            pb.SubscribeRequest(kpi=name, cell_prefix=prefix), metadata=auth(as_))
        # Ctrl-C cancels the stream (from a thread: the main thread may hold the call's lock
        # when the handler runs); the loop then ends with CANCELLED, which is the normal end.
        stopping = threading.Event()

        def stop(*_):
            if not stopping.is_set():
                stopping.set()
                threading.Thread(target=stream.cancel, daemon=True).start()
        previous = signal.signal(signal.SIGINT, stop)
        try:
            for reply in stream:
                console.print(escape("  ".join(_kpi_row(reply.cell))))
        except grpc.RpcError as err:
            if not (stopping.is_set() and err.code() == grpc.StatusCode.CANCELLED):
                raise
        finally:
            signal.signal(signal.SIGINT, previous)


# --- payment terms -------------------------------------------------------------------------------
def _payables_table(rows, title: str) -> Table:
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    table = Table("status", "due", "amount", "paid", "provider", "enrolment", title=title, title_justify="left")
    table.add_column("payable_id", no_wrap=True)  # copied into `llr payables pay`
    for p in rows:
        status = _name(pb.PayableStatus, "PAYABLE_STATUS_", p.status)
        if p.days_overdue:
            status += f" ({p.days_overdue} d)"
        table.add_row(status, p.due_date, money(p.amount_cents), money(p.paid_cents), p.provider_id, p.enrolment_id,
                      p.payable_id)
    return table


@payables_app.command("list")
@handled
def payables_list(as_: str = AS,
                  provider: str = typer.Option("", metavar="PROVIDER_ID", help="the regisseur: one provider's"),
                  status: str = typer.Option("", metavar="STATUS", help="OPEN, OVERDUE, FROZEN or PAID")) -> None:
    """Payables to providers, overdue first (a provider sees its own)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    wanted = _enum(pb.PayableStatus, "PAYABLE_STATUS_", status, "status") if status else 0
    stub, metadata = _stub("enrolments", "enrolments_service", "EnrolmentService"), auth(as_)
    found, page = [], ""
    while True:
        reply = stub.ListPayables(pb.ListPayablesRequest(page_size=200, page_token=page, provider_id=provider,
                                                         status=wanted), metadata=metadata)
        found.extend(reply.payables)
        if not (page := reply.next_page_token):
            break
    if not found:
        console.print("no payables")
        return
    console.print(_payables_table(found, f"payables ({len(found)})"))


@payables_app.command("pay")
@handled
def payables_pay(payable_id: str = typer.Argument(..., metavar="PAYABLE_ID"), as_: str = AS,
                 reference: str = typer.Option(..., metavar="REFERENCE",
                                               help="the payment's reference: sending it again changes nothing"),
                 amount: str = typer.Option(..., metavar="EUR", help="the amount paid in euro, e.g. 1200.00"),
                 paid_on: str = typer.Option("", metavar="YYYY-MM-DD", help="default: today")) -> None:
    """Record a payment of a payable (the payment system or the regisseur)."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    reply = _stub("enrolments", "enrolments_service", "EnrolmentService").RecordPayment(
        pb.RecordPaymentRequest(reference=reference, payable_id=payable_id, amount_cents=show.parse_euro(amount, "amount"),
                                paid_on=paid_on), metadata=auth(as_))
    console.print(_payables_table([reply.payable], "payable"))


@payables_app.command("stats")
@handled
def payables_stats(as_: str = AS,
                   provider: str = typer.Option("", metavar="PROVIDER_ID", help="one provider (default: all)")) -> None:
    """Payment-term figures per provider: days from completion to payment (p50, p95), overdue."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    stub, metadata = _stub("enrolments", "enrolments_service", "EnrolmentService"), auth(as_)
    table = Table("provider", "payables", "paid", "term p50 (d)", "term p95 (d)", "paid late", "open", "overdue",
                  "frozen", title="payment terms", title_justify="left")
    page = ""
    while True:
        reply = stub.GetPaymentTermStats(pb.GetPaymentTermStatsRequest(page_size=200, page_token=page,
                                                                       provider_id=provider), metadata=metadata)
        for s in reply.providers:
            table.add_row(s.provider_id, str(s.payables), str(s.paid), str(s.term_days_p50), str(s.term_days_p95),
                          str(s.paid_late), money(s.open_cents), f"{money(s.overdue_cents)} ({s.overdue})",
                          money(s.frozen_cents))
        if not (page := reply.next_page_token):
            break
    console.print(table)


if __name__ == "__main__":
    app()
