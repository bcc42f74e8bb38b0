"""The reasons the ledger and its access rules give reach the Spanish pages in Spanish, with the
field they name kept (web.messages)."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st

from ledger import access
from web.i18n import translations
from web.messages import TEMPLATES, translate

SPANISH = translations("es").gettext
IDS = st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z")


def test_every_template_comes_out_in_spanish():
    for template in TEMPLATES:
        english = re.sub(r"\{(\w+)\}", "x-1", template)
        spanish = translate(english, SPANISH)
        assert spanish != english, template
        assert "x-1" in spanish or "{" not in template, template  # the values are put back


def test_the_access_rules_denials_are_translated():
    guardian = access.Grant("k", "guardian", learners=frozenset({"L1"}))
    denial = access.may_read_learner(guardian, learner_school="s", learner_advisors=set(), learner_id="L2")
    assert translate(denial.reason, SPANISH) == "un tutor solo ve a los estudiantes con los que está vinculado"
    advisor = access.Grant("k", "advisor", actor_id="adv-9")
    denial = access.may_read_learner(advisor, learner_school="s", learner_advisors={"adv-1"})
    assert translate(denial.reason, SPANISH) == "el asesor adv-9 no está asignado a este estudiante"


@given(IDS, IDS)
def test_fields_are_kept_and_each_part_translated(current, named):
    message = (f"payload.from_school_id: learner is enrolled at {current}, not {named}; "
               "confirm: tick the box to confirm the learner now attends your school")
    assert translate(message, SPANISH) == (
        f"payload.from_school_id: el estudiante está matriculado en {current}, no en {named}; "
        "confirm: marque la casilla para confirmar que el estudiante ahora asiste a su escuela")


def test_an_unknown_reason_is_shown_as_given_and_english_is_unchanged():
    assert translate("payload.score: must be at most 4", SPANISH) == "payload.score: must be at most 4"
    english = translations("en").gettext
    for template in TEMPLATES:
        text = re.sub(r"\{(\w+)\}", "x-1", template)
        assert translate(text, english) == text, template
