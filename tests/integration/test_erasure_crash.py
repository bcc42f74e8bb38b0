"""SIGKILL during an erasure at random moments: afterwards the person is either fully erased or
untouched, never half (the next opening of the ledger rolls a begun erasure forward)."""

import multiprocessing
import os
import random
import signal
import time

from ledger.application import Ledger
from ledger.config import Settings
from ledger.erasure import erase
from ledger.shredding import ERASED
from tests import factories as f
from tests.conftest import STORE_UNDER_TEST, _HOMES, make_ledger

SECRET = "Planted-Secret-Crash-5150"
ROUNDS = 10


def settings_of(home):
    env = {"LEDGER_HOME": str(home)}
    if STORE_UNDER_TEST == "postgres":
        env["LEDGER_STORE"] = _HOMES[str(home.resolve())]
    return Settings.load(env)


def seed(home):
    ledger = make_ledger(home)
    score = f.assessment("L1")
    docs = [*f.setup(["L1"]), score, f.voided("L1", score, reason=f"about {SECRET}")]
    assert {o.status for o in ledger.post([f.line(d) for d in docs])} == {"accepted"}
    ledger.close()


def _child(settings, ready, go):
    ledger = Ledger(settings)
    ready.set()
    go.wait()
    erase(ledger, "L1", reason="data_subject_request", by="office")
    os._exit(0)


def erase_and_kill(home, delay):
    context = multiprocessing.get_context("fork")
    ready, go = context.Event(), context.Event()
    child = context.Process(target=_child, args=(settings_of(home), ready, go))
    child.start()
    assert ready.wait(60)
    started = time.perf_counter()
    go.set()
    if delay is not None:
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    return child.exitcode, time.perf_counter() - started


def state_of(home):
    """'erased' or 'untouched', asserting that every part of the ledger agrees on which."""
    ledger = Ledger(settings_of(home))  # opening rolls a begun erasure forward
    try:
        events = ledger.learner_events("L1")
        recorded = any(e.event["type"] == "person.erased" for e in events)
        row = ledger.shredder.keys.rows(["L1"]).get("L1")
        shown = repr([e.event for e in events])
        assert ledger.verify().ok
        if recorded:
            assert row is not None and row.wrapped is None and not row.erasing
            assert SECRET not in shown and ERASED in shown
            assert [o.status for o in ledger.post([f.line(f.assessment("L1", days=2))])] == ["rejected"]
            return "erased"
        assert row is not None and row.wrapped is not None and not row.erasing
        assert SECRET in shown and not ledger.shredder.keys.pending()
        return "untouched"
    finally:
        ledger.close()


def test_sigkill_at_random_points_of_an_erasure_leaves_it_whole_or_undone(tmp_path):
    calibration = tmp_path / "calibration"
    seed(calibration)
    code, took = erase_and_kill(calibration, None)
    assert code == 0 and state_of(calibration) == "erased"
    rng = random.Random(15)
    outcomes = []
    for round_ in range(ROUNDS):
        home = tmp_path / f"round-{round_}"
        seed(home)
        code, _ = erase_and_kill(home, rng.uniform(0, took * 1.2))
        outcomes.append((code, state_of(home)))
        # Erasing again after the crash finishes (or repeats) it cleanly.
        again = Ledger(settings_of(home))
        assert erase(again, "L1", reason="data_subject_request", by="office").status in ("erased", "already erased")
        again.close()
        assert state_of(home) == "erased"
    assert any(code == -signal.SIGKILL for code, _ in outcomes), outcomes  # some kills landed mid-erasure
