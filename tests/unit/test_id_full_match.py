"""An id is valid only as a whole: a trailing newline (or anything after a valid id) is refused,
by the event models and by the HTTP layer's path check alike."""

import json

from hypothesis import given, strategies as st

from api.app import ID
from ledger.intake import Rejection, parse
from tests import factories as f

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,40}\Z")
tails = st.sampled_from(["\n", "\r\n", "\n\n", " ", "\t", "\x00", "\u2028"])


@given(ids, tails)
def test_an_id_with_anything_after_it_is_refused_by_the_http_path_check(value, tail):
    assert ID.match(value)
    assert not ID.match(value + tail)


@given(ids, tails)
def test_an_event_whose_learner_id_has_a_trailing_newline_is_rejected_naming_the_field(value, tail):
    event = f.assessment(value, days=-1)
    assert not isinstance(parse(json.dumps(event)), Rejection)
    refused = parse(json.dumps({**event, "learner_id": value + tail}))
    assert isinstance(refused, Rejection) and refused.field == "learner_id", refused
