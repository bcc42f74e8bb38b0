"""What the README promises of every command, checked on the commands as registered (so a new
command is covered the day it is added), and the promises item by item: pace on a past day,
unknown credit statuses, hashes in `ledger events`."""

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from consumers.projector import run_projections
from tests import factories as f
from tests.conftest import make_ledger


def registered_commands() -> list[list[str]]:
    """Every leaf command's path ("credit badge", "broker start", ...), walked from the typer app."""
    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, path + [name])
        else:
            yield path

    return list(walk(typer.main.get_command(app), []))


COMMANDS = registered_commands()


def test_the_walk_finds_the_commands_of_the_main_app_and_of_every_sub_app():
    found = {" ".join(path) for path in COMMANDS}
    assert {"init", "post", "events", "audit", "schemas", "credit badge", "credit list", "broker start",
            "models list", "keys create", "frameworks", "rejected", "serve"} <= found
    assert len(found) == len(COMMANDS) >= 30


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help_and_accepts_json(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    assert any("--json" in param.opts for param in command.params), f"`ledger {' '.join(path)}` has no --json"
    # --json given before --help: an unknown option would be refused (exit 2) before help is shown.
    shown = CliRunner().invoke(app, [*path, "--json", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--json" in shown.output and "Usage:" in shown.output


def test_schemas_check_reports_in_json():
    shown = CliRunner().invoke(app, ["schemas", "--check", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {"ok": True, "directory": json.loads(shown.output)["directory"], "drift": []}


def ledger_cli(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def planned(tmp_path):
    """L1's plan (set on day -10, target day 90) has goals C1 and C2: C1 mastered on day 1, C2 on day 40."""
    home = tmp_path / "home"
    ledger = make_ledger(home)
    plan = f.event("plan.set", {"plan_id": "p1", "title": "Year plan", "goals": ["C1", "C2"],
                                "target_date": f.at(90)[:10]}, learner="L1", actor=f.ADVISOR, days=-10)
    docs = [f.framework(), f.course(method={"name": "most_recent", "params": {}}), f.enrolled("L1"),
            f.advisor_assigned("L1"), plan, f.assessment("L1", "C1", 3.5, days=1), f.assessment("L1", "C2", 3.5, days=40)]
    outcomes = list(ledger.post([f.line(d) for d in docs]))
    assert [o.rejection for o in outcomes if o.rejection] == []
    run_projections(ledger, home / "projections.duckdb")
    return home


def plan_on(home, day: str) -> dict:
    result = ledger_cli(home, "plan", "L1", "--on", day, "--json")
    assert result.returncode == 0, result.stderr
    [plan] = json.loads(result.stdout)["plans"]
    return plan


def test_pace_on_a_past_day_counts_only_what_was_mastered_by_then(planned):
    early = plan_on(planned, f.at(5)[:10])  # C1 mastered, C2 not yet: half the goals, 15% of the time
    assert early["goals_mastered"] == 1 and early["percent"] == 50.0 and early["pace"] == "ahead"
    assert [g["mastered"] for g in early["goal_states"]] == [True, False]
    before = plan_on(planned, f.at(0)[:10])  # nothing mastered yet
    assert before["goals_mastered"] == 0 and before["pace"] == "on_track"
    later = plan_on(planned, f.at(45)[:10])
    assert later["goals_mastered"] == 2 and later["pace"] == "complete"
    text = ledger_cli(planned, "plan", "L1", "--on", f.at(5)[:10]).stdout
    assert "1/2 goals mastered" in text and "pace: ahead" in text


def test_credit_list_refuses_an_unknown_status_and_names_the_known_ones(planned):
    result = ledger_cli(planned, "credit", "list", "--status", "bogus")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: --status: unknown status 'bogus': choose ")
    for known in ("proposed", "approved", "stale", "awarded", "flagged", "revoked"):
        assert known in line
    as_json = ledger_cli(planned, "credit", "list", "--status", "bogus", "--json")
    assert as_json.returncode == 1 and "unknown status" in json.loads(as_json.stdout)["error"]
    assert ledger_cli(planned, "credit", "list", "--status", "proposed").returncode == 0


def test_events_text_shows_each_events_hash(planned):
    result = ledger_cli(planned, "events", "L1")
    hashes = [e["hash"] for e in json.loads(ledger_cli(planned, "events", "L1", "--json").stdout)]
    lines = result.stdout.splitlines()
    assert len(lines) == len(hashes) and all(h[:12] in line for h, line in zip(hashes, lines))
