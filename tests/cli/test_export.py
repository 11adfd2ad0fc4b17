"""`followup export ...`: the console's exports from the command line, as a staff
member whose role decides what they may export, in the audit log."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from followup.cli.main import main
from followup.models.staff import AuditEntry, Role
from followup.runtime import Runtime
from tests.cli.test_campaign import cli, run  # noqa: F401  (the fixture)
from tests.conftest import add_patient
from tests.console.test_console import make_staff
from tests.console.test_hardening import saturday


def test_each_list_exports_to_a_file_as_a_named_member(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    add_patient(runtime, "P1")
    saturday(runtime)
    make_staff(runtime, "maria", Role.STAFF)
    make_staff(runtime, "adele", Role.ADMIN)
    out = tmp_path / "out.csv"
    for args in (
        ["patients", "--search", "P1"],
        ["replies"],
        ["alerts", "--state", "open"],
        ["campaign", "saturday"],
    ):
        assert "written to" in run(cli, "export", *args, "--by", "maria", "--out", str(out))
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    refused = cli.invoke(main, ["export", "audit", "--by", "maria", "--out", str(out)])
    assert refused.exit_code != 0 and "maria may not read the audit log" in refused.output
    run(cli, "export", "audit", "--by", "adele", "--out", str(out))
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["action"] for r in rows][:5] == [
        "export-audit",
        "export-campaign",
        "export-alerts",
        "export-replies",
        "export-patients",
    ]
    with runtime.sessions() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action.like("export-%"))
        ).all()
    assert actors == ["maria"] * 4 + ["adele"]
