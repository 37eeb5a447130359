"""Every ``llr`` command against the running platform, as its users would type it: exit code,
output and error message. (``llr stack stop`` stops a private FerretDB: the shared Kafka and
FerretDB serve the other tests.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from infra.stack import port_in_use
from services.cli.main import app
from tests.integration.cli.conftest import PROVIDER, llr_env
from tests.integration.common.private_servers import private_ferretdb, quiet_port
from tests.integration.kpi.conftest import wait_for

REPO = Path(__file__).resolve().parents[3]
REGISSEUR = ("--as", "vdab:REGISSEUR")
AS_PROVIDER = ("--as", f"{PROVIDER}:PROVIDER")
ORG = "mo-cli-test"
AS_ORG = ("--as", f"{ORG}:MENTORING_ORGANISATION")


def one_line(text: str) -> str:
    return " ".join(text.split())


def field(output: str, name: str) -> str:
    """The value of a row of a field/value table."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) >= 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no row {name!r} in\n{output}")


# --- the local infrastructure and tokens -----------------------------------------------------------
def test_stack_status_and_start_leave_a_running_stack_alone(llr):
    code, out, _ = llr("stack", "status")
    assert code == 0 and "kafka" in out and "healthy" in out
    code, out, _ = llr("stack", "start")
    assert code == 0 and "nothing (already running)" in out


def test_stack_stop_stops_what_runs_then_says_nothing_was_running(stack):
    # On a private FerretDB (the shared stack serves the other tests): `llr stack` finds it by the
    # LLR_INFRA_* settings, as it finds the shared one.
    runner = CliRunner()
    with private_ferretdb(stack) as db:
        env = {"LLR_INFRA_HOME": str(db.settings.home), "LLR_INFRA_FERRETDB_PORT": str(db.settings.ferretdb_port),
               "LLR_INFRA_KAFKA_PORT": str(quiet_port()), "LLR_INFRA_KAFKA_CONTROLLER_PORT": str(quiet_port()),
               "COLUMNS": "250"}

        def llr(*args: str):
            result = runner.invoke(app, list(args), env=env, prog_name="llr")
            return result.exit_code, result.stdout
        code, out = llr("stack", "status")
        assert code == 3 and field(out, "ferretdb") == "healthy" and field(out, "kafka") == "stopped", out
        code, out = llr("stack", "stop")
        assert code == 0 and out.splitlines()[0] == "stopped: ferretdb", out
        assert not port_in_use(db.settings.ferretdb_port)
        code, out = llr("stack", "status")
        assert code == 3 and field(out, "ferretdb") == "stopped", out
        code, out = llr("stack", "stop")
        assert code == 0 and out.strip() == "stopped: nothing was running", out


def test_token_prints_a_signed_token_and_refuses_an_unknown_role(llr):
    code, out, _ = llr("token", "vdab", "REGISSEUR")
    assert code == 0 and out.strip().count(".") == 2
    code, _, err = llr("token", "vdab", "BOSS")
    assert code == 2 and "BOSS" in err


# --- the regisseur --------------------------------------------------------------------------------
def test_the_regisseur_accredits_suspends_and_reinstates_a_provider(llr, cli_platform):
    code, out, _ = llr("provider", "accredit", "prov-cli-new", "--name", "Nieuwe Opleidingen", *REGISSEUR)
    assert code == 0 and field(out, "status") == "ACCREDITED" and field(out, "name") == "Nieuwe Opleidingen"
    code, out, _ = llr("provider", "suspend", "prov-cli-new", "--reason", "audit pending", *REGISSEUR)
    assert code == 0 and field(out, "status") == "SUSPENDED" and field(out, "suspension reason") == "audit pending"
    code, out, _ = llr("provider", "show", "prov-cli-new", "--as", "prov-cli-new:PROVIDER")
    assert code == 0 and field(out, "status") == "SUSPENDED"
    code, out, _ = llr("provider", "rescreen", "prov-cli-new", *REGISSEUR)   # renews; the suspension stays
    assert code == 0 and field(out, "status") == "SUSPENDED"
    assert field(out, "accredited until").startswith(str(cli_platform.today.year + 3))
    code, out, _ = llr("provider", "reinstate", "prov-cli-new", *REGISSEUR)
    assert code == 0 and field(out, "status") == "ACCREDITED"


def test_only_the_regisseur_accredits_and_an_unknown_provider_is_named(llr):
    code, _, err = llr("provider", "accredit", "prov-x", "--name", "X", *AS_PROVIDER)
    assert code == 1 and err.startswith("PERMISSION_DENIED: ")
    code, _, err = llr("provider", "suspend", "prov-never-accredited", "--reason", "r", *REGISSEUR)
    assert code == 1 and err.startswith("NOT_FOUND: ") and "prov-never-accredited" in err


def test_the_regisseur_accredits_suspends_reinstates_and_rescreens_an_organisation(llr, cli_platform):
    code, out, _ = llr("organisation", "accredit", "mo-cli-other", "--name", "Ander Netwerk", *REGISSEUR)
    assert code == 0 and field(out, "status") == "ACCREDITED"
    assert field(out, "accredited until").startswith(str(cli_platform.today.year + 3))   # 36 months from today
    code, out, _ = llr("organisation", "suspend", "mo-cli-other", "--reason", "no coaches left", *REGISSEUR)
    assert code == 0 and field(out, "status") == "SUSPENDED" and field(out, "suspension reason") == "no coaches left"
    code, out, _ = llr("organisation", "show", "mo-cli-other", "--as", "mo-cli-other:MENTORING_ORGANISATION")
    assert code == 0 and field(out, "status") == "SUSPENDED"
    code, out, _ = llr("organisation", "rescreen", "mo-cli-other", *REGISSEUR)   # renews; the suspension stays
    assert code == 0 and field(out, "status") == "SUSPENDED"
    code, out, _ = llr("organisation", "reinstate", "mo-cli-other", *REGISSEUR)
    assert code == 0 and field(out, "status") == "ACCREDITED"
    code, _, err = llr("organisation", "reinstate", "mo-cli-other", *REGISSEUR)
    assert code == 1 and err.startswith("FAILED_PRECONDITION: ") and "not suspended" in err
    code, _, err = llr("organisation", "suspend", "mo-cli-other", "--reason", "r",
                       "--as", "mo-cli-other:MENTORING_ORGANISATION")
    assert code == 1 and err.startswith("PERMISSION_DENIED: ")
    code, _, err = llr("org", "suspend", "mo-cli-unknown", "--reason", "r", *REGISSEUR)   # the short name
    assert code == 1 and err.startswith("NOT_FOUND: ")


def test_policies_lists_the_versions_in_force(llr):
    code, out, _ = llr("policies", *REGISSEUR)
    assert code == 0 and "training-budget-2025" in out and "career-cheque-2025" in out and "TRAINING_BUDGET" in out
    code, out, _ = llr("policies", "--kind", "career_cheque", *REGISSEUR)
    assert code == 0 and "career-cheque-2025" in out and "training-budget-2025" not in out
    code, _, err = llr("policies", "--kind", "LOTTERY", *REGISSEUR)
    assert code == 1 and err.startswith("INVALID_ARGUMENT: ") and "LOTTERY" in err


# --- a training provider --------------------------------------------------------------------------
def test_offers_shows_prices_in_euro_and_full_titles(llr, cli_platform):
    code, out, _ = llr("offers", *AS_PROVIDER)
    assert code == 0, out
    assert "Boekhouden voor kleine ondernemingen met een lange titel" in out
    assert "EUR 450.00" in out and cli_platform.offer_id in out and "TRAINING_BUDGET" in out


def test_offers_of_an_unknown_provider_is_an_error_not_an_empty_table(llr):
    code, out, err = llr("offers", "--as", "prov-does-not-exist:PROVIDER")
    assert code == 2 and out == ""
    assert "no provider 'prov-does-not-exist' is known to the platform" in err


def test_enrol_post_without_reference_derives_one_prints_it_and_a_repost_returns_the_same(llr, cli_platform):
    start, end = cli_platform.today + timedelta(days=30), cli_platform.today + timedelta(days=60)
    args = ("enrol", "post", *AS_PROVIDER, "--person", cli_platform.persons[0], "--offer", cli_platform.offer_id,
            "--start", start.isoformat(), "--end", end.isoformat())
    code, out, err = llr(*args)
    assert code == 0, err
    enrolment_id, reference = field(out, "enrolment_id"), field(out, "reference")
    assert reference.startswith("cli-") and f"reference {reference} (derived from the request" in out
    assert field(out, "price") == "EUR 450.00"
    assert f"llr enrol show {enrolment_id}" in out
    code, again, _ = llr(*args)
    assert code == 0 and field(again, "enrolment_id") == enrolment_id

    def funded():
        code, shown, _ = llr("enrol", "show", enrolment_id, *AS_PROVIDER)
        assert code == 0
        return shown if field(shown, "status") != "REQUESTED" else None
    shown = wait_for(funded, 60, "the funding decision")
    assert field(shown, "status") == "FUNDED" and field(shown, "reserved") == "EUR 450.00"


def test_enrol_show_prints_the_rejection_reason(llr, cli_platform):
    start = cli_platform.today + timedelta(days=10)
    code, out, err = llr("enrol", "post", *AS_PROVIDER, "--person", "pp-not-on-the-feed", "--offer",
                         cli_platform.offer_id, "--start", start.isoformat(),
                         "--end", (start + timedelta(days=20)).isoformat(), "--reference", "CLI-REJECT-1")
    assert code == 0, err
    enrolment_id = field(out, "enrolment_id")

    def decided():
        code, shown, _ = llr("enrol", "show", enrolment_id, *AS_PROVIDER)
        return shown if field(shown, "status") != "REQUESTED" else None
    shown = wait_for(decided, 60, "the funding decision")
    assert field(shown, "status") == "REJECTED"
    assert "UNKNOWN_PERSON" in field(shown, "rejection reason")


def test_enrol_show_of_another_providers_enrolment_is_denied(llr, cli_platform):
    start = cli_platform.today + timedelta(days=90)
    code, out, _ = llr("enrol", "post", *AS_PROVIDER, "--person", cli_platform.persons[1], "--offer",
                       cli_platform.offer_id, "--start", start.isoformat(),
                       "--end", (start + timedelta(days=10)).isoformat())
    assert code == 0
    code, out, err = llr("enrol", "show", field(out, "enrolment_id"), "--as", "prov-cli-new:PROVIDER")
    assert code == 1 and err.startswith("PERMISSION_DENIED: ") and out == ""


def test_enrol_post_names_the_accepted_instruments(llr, cli_platform):
    code, _, err = llr("enrol", "post", *AS_PROVIDER, "--person", cli_platform.persons[0], "--offer",
                       cli_platform.offer_id, "--start", "2027-01-04", "--end", "2027-02-04",
                       "--instrument", "TRAINING_CHEQUES")
    assert code == 2
    assert one_line(err) == ("error: --instrument must be one of TRAINING_BUDGET, TRAINING_CHEQUE, TRAINING_LEAVE, "
                             "CAREER_CHEQUE; got 'TRAINING_CHEQUES'")


def test_enrol_bulk_prints_the_result_of_every_row(llr, cli_platform, tmp_path):
    start, end = cli_platform.today + timedelta(days=40), cli_platform.today + timedelta(days=70)
    rows = tmp_path / "week.csv"
    rows.write_text(
        "person_id,offer_id,planned_start,planned_end,instrument,provider_reference\n"
        f"{cli_platform.persons[2]},{cli_platform.offer_id},{start},{end},TRAINING_BUDGET,BULK-1\n"
        f"{cli_platform.persons[3]},offer-that-does-not-exist,{start},{end},,BULK-2\n"
        f"{cli_platform.persons[4]},{cli_platform.offer_id},{start},{end},LOTTERY,BULK-3\n"
        f"{cli_platform.persons[5]},{cli_platform.offer_id},{end},{start},,BULK-4\n")
    code, out, err = llr("enrol", "bulk", str(rows), *AS_PROVIDER)
    assert code == 1, err
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert "created" in lines["2"] and "BULK-1" in lines["2"]
    assert "NOT_FOUND" in lines["3"] or "INVALID_ARGUMENT" in lines["3"], lines["3"]
    assert "not sent" in lines["4"] and "instrument must be one of" in lines["4"]
    assert "INVALID_ARGUMENT" in lines["5"] and "planned_end: must be on or after planned_start" in lines["5"]
    assert "4 rows: 1 created, 0 replayed, 3 failed" in out
    # The same file again: the good row is replayed, not doubled.
    code, out, _ = llr("enrol", "bulk", str(rows), *AS_PROVIDER)
    assert code == 1 and "4 rows: 0 created, 1 replayed, 3 failed" in out


def test_enrol_bulk_of_a_file_without_the_columns_names_them(llr, tmp_path):
    rows = tmp_path / "bad.csv"
    rows.write_text("person,offer\npp-1,o-1\n")
    code, _, err = llr("enrol", "bulk", str(rows), *AS_PROVIDER)
    assert code == 2 and "missing: person_id, offer_id, planned_start, planned_end" in err
    code, _, err = llr("enrol", "bulk", str(tmp_path / "nothing.csv"), *AS_PROVIDER)
    assert code == 2 and "No such file or directory" in err


# --- the regisseur and a citizen's counter look at an account ------------------------------------------
def test_account_show_explains_the_balance_in_euro(llr, cli_platform):
    code, out, err = llr("account", "show", cli_platform.persons[6], *REGISSEUR)
    assert code == 0, err
    assert "TRAINING_BUDGET" in out and "EUR 500.00" in out and "CREDIT" in out
    assert "TRAINING_BUDGET: balance EUR 500.00 = the sum of these entries" in out
    assert "EUR_CENT" not in out


def test_a_counter_sees_only_the_person_it_serves(llr, cli_platform):
    mine, other = cli_platform.persons[6], cli_platform.persons[7]
    code, out, _ = llr("account", "show", mine, "--as", f"loket-gent:CITIZEN_COUNTER:{mine}")
    assert code == 0 and f"account of {mine}" in out
    code, out, err = llr("account", "show", other, "--as", f"loket-gent:CITIZEN_COUNTER:{mine}")
    assert code == 1 and out == ""
    assert err.strip() == "PERMISSION_DENIED: a citizen's counter acts only for its own person"
    code, _, err = llr("account", "show", mine, "--as", "loket-gent:CITIZEN_COUNTER")
    assert code == 2 and "--as loket-gent:CITIZEN_COUNTER:PERSON_ID" in err


def test_an_offer_carries_the_training_flags_and_a_counter_records_the_pop(llr, cli_platform):
    today = cli_platform.today
    code, out, err = llr("offers", "publish", *AS_PROVIDER, "--title", "Boekhouden (opleidingscheques)",
                         "--price", "600", "--hours", "40", "--earliest", today.isoformat(),
                         "--latest", (today + timedelta(days=60)).isoformat(), "--instrument", "TRAINING_CHEQUE",
                         "--instrument", "TRAINING_LEAVE", "--in-training-database", "--training-leave")
    assert code == 0, err
    assert field(out, "training database") == "listed" and field(out, "training leave") == "eligible"
    offer_id = field(out, "offer_id")
    person = cli_platform.persons[8]
    counter = ("--as", f"loket-gent:CITIZEN_COUNTER:{person}")
    code, out, err = llr("account", "pop", person, "--offer", offer_id, *counter)
    assert code == 0, err
    assert one_line(out) == f"POP of {person} recorded on {today.isoformat()}: {offer_id}"
    code, out, err = llr("account", "show", person, *counter)
    assert code == 0 and f"personal development plan (POP) of {today.isoformat()}: {offer_id}" in one_line(out)


# --- a mentoring organisation and anyone who verifies ---------------------------------------------------
def test_a_mentoring_organisation_certifies_a_leercoach_and_anyone_verifies_it(llr, cli_platform, tmp_path):
    code, _, err = llr("organisation", "accredit", ORG, "--name", "CLI Leercoachnetwerk", *REGISSEUR)
    assert code == 0, err
    code, out, err = llr("cert", "register", cli_platform.persons[8], "--role", "LEERCOACH", *AS_ORG)
    assert code == 0, err
    candidate = out.split("candidate", 1)[1].split()[0]
    day = cli_platform.today - timedelta(days=10)
    for n in range(1, 6):
        code, out, err = llr("cert", "train", candidate, f"LC-DAY-{n}", "7", "--date",
                             (day + timedelta(days=n)).isoformat(), *AS_ORG)
        assert code == 0 and f"LC-DAY-{n} (7 h" in out, err
    code, out, err = llr("cert", "issue", candidate, *AS_ORG)
    assert code == 1 and err.startswith("FAILED_PRECONDITION: ") and "LC-ASSESSMENT" in err
    code, out, err = llr("cert", "train", candidate, "LC-ASSESSMENT", "2", "--result", "PASSED", *AS_ORG)
    # Without --date: the platform's today.
    assert code == 0 and f"LC-ASSESSMENT (2 h, {cli_platform.today.isoformat()}) recorded for {candidate}" in out, err
    credential = tmp_path / "coach.json"
    code, out, err = llr("cert", "issue", candidate, "--credential-out", str(credential), *AS_ORG)
    assert code == 0 and f"credential written to {credential}" in out, err
    certificate_id = out.split("certificate", 1)[1].split()[0]
    code, out, _ = llr("cert", "show", certificate_id, *AS_ORG)
    assert code == 0 and field(out, "status") == "ACTIVE" and field(out, "role") == "LEERCOACH"

    code, out, _ = llr("cert", "verify", str(credential))
    assert code == 0 and out.startswith("VALID")
    tampered = json.loads(credential.read_text())
    tampered["credentialSubject"]["id"] = "did:example:someone-else"
    credential.write_text(json.dumps(tampered))
    code, out, _ = llr("cert", "verify", str(credential))
    assert code == 1 and not out.startswith("VALID")


def test_cert_verify_of_a_missing_file_is_one_clear_line(llr, tmp_path):
    code, out, err = llr("cert", "verify", str(tmp_path / "missing.json"))
    assert code == 2 and out == ""
    assert err.strip() == f"error: cannot read {tmp_path / 'missing.json'}: No such file or directory"
    assert "Traceback" not in err


def test_cert_train_of_an_unknown_result_lists_the_choices(llr):
    code, _, err = llr("cert", "train", "cand-x", "LC-DAY-1", "7", "--result", "GREAT", *AS_ORG)
    assert code == 2 and "--result must be one of PASSED, FAILED, NOT_ASSESSED; got 'GREAT'" in err


# --- a KPI consumer -------------------------------------------------------------------------------
def test_kpi_list_names_provinces_and_shows_money_and_rates(llr):
    def provinces():
        code, out, _ = llr("kpi", "list", "--kpi", "participation_12m", "--cell", "province=",
                           "--as", "statbel:KPI_CONSUMER")
        return out if code == 0 else None
    out = wait_for(provinces, 60, "province cells")
    assert "province=" in out and "%" in out, out
    named = [line for line in out.splitlines() if "province=" in line]
    assert named and all(any(n in line for n in ("Antwerpen", "Vlaams-Brabant", "West-Vlaanderen",
                                                 "Oost-Vlaanderen", "Limburg")) for line in named), out
    assert "province=10000" not in out and "province=40000" not in out
    code, one, _ = llr("kpi", "list", "--kpi", "participation_12m", "--cell", "province=Antwerpen",
                       "--as", "statbel:KPI_CONSUMER")
    assert code in (0, 1) and "Limburg" not in one

    def budget():
        code, out, _ = llr("kpi", "list", "--kpi", "budget_reserved_cents", "--cell", "region=flanders",
                           "--as", "statbel:KPI_CONSUMER")
        return out if code == 0 and "EUR" in out else None
    assert "EUR " in wait_for(budget, 60, "the reserved budget")


def test_kpi_list_of_an_unknown_kpi_or_cell_says_so(llr):
    code, out, err = llr("kpi", "list", "--kpi", "participation_13m", "--as", "statbel:KPI_CONSUMER")
    assert code == 2 and out == "" and "no KPI named 'participation_13m'; the KPIs are participation_4w" in err
    code, _, err = llr("kpi", "list", "--cell", "province=Atlantis", "--as", "statbel:KPI_CONSUMER")
    assert code == 2 and "no province named 'Atlantis'" in err
    code, out, err = llr("kpi", "list", "--kpi", "provider_completion_rate", "--cell", "provider=prov-nobody",
                         "--as", "statbel:KPI_CONSUMER")
    assert code == 1 and out == ""
    assert "no published cell of provider_completion_rate matches 'provider=prov-nobody'" in err
    code, _, err = llr("kpi", "watch", "--kpi", "nope", "--as", "statbel:KPI_CONSUMER")
    assert code == 2 and "no KPI named 'nope'" in err


def test_kpi_watch_follows_a_kpi_until_interrupted(cli_platform):
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "kpi", "watch", "--kpi", "participation_12m",
                             "--cell", "region=flanders", "--as", "statbel:KPI_CONSUMER"], cwd=REPO,
                            env={**os.environ, **llr_env(cli_platform.env)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("participation_12m  region=flanders  "), first + proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0


def test_a_platform_that_is_not_running_is_named(llr, cli_platform):
    from infra.run import free_port
    from typer.testing import CliRunner

    from services.cli.main import app

    env = {**llr_env(cli_platform.env), "LLR_ENROLMENTS_GRPC_PORT": str(free_port())}
    result = CliRunner().invoke(app, ["enrol", "show", "x", *AS_PROVIDER], env=env)
    assert result.exit_code == 1
    assert "UNAVAILABLE: the enrolments service at 127.0.0.1:" in result.stderr
    assert "is the platform running (`make run`)?" in result.stderr


# --- more of the users' jobs: offers, the enrolment's life, cheques, the regisseur's account work ----
def test_a_provider_publishes_an_offer(llr):
    code, out, err = llr("offers", "publish", *AS_PROVIDER, "--title", "Excel gevorderd", "--price", "320.50",
                         "--hours", "12", "--earliest", "2027-01-04", "--latest", "2027-06-30",
                         "--instrument", "TRAINING_BUDGET", "--instrument", "training_leave")
    assert code == 0, err
    assert field(out, "price") == "EUR 320.50" and field(out, "instruments") == "TRAINING_BUDGET, TRAINING_LEAVE"
    offer_id = field(out, "offer_id")
    code, listed, _ = llr("offers", *AS_PROVIDER)
    assert code == 0 and offer_id in listed and "Excel gevorderd" in listed
    code, _, err = llr("offers", "publish", *AS_PROVIDER, "--title", "X", "--price", "12,50", "--hours", "1",
                       "--earliest", "2027-01-04", "--latest", "2027-01-05")
    assert code == 2 and "--price must be an amount in euro such as 450 or 450.00; got '12,50'" in err
    code, _, err = llr("offers", "publish", *REGISSEUR, "--title", "X", "--price", "10", "--hours", "1",
                       "--earliest", "2027-01-04", "--latest", "2027-01-05")
    assert code == 1 and err.startswith("PERMISSION_DENIED: ")


def funded_enrolment(llr, cli_platform, person: str, reference: str) -> str:
    start = cli_platform.today + timedelta(days=3)
    code, out, err = llr("enrol", "post", *AS_PROVIDER, "--person", person, "--offer", cli_platform.offer_id,
                         "--start", start.isoformat(), "--end", (start + timedelta(days=20)).isoformat(),
                         "--reference", reference)
    assert code == 0, err
    enrolment_id = field(out, "enrolment_id")

    def funded():
        _, shown, _ = llr("enrol", "show", enrolment_id, *AS_PROVIDER)
        return field(shown, "status") == "FUNDED"
    wait_for(funded, 60, "the enrolment to be funded")
    return enrolment_id


def test_a_provider_declares_start_and_completion(llr, cli_platform):
    enrolment_id = funded_enrolment(llr, cli_platform, cli_platform.persons[9], "CLI-LIFE-1")
    code, out, err = llr("enrol", "complete", enrolment_id, "--hours", "30", *AS_PROVIDER)
    assert code == 1 and err.startswith("FAILED_PRECONDITION: "), err  # not started yet
    code, out, err = llr("enrol", "start", enrolment_id, *AS_PROVIDER)
    assert code == 0 and field(out, "status") == "STARTED", err
    assert field(out, "started") == cli_platform.today.isoformat()  # default: the platform's today
    code, out, err = llr("enrol", "complete", enrolment_id, "--hours", "28", "--outcome", "PASSED", *AS_PROVIDER)
    assert code == 0 and field(out, "status") == "COMPLETED" and field(out, "outcome") == "PASSED", err
    assert field(out, "hours attended") == "28"
    code, _, err = llr("enrol", "complete", enrolment_id, "--hours", "1", "--outcome", "GREAT", *AS_PROVIDER)
    assert code == 2 and "--outcome must be one of PASSED, FAILED, ATTENDED; got 'GREAT'" in err


def test_a_provider_declares_a_dropout_and_cancels_another(llr, cli_platform):
    enrolment_id = funded_enrolment(llr, cli_platform, cli_platform.persons[10], "CLI-LIFE-2")
    assert llr("enrol", "start", enrolment_id, *AS_PROVIDER)[0] == 0
    code, out, err = llr("enrol", "dropout", enrolment_id, "--hours", "6", *AS_PROVIDER)
    assert code == 0 and field(out, "status") == "DROPPED_OUT" and field(out, "hours attended") == "6", err
    enrolment_id = funded_enrolment(llr, cli_platform, cli_platform.persons[11], "CLI-LIFE-3")
    code, out, err = llr("enrol", "cancel", enrolment_id, "--reason", "course full", *AS_PROVIDER)
    assert code == 0 and field(out, "status") == "CANCELLED", err
    assert field(out, "cancellation reason").startswith("course full")


def test_the_regisseur_credits_a_budget_and_assesses_a_career_question(llr, cli_platform):
    person = cli_platform.persons[12]
    code, out, err = llr("account", "credit", person, "100", "--explanation", "bonus for a shortage occupation",
                         *REGISSEUR)
    assert code == 0 and f"TRAINING_BUDGET of {person}: balance EUR 600.00, available EUR 600.00" in out, err
    code, _, err = llr("account", "credit", person, "0.001", "--explanation", "x", *REGISSEUR)
    assert code == 2 and "must be a positive amount in euro" in err
    code, out, err = llr("account", "assess", person, "--complex", "--note", "several career switches", *REGISSEUR)
    assert code == 0 and f"recorded for {person}: complex" in out, err
    code, _, err = llr("account", "assess", person, "--not-complex", "--as", f"loket:CITIZEN_COUNTER:{person}")
    assert code == 1 and err.strip() == "PERMISSION_DENIED: only the regisseur may do this"


def test_a_counter_sells_a_career_cheque_and_records_guidance(llr, cli_platform):
    sold = refused = None
    for person in cli_platform.persons[13:]:
        code, out, err = llr("cheque", "buy", person, "--as", f"loket-gent:CITIZEN_COUNTER:{person}")
        if code == 0:
            sold = sold or (person, field(out, "cheque_id"), out)
        else:
            assert code == 1 and err.startswith("FAILED_PRECONDITION: not eligible: "), err
            refused = refused or err
    assert sold, "nobody of the seed population could buy a career cheque"
    person, cheque_id, out = sold
    assert field(out, "bought") == cli_platform.today.isoformat() and field(out, "own contribution").startswith("EUR ")
    code, out, err = llr("cheque", "guidance", person, cheque_id, "4", "--final", "--outcome", "POP_DELIVERED",
                         "--as", f"loket-gent:CITIZEN_COUNTER:{person}")
    assert code == 0 and "4 of" in field(out, "hours"), err
    code, _, err = llr("cheque", "buy", person, "--as", "loket-gent:CITIZEN_COUNTER:pp-someone-else")
    assert code == 1 and err.strip() == "PERMISSION_DENIED: a citizen's counter acts only for its own person"


def test_a_career_centre_guides_a_redeemed_cheque_from_intake_to_pop_and_cashes_it(llr, cli_platform):
    from llr.accounts.v1 import accounts_service_pb2 as acc
    from llr.accounts.v1 import accounts_service_pb2_grpc as acc_rpc
    from services.cli.connect import token
    from services.common.auth import Role
    from services.common.grpc_server import bearer

    accounts = cli_platform.stub("accounts", acc_rpc, "AccountService")
    regisseur = bearer(token("vdab", Role.REGISSEUR))

    def unused_cheque(person: str) -> str:
        cheques = accounts.GetAccount(acc.GetAccountRequest(person_id=person), metadata=regisseur).account.career_cheques
        return next((c.cheque_id for c in cheques if c.status == "BOUGHT"), "")

    found = None
    for person in reversed(cli_platform.persons[13:]):  # another test may have sold these a cheque already
        counter = ("--as", f"loket-gent:CITIZEN_COUNTER:{person}")
        code, out, _ = llr("cheque", "buy", person, *counter)
        cheque_id = field(out, "cheque_id") if code == 0 else unused_cheque(person)
        if cheque_id:
            found = (person, cheque_id, counter)
            break
    assert found, "nobody of the seed population has or could buy a career cheque"
    person, cheque_id, counter = found
    centre = ("--as", "lc-cli-test:CAREER_CENTRE")
    code, out, err = llr("guidance", "redeem", person, cheque_id, "--centre", "lc-cli-test", *counter)
    assert code == 1 and err.startswith("FAILED_PRECONDITION: career centre 'lc-cli-test' is not accredited"), err
    code, out, err = llr("guidance", "accredit", "lc-cli-test", "--name", "Loopbaancentrum CLI", *REGISSEUR)
    assert code == 0 and "lc-cli-test" in out, err
    code, out, err = llr("guidance", "redeem", person, cheque_id, "--centre", "lc-cli-test", *counter)
    assert code == 0 and field(out, "next step") == "INTAKE", err
    intake = [f"--score={d}=2" for d in ("MEANING", "AUTONOMY", "COMPETENCE", "CONNECTION", "SAFETY", "BALANCE")]
    code, _, err = llr("guidance", "step", person, cheque_id, "intake", "--hours", "1", *intake[:-1], *centre)
    assert code == 1 and err.strip().endswith("missing dimension(s) BALANCE"), err
    code, out, err = llr("guidance", "step", person, cheque_id, "intake", "--hours", "1", *intake, *centre)
    assert code == 0 and field(out, "cheque status") == "STARTED", err
    for phase in ("analysis", "action_plan"):
        assert llr("guidance", "step", person, cheque_id, phase, "--hours", "1", *centre)[0] == 0
    better = [s.replace("=2", "=4") for s in intake]
    code, out, err = llr("guidance", "step", person, cheque_id, "evaluation", "--hours", "1", *better,
                         "--reorientation", "--no-job-match", *centre)
    assert code == 0 and field(out, "reorientation") == "yes" and field(out, "sustainable job match") == "no", err
    code, _, err = llr("guidance", "step", person, cheque_id, "pop", "--training", "", *centre)
    assert code == 1 and err.startswith("INVALID_ARGUMENT: ") and "no empty offer id" in err, err
    code, out, err = llr("guidance", "step", person, cheque_id, "pop", "--training", cli_platform.offer_id, *centre)
    assert code == 0 and field(out, "next step") == "none: the POP is delivered", err
    # The POP's trainings are the person's development plan, as the counter sees it.
    code, out, err = llr("account", "show", person, *counter)
    assert code == 0 and f"personal development plan (POP) of {cli_platform.today.isoformat()}: " \
                         f"{cli_platform.offer_id}" in one_line(out), out
    code, out, err = llr("guidance", "cash", person, cheque_id, *centre)
    assert code == 0 and field(out, "cashed") == cli_platform.today.isoformat(), err
    code, _, err = llr("guidance", "show", person, cheque_id, "--as", "lc-other:CAREER_CENTRE")
    assert code == 1 and err.startswith("NOT_FOUND: career centre 'lc-other' has no career-guidance trajectory"), err
    code, out, err = llr("guidance", "list", *centre)
    assert code == 0 and cheque_id in out and "none: POP delivered" in out, err
    code, out, err = llr("guidance", "list", "--as", "lc-other:CAREER_CENTRE")
    assert code == 0 and "no career cheque has been redeemed at career centre lc-other" in out, err


def test_the_regisseur_announces_and_draws_a_budget_opening_that_counters_apply_to(llr, cli_platform, tmp_path):
    now = cli_platform.now()
    opens, closes = now + timedelta(seconds=3), now + timedelta(seconds=10)
    seed_file = tmp_path / "cli-opening.seed"
    args = ("opening", "announce", "cli-opening", "--title", "Digitale vaardigheden", "--opens", opens.isoformat(),
            "--closes", closes.isoformat(), "--budget", "200", "--grant", "100", "--seed-file", str(seed_file))
    code, out, err = llr(*args, *REGISSEUR)
    assert code == 0 and field(out, "status") == "ANNOUNCED", err
    assert field(out, "budget") == "EUR 200.00: 2 grants of EUR 100.00"
    assert os.stat(seed_file).st_mode & 0o077 == 0   # the seed is the regisseur's secret
    code, _, err = llr(*args, *REGISSEUR)
    assert code == 2 and "exists: a seed is never reused" in err
    applicants = cli_platform.persons[13:16]
    code, _, err = llr("opening", "apply", "cli-opening", applicants[0],
                       "--as", f"loket-gent:CITIZEN_COUNTER:{applicants[0]}")
    assert code == 1 and err.startswith("FAILED_PRECONDITION: opening cli-opening takes applications from"), err
    wait_for(lambda: cli_platform.now() >= opens, 30, "the window to open", pause_s=0.2)
    for person in applicants:
        code, out, err = llr("opening", "apply", "cli-opening", person, "--as", f"loket-gent:CITIZEN_COUNTER:{person}")
        assert code == 0 and out.strip().endswith(": APPLIED"), err
    wait_for(lambda: cli_platform.now() >= closes + timedelta(seconds=0.5), 30, "the window to close",
             pause_s=0.2)
    code, out, err = llr("opening", "draw", "cli-opening", "--seed-file", str(seed_file), *REGISSEUR)
    assert code == 0 and field(out, "status") == "GRANTED", err
    assert field(out, "credited") == "2 grants"
    granted = []
    for person in applicants:
        code, out, err = llr("opening", "show", "cli-opening", "--person", person,
                             "--as", f"loket-gent:CITIZEN_COUNTER:{person}")
        assert code == 0, err
        granted += [person] if ", GRANTED, rank" in out else []
    assert len(granted) == 2
    code, _, err = llr("opening", "draw", "cli-opening", "--seed-file", str(tmp_path / "missing.seed"), *REGISSEUR)
    assert code == 2 and "cannot read --seed-file" in err


def test_the_regisseur_reads_the_audit_trail_of_a_provider_and_of_an_account_across_services(llr, cli_platform):
    llr("provider", "accredit", "prov-cli-audit", "--name", "Audit Opleidingen", *REGISSEUR)
    code, _, err = llr("provider", "suspend", "prov-cli-audit", "--reason", "r", *AS_PROVIDER)
    assert code == 1 and err.startswith("PERMISSION_DENIED: ")
    code, out, _ = llr("audit", "provider", "prov-cli-audit", *REGISSEUR)
    assert code == 0, out
    # one row each (a long cell may wrap onto a second line of its row)
    rows = [line for line in out.splitlines() if "enrolments #" in line]
    assert len(rows) == 2 and "AccreditProvider" in rows[0] and "vdab:REGISSEUR" in rows[0] \
        and "ACCEPTED" in rows[0]
    assert "SuspendProvider" in rows[1] and f"{PROVIDER}:PROVIDER" in rows[1] and "REFUSED" in rows[1]
    assert "PERMISSION_DENIED" in out.split("SuspendProvider", 1)[1]
    person = cli_platform.persons[2]
    assert llr("account", "credit", person, "10", "--explanation", "audit test", *REGISSEUR)[0] == 0
    code, out, _ = llr("audit", "account", person, *REGISSEUR)
    assert code == 0 and "accounts #" in out and "CreditBudget" in out
    code, _, err = llr("audit", "account", person, *AS_PROVIDER)
    assert code == 1 and err.startswith("PERMISSION_DENIED: ")
    code, _, err = llr("audit", "person", person, *REGISSEUR)
    assert code == 2 and "KIND must be one of account" in err


def test_a_completion_is_owed_to_the_provider_and_the_payment_system_pays_it(llr, cli_platform):
    enrolment_id = funded_enrolment(llr, cli_platform, cli_platform.persons[16], "CLI-PAY-1")
    assert llr("enrol", "start", enrolment_id, *AS_PROVIDER)[0] == 0
    assert llr("enrol", "complete", enrolment_id, "--hours", "20", "--outcome", "PASSED", *AS_PROVIDER)[0] == 0

    def owed():   # once the accounts service has captured the hold
        code, out, err = llr("payables", "list", *AS_PROVIDER)
        assert code == 0, err
        return next((line for line in out.splitlines() if enrolment_id in line), None)
    row = [c.strip() for c in wait_for(owed, 60, "the payable of the completed enrolment").strip("│┃ ").split("│")]
    due = (cli_platform.today + timedelta(days=30)).isoformat()
    assert row[:4] == ["OPEN", due, "EUR 450.00", "EUR 0.00"], row
    payable_id = row[-1]
    payments = ("--as", "payments:SERVICE")
    code, out, err = llr("payables", "pay", payable_id, "--reference", "CLI-BANK-1", "--amount", "450", *payments)
    assert code == 0 and "PAID" in out, err
    assert llr("payables", "pay", payable_id, "--reference", "CLI-BANK-1", "--amount", "450", *payments)[0] == 0
    code, _, err = llr("payables", "pay", payable_id, "--reference", "CLI-BANK-1", "--amount", "400", *payments)
    assert code == 1 and err.startswith("ALREADY_EXISTS: payment reference 'CLI-BANK-1' was already used"), err
    code, _, err = llr("payables", "pay", payable_id, "--reference", "CLI-BANK-2", "--amount", "1", *AS_PROVIDER)
    assert code == 1 and err.startswith("PERMISSION_DENIED"), err
    code, _, err = llr("payables", "list", "--status", "LATE", *AS_PROVIDER)
    assert code == 2 and "--status must be one of OPEN, OVERDUE, FROZEN, PAID" in err
    code, out, err = llr("payables", "stats", "--provider", PROVIDER, *REGISSEUR)
    assert code == 0 and PROVIDER in out and "EUR 0.00 (0)" in out, err


# --- the regisseur's fraud signals ---------------------------------------------------------------
def test_the_regisseur_sees_a_burst_of_enrolments_as_a_fraud_signal(llr, cli_platform):
    person, offer = cli_platform.persons[14], cli_platform.offer_id
    for i in range(5):  # the policy's enrolment_burst: 5 requests for one person on one day
        start = cli_platform.today + timedelta(days=20 + 10 * i)
        code, _, err = llr("enrol", "post", *AS_PROVIDER, "--person", person, "--offer", offer, "--start",
                           start.isoformat(), "--end", (start + timedelta(days=3)).isoformat(),
                           "--reference", f"CLI-BURST-{i}")
        assert code == 0, err

    def raised():
        code, out, err = llr("signals", "--rule", "enrolment_burst", *REGISSEUR)
        assert code == 0, err
        return out if f"enrolment_burst/{person}/" in out else None
    out = wait_for(raised, 90, "the burst to be signalled")
    assert f"5 enrolments requested for {person}" in one_line(out) and "enrolments=5, providers=1" in out
    assert f"providers: {PROVIDER}" in out and f"persons: {person}" in out
    code, _, err = llr("signals", "--as", "statbel:KPI_CONSUMER")
    assert code == 1 and err.startswith("PERMISSION_DENIED: "), err
