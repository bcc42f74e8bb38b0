import pytest

from ledger.application import Ledger
from ledger.config import Settings


def make_ledger(home) -> Ledger:
    return Ledger(Settings.load({"LEDGER_HOME": str(home)}))


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return make_ledger(tmp_path / "ledger")
