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
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, UUIDAsHex

    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    state = {"timestamp": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc), "id": uuid4(),
             "amount": Decimal("1.10"), "nested": {"at": datetime(2025, 1, 1), "ids": [uuid4()]}, "n": 2**70,
             "text": "é"}
    assert transcoder.decode(transcoder.encode(state)) == state
    plain = {"timestamp": state["timestamp"], "body": "x"}
    assert transcoder.decode(transcoder.encode(plain)) == plain
    assert json.loads(transcoder.encode(plain)) == json.loads(transcoder.__class__.__mro__[1].encode(transcoder, plain))
