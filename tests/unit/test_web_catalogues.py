"""Every string of the pages is in both message catalogues, Spanish translated, placeholders kept."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from web.i18n import DYNAMIC_MESSAGES, catalogue

WEB = Path(__file__).resolve().parents[2] / "web"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}


def extracted() -> set[str]:
    ids = {m[2] if isinstance(m[2], str) else m[2][0] for m in extract_from_dir(str(WEB), METHODS, options_map=OPTIONS)}
    return ids | set(DYNAMIC_MESSAGES)


def test_both_catalogues_hold_every_string_and_spanish_is_complete():
    ids = extracted()
    assert len(ids) > 80  # the extractor really read the templates
    for language in ("en", "es"):
        messages = {m.id: m.string for m in catalogue(language) if m.id}
        missing = sorted(ids - set(messages))
        assert not missing, (language, missing)
        untranslated = sorted(i for i in ids if not messages[i])
        assert not untranslated, (language, untranslated)
    spanish = {m.id: m.string for m in catalogue("es") if m.id}
    for message_id in ids:
        assert set(re.findall(r"%\((\w+)\)s", message_id)) == set(re.findall(r"%\((\w+)\)s", spanish[message_id])), message_id
