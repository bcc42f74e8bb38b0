"""The pages' message catalogues (gettext .po files under web/locale, read with Babel and
compiled in memory at start-up, so a fresh clone needs no build step) and locale formatting."""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.people import LANGUAGES
from web.messages import MESSAGE_IDS

HERE = Path(__file__).parent
LOCALES = HERE / "locale"


def catalogue(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


@lru_cache(maxsize=None)
def translations(language: str) -> Translations:
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    return Translations(compiled)


@lru_cache(maxsize=None)
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    locale = Locale.parse(language)
    env.filters["day"] = lambda v: "" if v is None else format_date(
        v.date() if isinstance(v, datetime) else v, "medium", locale=locale)
    env.filters["moment"] = lambda v: "" if v is None else format_datetime(v, "medium", locale=locale)
    env.filters["number"] = lambda v, digits=2: "" if v is None else format_decimal(
        round(v, digits), format="#,##0." + "#" * digits, locale=locale)
    env.filters["percent"] = lambda v: "" if v is None else format_percent(v / 100.0, locale=locale)
    env.globals["language"] = language
    env.globals["languages"] = LANGUAGES
    return env


def render(language: str, template: str, **context: Any) -> str:
    return environment(language if language in LANGUAGES else "en").get_template(template).render(**context)


def iso(value: date | None) -> str:
    return value.isoformat() if value else ""


# Message ids the templates build from data (event types, statuses, paces, sort keys): the
# extractor cannot see them, so they are listed here and checked against both catalogues.
DYNAMIC_MESSAGES = (
    "assessment.recorded", "artifact.submitted", "artifact.scored", "advisor.signed_off",
    "proposed", "approved", "stale", "awarded", "flagged", "revoked",
    "ahead", "on_track", "behind", "complete",
    "sort:learner", "sort:behind", "sort:awaiting", "sort:mastered",
    "queue:proposed", "queue:flagged", "done:approve", "done:revoke",
) + MESSAGE_IDS  # the reasons of denials and rejections (web.messages)
