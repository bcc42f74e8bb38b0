"""The researcher's contract: replay history into any model, compare, evaluate, export."""

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from research.bkt import BKTParams, simulate
from tests import factories as f
from tests.e2e.test_cli import ledger, write_lines

MODELS_OUTSIDE = Path(__file__).resolve().parents[1] / "research_models"


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def projected(home: Path, tmp_path: Path, docs: list[dict]) -> Path:
    assert ledger(home, "post", str(write_lines(tmp_path / "history.jsonl", [f.line(d) for d in docs]))).returncode == 0
    assert ledger(home, "project").returncode == 0
    return home / "projections.duckdb"


def small_history() -> tuple[list[dict], dict]:
    """Two learners; L1 has a voided piece of evidence in the middle of a streak."""
    voided_one = f.assessment("L1", score=1.0, days=-8)
    docs = f.setup(["L1", "L2"]) + [
        f.assessment("L1", score=3.0, days=-10), f.assessment("L1", score=4.0, days=-9), voided_one,
        f.assessment("L1", score=3.0, days=-7), f.voided("L1", voided_one, days=-1),
        f.assessment("L2", score=3.0, days=-10), f.assessment("L2", score=2.0, days=-9),
        f.assessment("L2", "C2", score=4.0, days=-5),
    ]
    return docs, voided_one


def test_a_model_written_outside_the_package_is_replayed_into_parquet_and_leaves_the_official_file_untouched(
        tmp_path, home):
    docs, voided_one = small_history()
    projections = projected(home, tmp_path, docs)
    before = sha256_of(projections)
    out = tmp_path / "streak.parquet"

    result = ledger(home, "replay", "--model", f"{MODELS_OUTSIDE / 'streak.py'}:Streak", "--param", "need=3",
                    "--out", str(out), "--json")

    assert result.returncode == 0, result.stderr
    assert sha256_of(projections) == before
    table = pq.read_table(out)
    rows = sorted(zip(*(table.column(c).to_pylist() for c in ("learner_id", "competency_id", "step", "level",
                                                                "mastered", "event_id"))))
    assert voided_one["event_id"] not in [r[5] for r in rows]
    assert [r[:5] for r in rows] == [
        ("L1", "C1", 1, 1.0, False), ("L1", "C1", 2, 2.0, False), ("L1", "C1", 3, 3.0, True),
        ("L2", "C1", 1, 1.0, False), ("L2", "C1", 2, 0.0, False), ("L2", "C2", 1, 1.0, False),
    ]
    recorded = json.loads(table.schema.metadata[b"mastery_ledger.replay"])
    assert recorded["model"].endswith("streak.py:Streak") and recorded["params"] == {"need": 3}
    assert json.loads(result.stdout)["mastered"] == 1


def test_a_model_named_as_module_and_class_is_found_on_the_python_path(tmp_path, home, monkeypatch):
    docs, _ = small_history()
    projected(home, tmp_path, docs)
    monkeypatch.setenv("PYTHONPATH", str(MODELS_OUTSIDE))
    result = ledger(home, "replay", "--model", "streak:Streak", "--out", str(tmp_path / "s.parquet"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 6


@pytest.mark.parametrize("args, reason", [
    (["--model", "no_such_model"], "unknown model 'no_such_model'"),
    (["--model", "bkt", "--param", "slip=1.5"], "slip=1.5 must be a probability"),
    (["--model", "decaying_average", "--param", "weight"], "expected name=value"),
    (["--model", "missing.py:Model"], "no file missing.py"),
    (["--model", f"{MODELS_OUTSIDE / 'streak.py'}:Broken"], "failed on learner L1, competency C1: ZeroDivisionError"),
])
def test_a_model_that_cannot_run_is_refused_in_one_line_and_writes_nothing(tmp_path, home, args, reason):
    docs, _ = small_history()
    projected(home, tmp_path, docs)
    result = ledger(home, "replay", *args, "--out", str(tmp_path / "x.parquet"))
    assert result.returncode == 1
    assert reason in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.parquet").exists()


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("district") / "home"
    assert ledger(home, "demo", "--learners", "60").returncode == 0
    return home


def independent_decisions(projections: Path) -> dict[str, tuple[int, int, int]]:
    """Per competency: (pairs, differ, mastered only by most_recent) for most_recent vs highest,
    counted in SQL straight from the projected evidence, without the research code."""
    with duckdb.connect(str(projections), read_only=True) as con:
        rows = con.execute("""
            WITH counted AS (
                SELECT s.learner_id, s.competency_id, s.score,
                       row_number() OVER (PARTITION BY s.learner_id, s.competency_id
                                          ORDER BY s.demonstrated_at DESC, s.position DESC) AS newest
                FROM evidence_score s JOIN evidence e USING (event_id)
                WHERE NOT coalesce(e.voided, false)),
            decided AS (
                SELECT c.competency_id, max(c.score) FILTER (WHERE newest = 1) >= k.threshold AS by_recent,
                       max(c.score) >= k.threshold AS by_highest
                FROM counted c JOIN competency k USING (competency_id)
                GROUP BY c.learner_id, c.competency_id, k.threshold)
            SELECT competency_id, count(*), count(*) FILTER (WHERE by_recent <> by_highest),
                   count(*) FILTER (WHERE by_recent AND NOT by_highest)
            FROM decided GROUP BY competency_id""").fetchall()
    return {c: (pairs, differ, only_recent) for c, pairs, differ, only_recent in rows}


def test_models_compare_on_the_demo_district_matches_an_independent_count(district):
    result = ledger(district, "models", "compare", "most_recent", "highest", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = independent_decisions(district / "projections.duckdb")
    got = {c["competency_id"]: (c["pairs"], c["differ"], c["mastered_only_by_a"]) for c in report["competencies"]}
    assert got == expected
    assert report["overall"]["differ"] == sum(d for _, d, _ in expected.values()) > 0
    for example in report["overall"]["examples"]:
        assert example["a"]["mastered"] != example["b"]["mastered"]


def test_replaying_the_official_methods_reproduces_the_official_states(district, tmp_path):
    out = tmp_path / "official.parquet"
    assert ledger(district, "replay", "--model", "official", "--out", str(out)).returncode == 0
    table = pq.read_table(out).to_pylist()
    final = {}
    for row in table:  # rows are in step order within each learner and competency
        final[(row["learner_id"], row["competency_id"])] = (row["mastered"], round(row["level"], 9))
    with duckdb.connect(str(district / "projections.duckdb"), read_only=True) as con:
        official = {(l, c): (m, round(v, 9)) for l, c, m, v in con.execute(
            "SELECT learner_id, competency_id, mastered, level FROM competency_state").fetchall()}
    assert final == official
    compared = json.loads(ledger(district, "models", "compare", "official", "official", "--json").stdout)
    assert compared["overall"]["differ"] == 0 and compared["overall"]["pairs"] == len(official)


def test_export_writes_the_history_and_the_official_states_as_parquet(district, tmp_path):
    result = ledger(district, "export", "--parquet", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(district / "projections.duckdb"), read_only=True) as con:
        for table in ("evidence", "competency_state", "evidence_score", "credit_audit"):
            exported = pq.read_table(tmp_path / "out" / f"{table}.parquet")
            count = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            assert exported.num_rows == count == json.loads(result.stdout)["tables"][table] > 0
            assert exported.column_names == [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


TRUE_BKT = BKTParams(prior=0.2, learn=0.2, guess=0.25, slip=0.1)


def test_evaluate_ranks_bkt_with_the_true_parameters_above_most_recent_on_simulated_learners(tmp_path, home):
    learners = [f"S{i:03d}" for i in range(150)]
    answers = simulate(TRUE_BKT, len(learners), 8, seed=11)
    docs = f.setup(learners) + [
        f.assessment(learner, score=4.0 if right else 1.0, days=-18 + 2 * t)
        for learner, sequence in zip(learners, answers) for t, right in enumerate(sequence)]
    projected(home, tmp_path, docs)
    true = "bkt?" + "&".join(f"{k}={v}" for k, v in TRUE_BKT.as_dict().items() if k != "forget")

    result = ledger(home, "models", "evaluate", true, "most_recent", "--json")

    assert result.returncode == 0, result.stderr
    scores = {m["model"]: m["pooled"] for m in json.loads(result.stdout)["models"]}
    means = {m["model"]: m["mean"] for m in json.loads(result.stdout)["models"]}
    assert scores["bkt"]["n"] == scores["most_recent"]["n"] == 150 * 8
    assert means["bkt"]["auc"] > means["most_recent"]["auc"]
    assert means["bkt"]["rmse"] < means["most_recent"]["rmse"]
    assert scores["bkt"]["logloss"] < scores["most_recent"]["logloss"]
    assert scores["bkt"]["auc"] > scores["most_recent"]["auc"]
    assert scores["bkt"]["rmse"] < scores["most_recent"]["rmse"]


def test_histories_read_a_few_rows_at_a_time_are_the_histories_read_at_once(district):
    from projections import official
    from projections.queries import counted_pairs, counted_scores
    from research.replay import iter_histories

    with official.connect(district / "projections.duckdb", read_only=True) as con:
        expected: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for learner, competency, event_id, score, _ in counted_scores(con):
            expected.setdefault((competency, learner), []).append((event_id, score))
        # 7 rows a batch: histories and competencies cross batch boundaries everywhere.
        got = {(c.competency_id, h.learner_id): list(zip(h.event_ids, h.scores))
               for c in iter_histories(con, rows=7) for h in c.histories}
        assert got == expected
        assert counted_pairs(con) == len(expected) > 100


def test_replay_reports_as_many_mastered_pairs_as_the_official_states_hold(district, tmp_path):
    result = ledger(district, "replay", "--model", "official", "--out", str(tmp_path / "o.parquet"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    with duckdb.connect(str(district / "projections.duckdb"), read_only=True) as con:
        [(pairs, mastered)] = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE mastered) FROM competency_state").fetchall()
    assert (summary["learner_competencies"], summary["mastered"]) == (pairs, mastered)
    assert 0 < mastered < pairs
