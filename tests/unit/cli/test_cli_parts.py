"""The CLI's own rules, without a platform: how it shows money and KPI cells, reads ``--as`` and
a bulk file, and what its help says. The commands against the running platform are tested in
``tests/integration/cli``."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llr.enrolments.v1 import enrolments_service_pb2 as pb
from services.cli import show
from services.cli.connect import parse_identity
from services.cli.main import app, derived_reference, read_bulk_csv
from services.cli.show import UsageError
from services.common.auth import Role
from services.kpi.domain import definitions


def test_money_is_shown_one_way():
    assert show.money(45_000) == "EUR 450.00"
    assert show.money(5) == "EUR 0.05"
    assert show.money(-1_250) == "EUR -12.50"
    assert show.amount(50_000, "EUR_CENT") == "EUR 500.00"
    assert show.amount(32, "HOUR") == "32 h"
    assert show.kpi_value(definitions.BUDGET_RESERVED, 123_456, None) == "EUR 1234.56"
    assert show.kpi_value(definitions.PARTICIPATION_12M, 30, 100) == "30.0%"
    assert show.kpi_value(definitions.CERTIFIED_MENTORS, 12, None) == "12"


def test_provinces_and_municipalities_are_named_and_may_be_asked_for_by_name():
    assert show.cell_label("province=10000") == "province=Antwerpen"
    assert show.cell_label("municipality=44021") == "municipality=Gent"
    assert show.cell_label("region=flanders") == "region=flanders"
    assert show.cell_filter("province=antwerpen") == "province=10000"
    assert show.cell_filter("province=") == "province="
    assert show.cell_filter("province=10000") == "province=10000"
    assert show.cell_filter("prov") == "prov"
    with pytest.raises(UsageError, match="no province named 'Atlantis'.*Antwerpen, Limburg"):
        show.cell_filter("province=Atlantis")
    with pytest.raises(UsageError, match="--cell must start with a dimension, one of region, province"):
        show.cell_filter("county=x")


def test_an_unknown_kpi_is_named_with_the_list_of_kpis():
    assert show.check_kpi("participation_4w") == "participation_4w"
    with pytest.raises(UsageError, match="no KPI named 'participation_13m'; the KPIs are participation_4w, "):
        show.check_kpi("participation_13m")


def test_a_counter_acts_for_the_one_person_it_serves():
    assert parse_identity("loket-gent:CITIZEN_COUNTER:pp-1") == ("loket-gent", Role.CITIZEN_COUNTER, "pp-1")
    assert parse_identity("vdab:regisseur") == ("vdab", Role.REGISSEUR, "")
    with pytest.raises(UsageError, match="acts for the one person it serves: --as loket-gent:CITIZEN_COUNTER:PERSON_ID"):
        parse_identity("loket-gent:CITIZEN_COUNTER")
    with pytest.raises(UsageError, match="only a CITIZEN_COUNTER acts for a person"):
        parse_identity("vdab:REGISSEUR:pp-1")
    with pytest.raises(UsageError, match="unknown role 'BOSS'"):
        parse_identity("vdab:BOSS")
    with pytest.raises(UsageError, match="--as must be ORGANISATION:ROLE"):
        parse_identity("vdab")


def test_a_derived_reference_is_the_same_for_the_same_request_only():
    one = derived_reference("prov-a", "pp-1", "offer-1", "2026-02-02", "2026-03-27", "TRAINING_BUDGET", "")
    assert one == derived_reference("prov-a", "pp-1", "offer-1", "2026-02-02", "2026-03-27", "TRAINING_BUDGET", "")
    assert one != derived_reference("prov-a", "pp-1", "offer-1", "2026-02-03", "2026-03-27", "TRAINING_BUDGET", "")
    assert one.startswith("cli-") and len(one) <= 100


def test_a_bulk_file_is_read_row_by_row(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("person_id,offer_id,planned_start,planned_end,instrument,provider_reference\n"
                    "pp-1,o-1,2026-02-02,2026-03-27,,REF-1\n"
                    "pp-2,o-1,2026-02-02,2026-03-27,TRAINING_CHEQUES,REF-2\n"
                    "pp-3,o-1,2026-02-02,2026-03-27,training_leave,\n")
    rows, refused = read_bulk_csv(path, "prov-a")
    assert [line for line, _ in rows] == [2, 4]
    assert rows[0][1].instrument == pb.FUNDING_INSTRUMENT_TRAINING_BUDGET and rows[0][1].provider_reference == "REF-1"
    assert rows[1][1].instrument == pb.FUNDING_INSTRUMENT_TRAINING_LEAVE
    assert rows[1][1].provider_reference.startswith("cli-")
    assert refused == [(3, "instrument must be one of TRAINING_BUDGET, TRAINING_CHEQUE, TRAINING_LEAVE, "
                           "CAREER_CHEQUE; got 'TRAINING_CHEQUES'")]


def test_a_bulk_file_without_the_columns_is_refused_naming_them(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("person,offer_id\npp-1,o-1\n")
    with pytest.raises(UsageError, match="missing: person_id, planned_start, planned_end"):
        read_bulk_csv(path, "prov-a")
    with pytest.raises(UsageError, match="cannot read .*missing.csv: No such file or directory"):
        read_bulk_csv(tmp_path / "missing.csv", "prov-a")


def _commands(group, path=()):
    import typer.main

    click_group = typer.main.get_command(group)
    stack = [(path, click_group)]
    while stack:
        prefix, cmd = stack.pop()
        yield prefix
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append(((*prefix, name), sub))


def test_every_help_is_plain_with_no_type_markers_on_flags():
    runner = CliRunner()
    for path in _commands(app):
        result = runner.invoke(app, [*path, "--help"], prog_name="llr", env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output and "╭" not in result.output, (path, result.output)


def test_instrument_help_lists_exactly_the_accepted_values():
    result = CliRunner().invoke(app, ["enrol", "post", "--help"], prog_name="llr", env={"COLUMNS": "200"})
    accepted = [n.removeprefix("FUNDING_INSTRUMENT_") for n in pb.FundingInstrument.keys()
                if n != "FUNDING_INSTRUMENT_UNSPECIFIED"]
    assert f"how it is funded: {', '.join(accepted)}" in " ".join(result.output.split())
    assert "TRAINING_CHEQUES" not in result.output


def test_every_kpi_the_domain_counts_is_a_known_kpi_name():
    constants = {v for k, v in vars(definitions).items() if k.isupper() and isinstance(v, str) and
                 (v.startswith(("participation", "career_", "budget_", "certified_", "provider_")) or
                  v == definitions.LEERCOACH_GUIDED_SHARE)}
    assert constants == set(definitions.KPI_NAMES)
