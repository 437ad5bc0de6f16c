"""The real processes deploy as a set in the order the shell lists them (issue 14, point 9): `samflode deploy
processes/*.bpmn` deploys in_utskrivning although sip, which it calls, comes later in the alphabet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.domain.clock import SimulatedClock
from engine.platform import Platform, build
from tests.bpmn.conftest import PROCESSES
from tests.conftest import OWNER, truncate_all


@pytest.fixture
def platform(process_settings, clock: SimulatedClock) -> Iterator[Platform]:
    p = build(process_settings, clock=clock, migrate=False)
    truncate_all(p.db)
    yield p
    p.close()


def test_the_real_processes_deploy_in_alphabetical_order(platform):
    paths = sorted(PROCESSES.glob("*.bpmn"))  # in_utskrivning before sip, which it calls
    assert [p.stem for p in paths].index("in_utskrivning") < [p.stem for p in paths].index("sip")
    results = platform.runtime.deploy_set([(p.name, p.read_bytes()) for p in paths], OWNER)
    assert [r.process_id for r in results] == [p.stem for p in paths]
    assert all(r.executable and r.created for r in results)
    ids = {r.process_id: r.definition_id for r in results}
    assert platform.reports.definition("in_utskrivning")["dependencies"] == {"sip": ids["sip"]}
    assert not [d for r in results for d in r.diagnostics if "inte driftsatt" in d.message]


def test_the_command_line_deploys_the_processes_folder_in_the_order_the_shell_gives(platform, monkeypatch, capsys):
    from webui import cli

    monkeypatch.setattr(cli, "_platform", lambda settings=None: platform)
    paths = [str(p) for p in sorted(PROCESSES.glob("*.bpmn"))]
    assert cli.main(["deploy", *paths]) == 0
    out = capsys.readouterr().out
    assert "in_utskrivning version 1 (ny version)" in out and "sip version 1 (ny version)" in out
