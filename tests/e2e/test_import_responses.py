"""A researcher's response log imported with `ledger import responses` and evaluated with the
literature's protocol (learner-grouped folds, mean ± std of per-fold metrics). The comparison
with pyBKT's own cross-validation on the same import is in tests/integration/test_bkt_reference.py
(it runs once, not again on the PostgreSQL pass: pyBKT never touches the store)."""

import json

import duckdb
import pytest

from tests.e2e.test_cli import ledger
from tests.factories import SHARED_DATA

HW = SHARED_DATA / "responses" / "as_hw_cmp.csv"

SMALL = """user_id,order_id,problem_id,skill_name,correct,extra
u1,10,p1,Venn Diagram,1,a
u1,11,p2,Venn Diagram,x,a
bad id,,p2,,1,a
u2,12,p3,Mode,0,a
u2,12,p3,Mode,0,a
u2,13,p4,Mode,1,b
u2,13,p4,Mode,1,c
"""


def counted(home) -> list[tuple]:
    with duckdb.connect(str(home / "projections.duckdb"), read_only=True) as con:
        return con.execute("SELECT learner_id, competency_id, score FROM evidence_score ORDER BY learner_id, "
                           "demonstrated_at").fetchall()


def test_unusable_rows_are_named_with_every_reason_and_their_neighbours_are_recorded(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "small.csv"
    path.write_text(SMALL)

    first = ledger(home, "import", "responses", str(path))
    again = ledger(home, "import", "responses", str(path), "--json")

    assert first.returncode == 1
    assert [line for line in first.stderr.splitlines() if line.startswith("row ")] == [
        "row 3: correct: 'x' is not 0 or 1",
        "row 4: user_id: 'bad id' is not an id (letters, digits and . _ : - only, up to 128); "
        "skill_name: is empty; order_id: is empty"]
    assert "Traceback" not in first.stderr
    # 1 framework + 2 enrolments + 5 usable rows; both repeated rows are kept as evidence.
    assert "accepted 8, duplicate 0, unusable rows 2" in first.stdout
    report = json.loads(again.stdout)
    assert (report["accepted"], report["duplicate"], report["rejected"]) == (0, 8, 2)
    assert [r["row"] for r in report["unusable_rows"]] == [3, 4]
    assert report["skills"] == {"Venn Diagram": "Venn-Diagram", "Mode": "Mode"}
    assert ledger(home, "project").returncode == 0
    assert counted(home) == [("u1", "Venn-Diagram", 1.0), ("u2", "Mode", 0.0), ("u2", "Mode", 0.0),
                             ("u2", "Mode", 1.0), ("u2", "Mode", 1.0)]


def test_dedupe_drops_only_rows_identical_in_every_column(tmp_path):
    home = tmp_path / "home"
    path = tmp_path / "small.csv"
    path.write_text(SMALL)

    report = json.loads(ledger(home, "import", "responses", str(path), "--dedupe", "--json").stdout)

    # Row 6 repeats row 5 in every column; rows 7 and 8 are the same answer but differ in `extra`.
    assert report["dropped_duplicates"] == 1
    assert report["accepted"] == 1 + 2 + 4


def test_a_file_without_the_columns_a_response_log_needs_is_refused_naming_them(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("student,answer\n1,0\n")

    result = ledger(tmp_path / "home", "import", "responses", str(path))

    assert result.returncode == 1
    assert result.stderr.strip().endswith("missing columns user_id, skill_name, correct, order_id (a response log "
                                          "needs user_id, skill_name, correct, order_id; found student, answer)")


@pytest.fixture(scope="module")
def hw_home(tmp_path_factory):
    """as_hw_cmp.csv imported with the command and projected, once for the module."""
    home = tmp_path_factory.mktemp("hw") / "home"
    imported = ledger(home, "import", "responses", str(HW), "--json")
    assert imported.returncode == 0, imported.stdout[-2000:] + imported.stderr[-2000:]
    report = json.loads(imported.stdout)
    assert (report["answers"], report["learners"], report["accepted"]) == (26_409, 1014, 1 + 1014 + 26_409)
    assert ledger(home, "project").returncode == 0
    return home


@pytest.fixture(scope="module")
def hw_evaluated(hw_home):
    result = ledger(hw_home, "models", "evaluate", "bkt", "pfa", "afm", "decaying_average", "--folds", "10",
                    "--seed", "0", "--json", "--per-fold")
    assert result.returncode == 0, result.stderr
    return {m["model"]: m for m in json.loads(result.stdout)["models"]}


def test_reimporting_as_hw_cmp_is_all_duplicates(hw_home):
    report = json.loads(ledger(hw_home, "import", "responses", str(HW), "--json").stdout)
    assert (report["accepted"], report["duplicate"], report["rejected"]) == (0, 1 + 1014 + 26_409, 0)


def test_ten_grouped_folds_give_per_fold_mean_and_std_beside_the_pooled_figure(hw_evaluated):
    for name, m in hw_evaluated.items():
        assert m["pooled"]["n"] == 26_409, name
        assert len(m["per_fold"]) == 10 and sum(f["n"] for f in m["per_fold"]) == 26_409
        aucs = [f["auc"] for f in m["per_fold"]]
        assert m["mean"]["auc"] == pytest.approx(sum(aucs) / 10)
        assert m["std"]["auc"] > 0
    # Folds balanced by answers: no fold more than one learner's answers away from the others.
    sizes = [f["n"] for f in hw_evaluated["bkt"]["per_fold"]]
    assert max(sizes) - min(sizes) < 300
    # The fitted models beat a constant guess on held-out learners and BKT leads, as papers find
    # for this data; pooling the folds moves BKT's AUC by more than 0.005.
    assert hw_evaluated["bkt"]["mean"]["auc"] > hw_evaluated["pfa"]["mean"]["auc"] > \
        hw_evaluated["afm"]["mean"]["auc"] > 0.6
    assert abs(hw_evaluated["bkt"]["mean"]["auc"] - hw_evaluated["bkt"]["pooled"]["auc"]) > 0.005


def test_item_models_read_the_imported_problem_ids_in_evaluate_replay_and_compare(tmp_path):
    import random

    import pyarrow.parquet as pq

    from projections import official
    from research.replay import iter_histories

    rng = random.Random(5)
    lines = ["user_id,order_id,problem_id,skill_name,correct"]
    for u in range(24):
        for n in range(6):
            item = rng.randrange(4)
            lines.append(f"u{u},{100 * u + n},q{item},Mode,{int(rng.random() < 0.25 + 0.15 * item)}")
    path = tmp_path / "items.csv"
    path.write_text("\n".join(lines) + "\n")
    home = tmp_path / "home"
    assert ledger(home, "import", "responses", str(path)).returncode == 0
    assert ledger(home, "project").returncode == 0
    with official.connect(home / "projections.duckdb", read_only=True) as con:
        [mode] = list(iter_histories(con, items=True))
    assert {i for h in mode.histories for i in h.items} == {"q0", "q1", "q2", "q3"}
    assert sum(len(h.items) for h in mode.histories) == 144

    evaluated = ledger(home, "models", "evaluate", "irt", "irt2pl", "best_lr", "--folds", "4", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    scored = {m["model"]: m for m in json.loads(evaluated.stdout)["models"]}
    assert {m: scored[m]["pooled"]["n"] for m in scored} == {"irt": 144, "irt2pl": 144, "best_lr": 144}
    # Every test learner is unseen (grouped folds): IRT predicts from the item alone, so items differ.
    assert scored["irt"]["mean"]["auc"] > 0.55

    out = tmp_path / "irt.parquet"
    replayed = ledger(home, "replay", "--model", "best_lr", "--param", "learner=0", "--out", str(out), "--json")
    assert replayed.returncode == 0, replayed.stderr
    recorded = json.loads(pq.read_table(out).schema.metadata[b"mastery_ledger.replay"])
    assert recorded["params"] == {"C": 1.0, "learner": False, "mastery_p": 0.95}
    assert ledger(home, "models", "compare", "irt", "best_lr", "--json").returncode == 0
    refused = ledger(home, "models", "evaluate", "irt?slip=0.1")
    assert refused.returncode != 0 and "irt takes C, mastery_p" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
