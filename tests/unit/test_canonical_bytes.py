"""The faster writers produce what the standard library's did."""

import json
from datetime import datetime, timezone
from decimal import Decimal
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from ledger.canonical import canonical_json
from ledger.transcoder import OrjsonTranscoder

# What validated events hold: text, 64-bit integers, and floats written without an exponent.
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
           | st.floats(min_value=1e-4, max_value=1e15, allow_nan=False) | st.just(0.0))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                         max_leaves=20)


@given(documents)
def test_canonical_json_is_byte_for_byte_what_the_standard_library_wrote(value):
    assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_canonical_json_still_writes_integers_beyond_64_bits():
    assert canonical_json({"n": 2**70}) == '{"n":1180591620717411303424}'


def test_the_orjson_transcoder_reads_back_the_types_the_library_registers():
    transcoder = OrjsonTranscoder()
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    state = {"timestamp": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "id": uuid4(),
             "amount": Decimal("1.10"), "nested": {"at": datetime(2025, 1, 1), "ids": [uuid4()]}, "n": 2**70,
             "text": "é"}
    assert transcoder.decode(transcoder.encode(state)) == state
    plain = {"timestamp": state["timestamp"], "body": "x"}
    assert transcoder.decode(transcoder.encode(plain)) == plain
    assert json.loads(transcoder.encode(plain)) == json.loads(JSONTranscoder.encode(transcoder, plain))


def test_a_receipt_made_without_its_aggregate_is_stored_as_the_library_stores_the_aggregates_and_reads_back(
        tmp_path):
    from uuid import uuid4

    from ledger.application import Ledger
    from ledger.config import Settings
    from ledger.streams import PendingReceipt, Receipt, receipt_created

    ledger = Ledger(Settings.load({"LEDGER_HOME": str(tmp_path)}))
    event_id = uuid4()
    direct = ledger.mapper.to_stored_event(receipt_created(event_id, PendingReceipt("learner:L1", "f" * 64)))
    [created] = Receipt.issue(event_id, "learner:L1", "f" * 64).collect_events()
    by_aggregate = ledger.mapper.to_stored_event(created)
    assert (direct.originator_id, direct.originator_version, direct.topic) == (
        by_aggregate.originator_id, by_aggregate.originator_version, by_aggregate.topic)
    assert json.loads(direct.state).keys() == json.loads(by_aggregate.state).keys()
    read_back = ledger.mapper.to_domain_event(direct).mutate(None)
    assert (read_back.id, read_back.stream_key, read_back.fingerprint) == (event_id, "learner:L1", "f" * 64)
