"""Sessions and invitations of the web pages (ledger.people): a cookie changed anywhere is refused,
an expired one too; CSRF tokens belong to one session; invitations name every missing binding."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ledger.access import Grant, may_read_learner
from ledger.config import Settings
from ledger.people import SESSION_SECONDS, Sessions, grant_of, invite_problems

PERSON = {"person_id": "p1", "role": "guardian", "school_id": "s1", "learners": ["L1"], "actor_id": None,
          "language": "es", "label": ""}


def sessions(tmp_path) -> Sessions:
    return Sessions(Settings.load({"LEDGER_HOME": str(tmp_path)}))


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQZaz09-_."))
def test_a_cookie_changed_anywhere_is_refused(tmp_path_factory, position, replacement):
    signer = sessions(tmp_path_factory.mktemp("s"))
    cookie = signer.issue(PERSON)
    assert signer.read(cookie)["learners"] == ["L1"]
    index = position % len(cookie)
    forged = cookie[:index] + replacement + cookie[index + 1:]
    if forged != cookie:
        assert signer.read(forged) is None


def test_expired_sessions_and_other_sessions_tokens_are_refused(tmp_path):
    signer = sessions(tmp_path)
    cookie = signer.issue(PERSON, now=1000.0)
    assert signer.read(cookie, now=1000.0 + SESSION_SECONDS - 1) is not None
    assert signer.read(cookie, now=1000.0 + SESSION_SECONDS + 1) is None
    one, other = signer.read(signer.issue(PERSON)), signer.read(signer.issue(PERSON))
    assert signer.csrf_ok(one, signer.csrf_token(one))
    assert not signer.csrf_ok(one, signer.csrf_token(other))
    assert not signer.csrf_ok(one, "")
    # Another ledger's key signs differently.
    assert sessions(tmp_path / "elsewhere").read(cookie, now=1000.0) is None


def test_a_guardian_reads_only_their_learners():
    grant = grant_of(signed := {**PERSON, "expires": 0, "nonce": "n"})
    assert signed["learners"] == ["L1"]
    assert may_read_learner(grant, learner_school="s1", learner_advisors=set(), learner_id="L1") is None
    assert may_read_learner(grant, learner_school="s1", learner_advisors=set(), learner_id="L2") is not None
    # An API key without learners keeps its old rules.
    assert may_read_learner(Grant("k", "school", "s1"), learner_school="s1", learner_advisors=set()) is None


def test_invitations_name_every_missing_binding():
    problems = invite_problems("guardian", school_id=None, learners=[], actor_id=None, language="fr")
    assert len(problems) == 3 and any("--school" in p for p in problems) and any("--learner" in p for p in problems)
    assert invite_problems("advisor", school_id="s1", learners=[], actor_id=None, language="en") == [
        "an advisor needs --actor (the id their events carry)"]
    assert invite_problems("registrar", school_id="s1", learners=[], actor_id="r1", language="es") == []
