"""A real `ledger serve` on a free loopback port, and the keys to talk to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port


def cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300)


@dataclass
class Server:
    env: dict
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    serve_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def key(self, role: str, *extra: str) -> str:
        made = cli(self.env, "keys", "create", "--role", role, *extra, "--json")
        assert made.returncode == 0, made.stderr
        return json.loads(made.stdout)["key"]

    def client(self, key: str | None = None, *, purpose: str | None = "test suite") -> httpx.Client:
        # Non-school keys state why they read a learner's record (the record of disclosures).
        headers = {"X-API-Key": key, **({"X-Purpose": purpose} if purpose else {})} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def log(self) -> Path:
        return Path(self.env["LEDGER_HOME"]).parent / f"serve-{self.port}.log"

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as out:  # a file, not a pipe: a full pipe would stall the server
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port), *self.serve_args],
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ledger serve exited {self.process.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("ledger serve did not answer within 60 s")

    def wait_projected(self, key: str, timeout: float = 30) -> dict:
        """Until the server's read models hold everything in the store."""
        deadline = time.monotonic() + timeout
        with self.client(key) as http:
            while time.monotonic() < deadline:
                ready = http.get("/ready").json()
                if ready.get("projection_lag") == 0:
                    return ready
                time.sleep(0.1)
        raise AssertionError(f"read models still behind after {timeout} s: {ready}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def server_env(home: Path, store: str | None = None) -> dict:
    env = {**os.environ, "LEDGER_HOME": str(home)}
    env.pop("LEDGER_CONFIG", None)
    if store:
        env["LEDGER_STORE"] = store
    return env
