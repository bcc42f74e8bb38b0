"""People who use the web pages: one-time sign-in invitations, and the signed sessions they turn into.

Invitations are kept by the eventsourcing library like the API keys (ledger.keyring): issuing
and redeeming are events, so who was let in, as what, and when, is on record. Only a code's
sha256 is stored; a code works once.

A session is a cookie signed with this ledger's own HMAC key: what it says (role, school,
learners) cannot be changed by the browser. The signature alone would keep a session alive to
its expiry, so every request is also checked against the record of revocations kept with the
invitations (`People.revoke`: `ledger people revoke PERSON`, and each sign-out)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate

from ledger.access import BOUND_ROLES, PERSON_ROLES, Grant
from ledger.config import Settings

PREFIX = "mli"
LANGUAGES = ("en", "es")
SESSION_SECONDS = 12 * 3600
_PEOPLE_ID = uuid5(NAMESPACE_URL, "urn:mastery-ledger:people")


class InviteError(ValueError):
    """An invitation that cannot be made or redeemed: the message says why."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class PeopleAggregate(Aggregate):
    class Created(Aggregate.Created):
        pass

    class Invited(Aggregate.Event):
        invite_id: str
        digest: str
        person: dict
        issued_at: str

        def apply(self, book: PeopleAggregate) -> None:
            book.invites[self.invite_id] = {"invite_id": self.invite_id, "digest": self.digest,
                                            "person": self.person, "issued_at": self.issued_at, "redeemed_at": None}

    class Redeemed(Aggregate.Event):
        invite_id: str
        redeemed_at: str

        def apply(self, book: PeopleAggregate) -> None:
            book.invites[self.invite_id]["redeemed_at"] = self.redeemed_at

    class SessionsRevoked(Aggregate.Event):
        # Every session of the person issued at or before `before` (epoch seconds) ends; with
        # `nonce`, only that one session (a sign-out).
        person_id: str
        before: float
        nonce: str
        revoked_at: str

        def apply(self, book: PeopleAggregate) -> None:
            revocations = book.__dict__.setdefault("revocations", {})
            if self.nonce:
                revocations.setdefault("nonces", []).append(self.nonce)
            else:
                revocations[self.person_id] = max(revocations.get(self.person_id, 0.0), self.before)

    def __init__(self) -> None:
        self.invites: dict[str, dict[str, Any]] = {}
        self.revocations: dict[str, Any] = {}

    @staticmethod
    def create_id() -> Any:
        return _PEOPLE_ID


@dataclass(frozen=True)
class Invitation:
    invite_id: str
    code: str
    person: dict[str, Any]


def invite_problems(role: str, *, school_id: str | None, learners: list[str], actor_id: str | None,
                    language: str) -> list[str]:
    """Every reason these bindings make no invitation (empty when they do)."""
    problems = []
    if role not in PERSON_ROLES:
        problems.append(f"role must be one of {', '.join(PERSON_ROLES)}, not {role!r}")
    if not school_id:
        problems.append("an invitation needs --school (the school that invites)")
    if role in BOUND_ROLES and not learners:
        problems.append(f"a {role} needs --learner (one or more)")
    if role == "learner" and len(learners) > 1:
        problems.append("a learner invitation names exactly one --learner")
    if role in ("advisor", "registrar") and not actor_id:
        problems.append(f"an {role} needs --actor (the id their events carry)")
    if language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return problems


class People(Application):
    name = "people"

    def __init__(self, settings: Settings | None = None) -> None:
        from ledger.application import store_env

        settings = settings or Settings.load()
        self.home = settings.home
        env = store_env(settings)
        if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            env["SQLITE_DBNAME"] = str(settings.home / "people.db")
        super().__init__(env={**env, "AGGREGATE_CACHE_MAXSIZE": "1"})

    def _book(self) -> PeopleAggregate:
        try:
            return self.repository.get(_PEOPLE_ID)
        except AggregateNotFoundError:
            return PeopleAggregate()

    def invite(self, role: str, *, school_id: str | None, learners: list[str] | None = None,
               actor_id: str | None = None, language: str = "en", label: str = "") -> Invitation:
        learners = list(learners or [])
        problems = invite_problems(role, school_id=school_id, learners=learners, actor_id=actor_id, language=language)
        if problems:
            raise InviteError("; ".join(problems))
        book = self._book()
        invite_id = secrets.token_hex(6)
        code = f"{PREFIX}_{invite_id}_{secrets.token_urlsafe(18)}"
        person = {"person_id": actor_id or f"person-{invite_id}", "role": role, "school_id": school_id,
                  "learners": learners, "actor_id": actor_id, "language": language, "label": label}
        book.trigger_event(PeopleAggregate.Invited, invite_id=invite_id, digest=_digest(code), person=person,
                           issued_at=_now())
        self.save(book)
        return Invitation(invite_id, code, person)

    def redeem(self, code: str) -> dict[str, Any]:
        """The invited person, once; InviteError for an unknown, malformed or used code."""
        parts = code.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise InviteError("that is not a sign-in code")
        book = self._book()
        invite = book.invites.get(parts[1])
        if invite is None or not hmac.compare_digest(invite["digest"], _digest(code.strip())):
            raise InviteError("that sign-in code is not known")
        if invite["redeemed_at"] is not None:
            raise InviteError("that sign-in code has already been used")
        book.trigger_event(PeopleAggregate.Redeemed, invite_id=invite["invite_id"], redeemed_at=_now())
        self.save(book)
        return dict(invite["person"])

    def revoke(self, person_id: str, *, nonce: str = "") -> int:
        """End the person's live sessions now (or, with `nonce`, that one): the pages check every
        request against this record, so a stolen or forgotten cookie stops working at once.
        Returns how many invitations were redeemed by the person (0: nobody of that id signed in)."""
        book = self._book()
        redeemed = sum(1 for i in book.invites.values()
                       if i["person"]["person_id"] == person_id and i["redeemed_at"] is not None)
        book.trigger_event(PeopleAggregate.SessionsRevoked, person_id=person_id, before=time.time(), nonce=nonce,
                           revoked_at=_now())
        self.save(book)
        return redeemed

    def session_live(self, session: dict[str, Any]) -> bool:
        """A signed session not revoked since it was issued (sessions without `issued` predate
        the record and are held to their expiry only if their person was never revoked)."""
        revocations = getattr(self._book(), "revocations", {})
        if session.get("nonce") in revocations.get("nonces", ()):
            return False
        return session.get("issued", 0) > revocations.get(session.get("person_id"), -1.0)

    def list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in i.items() if k != "digest"} for i in self._book().invites.values()]


class Sessions:
    """Signs and reads session cookies with a key kept in the ledger's home (made on first use)."""

    def __init__(self, settings: Settings) -> None:
        path = settings.home / "web-session.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
        self._key = bytes.fromhex(path.read_text().strip())

    def _sign(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).decode().rstrip("=")

    def _encode(self, session: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(session, sort_keys=True).encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body.encode())}"

    def issue(self, person: dict[str, Any], *, now: float | None = None) -> str:
        now = now or time.time()
        return self._encode({**person, "expires": int(now + SESSION_SECONDS), "issued": now,
                             "nonce": secrets.token_hex(8)})

    def read(self, cookie: str | None, *, now: float | None = None) -> dict[str, Any] | None:
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body.encode())):
            return None
        try:
            session = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if not isinstance(session, dict) or session.get("expires", 0) < (now or time.time()):
            return None
        return session

    def csrf_token(self, session: dict[str, Any]) -> str:
        return self._sign(f"csrf:{session['nonce']}".encode())

    def csrf_ok(self, session: dict[str, Any], token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token, self.csrf_token(session))

    def relabel(self, session: dict[str, Any], **changes: Any) -> str:
        """The same session with a field changed (the language), keeping its expiry and nonce."""
        return self._encode({**session, **changes})


def grant_of(session: dict[str, Any]) -> Grant:
    """The access grant a signed-in person holds: the same rules as an API key's (ledger.access)."""
    return Grant(key_id=f"person:{session['person_id']}", role=session["role"], school_id=session.get("school_id"),
                 actor_id=session.get("actor_id"), label=session.get("label", ""),
                 learners=frozenset(session.get("learners") or ()))
