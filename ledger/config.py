"""Where things live. Environment variables win over `ledger.toml`, which wins over defaults.

    LEDGER_HOME              folder for the embedded store and projections (default ./.ledger)
    LEDGER_STORE             a SQLite file path, or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=NAME]
                             (default $LEDGER_HOME/ledger.db)
    LEDGER_PROJECTIONS       the DuckDB file (default $LEDGER_HOME/projections.duckdb)
    LEDGER_KAFKA_BOOTSTRAP   host:port of Kafka; unset means no Kafka (the embedded default)
    LEDGER_CHECKPOINT_KEY_FILE  the Ed25519 key that signs Merkle checkpoints (default
                             $LEDGER_HOME/checkpoint-key.pem; kept out of the store on purpose)
    LEDGER_MASTER_KEY_FILE   the key that wraps every person's data key (ledger.shredding); unset, the
                             embedded default makes $LEDGER_HOME/master.key once and warns to back it up
    LEDGER_CONFIG            path of a TOML file with the same keys in lower case, without the prefix
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    home: Path
    store: str
    projections: Path
    kafka_bootstrap: str | None
    checkpoint_key_file: Path | None = None  # None: $home/checkpoint-key.pem
    master_key_file: Path | None = None  # None: $home/master.key, generated when missing

    @property
    def is_sqlite(self) -> bool:
        return not self.store.startswith(("postgresql://", "postgres://"))

    @property
    def shown_store(self) -> str:
        """The store as messages, logs and status pages show it: a URL's password masked."""
        return self.store if self.is_sqlite else _mask_password(self.store)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        file_values: dict[str, str] = {}
        config_path = Path(environ.get("LEDGER_CONFIG", "ledger.toml"))
        if config_path.is_file():
            try:
                file_values = {k.lower(): str(v) for k, v in tomllib.loads(config_path.read_text()).items()}
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{config_path}: {error}") from None
        elif "LEDGER_CONFIG" in environ:
            raise ConfigError(f"LEDGER_CONFIG names {config_path}, which does not exist")

        def get(key: str) -> str | None:
            return environ.get("LEDGER_" + key.upper()) or file_values.get(key)

        home = Path(get("home") or ".ledger")
        return cls(
            home=home,
            store=get("store") or str(home / "ledger.db"),
            projections=Path(get("projections") or home / "projections.duckdb"),
            kafka_bootstrap=get("kafka_bootstrap"),
            checkpoint_key_file=Path(get("checkpoint_key_file") or home / "checkpoint-key.pem"),
            master_key_file=Path(get("master_key_file")) if get("master_key_file") else None,
        )


@dataclass(frozen=True)
class PostgresStore:
    """A PostgreSQL LEDGER_STORE: postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=NAME&connect_timeout=S]."""

    dbname: str
    host: str
    port: int
    user: str
    password: str
    schema: str = ""  # empty: the database's `public` schema
    connect_timeout: int = 10
    shown: str = ""  # the URL with its password masked, for messages

    PARAMS = ("schema", "connect_timeout")

    def connect(self, *, create_schema: bool = False) -> Any:
        """An autocommit psycopg connection to this database. With `create_schema`, the store's
        schema is made when missing: whichever of the store, the key store, the record of
        disclosures or the LRS opens first may find it absent, and several processes may race."""
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(dbname=self.dbname, host=self.host, port=self.port, user=self.user,
                               password=self.password, connect_timeout=self.connect_timeout, autocommit=True)
        if create_schema and self.schema:
            try:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema):
                pass  # another process created it at the same moment
        return conn

    @classmethod
    def parse(cls, url: str) -> PostgresStore:
        shown = _mask_password(url)

        def bad(reason: str) -> ConfigError:
            return ConfigError(f"LEDGER_STORE={shown!r}: {reason}")

        try:
            parts = urlsplit(url)
            port = parts.port or 5432
        except ValueError as error:
            raise bad(f"not a valid PostgreSQL URL ({error})") from None
        dbname = unquote(parts.path.lstrip("/"))
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.username \
                or not dbname or "/" in dbname:
            raise bad("expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=NAME]")
        params: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in cls.PARAMS:
                raise bad(f"unknown parameter {key!r} (known: {', '.join(cls.PARAMS)})")
            params[key] = value
        schema = params.get("schema", "")
        if schema and not (schema.isascii() and schema.isidentifier() and len(schema) <= 63):
            raise bad(f"schema {schema!r} is not a plain SQL name (letters, digits and _, at most 63)")
        timeout = params.get("connect_timeout", "10")
        if not (timeout.isascii() and timeout.isdigit()) or int(timeout) < 1:
            raise bad(f"connect_timeout={timeout!r} is not a whole number of seconds")
        return cls(dbname=dbname, host=parts.hostname, port=port, user=unquote(parts.username),
                   password=unquote(parts.password or ""), schema=schema, connect_timeout=int(timeout),
                   shown=shown)


def _mask_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "(unparsable URL)"
