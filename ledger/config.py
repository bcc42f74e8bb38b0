"""Where things live. Environment variables win over `ledger.toml`, which wins over defaults.

    LEDGER_HOME              folder for the embedded store and projections (default ./.ledger)
    LEDGER_STORE             a SQLite file path, or postgresql://... (default $LEDGER_HOME/ledger.db)
    LEDGER_PROJECTIONS       the DuckDB file (default $LEDGER_HOME/projections.duckdb)
    LEDGER_KAFKA_BOOTSTRAP   host:port of Kafka; unset means no Kafka (the embedded default)
    LEDGER_CONFIG            path of a TOML file with the same keys in lower case, without the prefix
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    home: Path
    store: str
    projections: Path
    kafka_bootstrap: str | None

    @property
    def is_sqlite(self) -> bool:
        return not self.store.startswith(("postgresql://", "postgres://"))

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
        )
