"""A projections file made by an older version of the read models is rebuilt, not misread."""

import duckdb

from consumers.projector import run_projections
from ledger.demo import generate
from projections import official
from tests.conftest import make_ledger
from tests.projection_support import table_rows


def test_a_file_from_before_the_voided_at_column_is_rebuilt_whole_on_the_next_run(tmp_path):
    ledger = make_ledger(tmp_path / "home")
    list(ledger.post(generate(seed=5, learners=20).lines))
    path = tmp_path / "projections.duckdb"
    run_projections(ledger, path)
    expected = table_rows(path)
    with duckdb.connect(str(path)) as con:  # what the previous version wrote
        con.execute("DROP INDEX evidence_score_learner")
        con.execute("ALTER TABLE evidence_score DROP COLUMN voided_at")
    assert official.outdated(path)

    run_projections(ledger, path)

    assert not official.outdated(path)
    assert table_rows(path) == expected
