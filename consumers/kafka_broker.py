"""A real single-node Apache Kafka 4.x broker (KRaft), run from its Maven Central jars.

`fetch_jars` resolves the broker and a Log4j2 binding with Maven once into a cache; `start`
formats the data directory once and launches the broker detached, then waits until it
answers. The test suite starts its brokers through the same code.

Usable as `python -m consumers.kafka_broker fetch|start|stop|status`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("kafka_pom.xml")


class BrokerError(Exception):
    pass


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "mastery-ledger" / f"kafka-{KAFKA_VERSION}"
    return Path(os.environ.get("LEDGER_KAFKA_CACHE", default))


def fetch_jars(progress=lambda message: None) -> Path:
    """The folder of broker jars, fetched with Maven the first time."""
    lib = cache_dir() / "lib"
    if (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return lib
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not installed; it fetches the Kafka jars from Maven Central")
    progress(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {lib}")
    lib.parent.mkdir(parents=True, exist_ok=True)
    # Into a temporary folder first: an interrupted fetch must not pass for a complete one.
    staging = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}"],
        capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [l for l in (result.stdout + result.stderr).splitlines() if "ERROR" in l] or ["(no output)"]
        raise BrokerError(f"mvn could not fetch the Kafka jars: {lines[0].strip()}")
    if lib.exists():
        shutil.rmtree(lib)
    staging.rename(lib)
    return lib


@dataclass(frozen=True)
class BrokerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> BrokerConfig:
        default = Path.home() / ".local" / "share" / "mastery-ledger" / "kafka"
        port = int(os.environ.get("LEDGER_KAFKA_PORT", "9092"))
        return cls(
            data_dir=Path(os.environ.get("LEDGER_KAFKA_DIR", default)),
            port=port,
            controller_port=int(os.environ.get("LEDGER_KAFKA_CONTROLLER_PORT", str(port + 1))),
            heap=os.environ.get("LEDGER_KAFKA_HEAP", "512m"),
        )


@dataclass
class BrokerStatus:
    running: bool
    bootstrap: str
    data_dir: str
    pid: int | None = None
    version: str = KAFKA_VERSION
    topics: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _properties(cfg: BrokerConfig) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers={cfg.host}:{cfg.controller_port}",
        f"listeners=PLAINTEXT://{cfg.host}:{cfg.port},CONTROLLER://{cfg.host}:{cfg.controller_port}",
        f"advertised.listeners=PLAINTEXT://{cfg.host}:{cfg.port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={cfg.data_dir / 'logs'}",
        # One broker: internal topics cannot have more replicas, or groups and transactions hang.
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "offsets.topic.num.partitions=3",
        "transaction.state.log.num.partitions=3",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "num.partitions=1",
        "",
    ])


def _log4j(cfg: BrokerConfig) -> str:
    return "\n".join([
        "status = warn",
        "appender.file.type = File",
        "appender.file.name = file",
        f"appender.file.fileName = {cfg.data_dir / 'broker.log'}",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.file.ref = file",
        "logger.kafka.name = kafka",
        "logger.kafka.level = INFO",
        "logger.state.name = state.change.logger",
        "logger.state.level = WARN",
        "",
    ])


def _pid(cfg: BrokerConfig) -> int | None:
    try:
        pid = int((cfg.data_dir / "broker.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _answers(cfg: BrokerConfig) -> bool:
    try:
        with socket.create_connection((cfg.host, cfg.port), timeout=1):
            pass
    except OSError:
        return False
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap, request_timeout_ms=5000)
        try:
            consumer.topics()
            return True
        finally:
            consumer.close()
    except (KafkaError, OSError):
        return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start(cfg: BrokerConfig, timeout: float = 90, progress=lambda message: None) -> BrokerStatus:
    if _pid(cfg) and _answers(cfg):
        return status(cfg)
    if shutil.which("java") is None:
        raise BrokerError("java is not installed; the Kafka broker needs Java 17")
    lib = fetch_jars(progress)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    (cfg.data_dir / "server.properties").write_text(_properties(cfg))
    (cfg.data_dir / "log4j2.properties").write_text(_log4j(cfg))
    classpath = f"{lib}/*"
    if not (cfg.data_dir / "logs" / "meta.properties").exists():
        cluster_id = subprocess.run(["java", "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
                                    capture_output=True, text=True).stdout.strip().splitlines()[-1:]
        formatted = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format", "--standalone",
             "-t", cluster_id[0] if cluster_id else str(uuid.uuid4()), "-c", str(cfg.data_dir / "server.properties")],
            capture_output=True, text=True)
        if formatted.returncode != 0:
            raise BrokerError(f"formatting {cfg.data_dir} failed: {formatted.stderr.strip()[-300:]}")
    with open(cfg.data_dir / "broker.out", "ab") as out:
        proc = subprocess.Popen(
            ["java", f"-Xmx{cfg.heap}", f"-Xms{cfg.heap}",
             f"-Dlog4j2.configurationFile={cfg.data_dir / 'log4j2.properties'}",
             "-cp", classpath, "kafka.Kafka", str(cfg.data_dir / "server.properties")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (cfg.data_dir / "broker.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"the broker exited with {proc.returncode}: {_tail(cfg.data_dir / 'broker.out')}")
        if _answers(cfg):
            return status(cfg)
        time.sleep(0.5)
    stop(cfg)
    raise BrokerError(f"the broker did not answer on {cfg.bootstrap} within {timeout:.0f}s: "
                      f"{_tail(cfg.data_dir / 'broker.log')}")


def _signal(cfg: BrokerConfig, sig: int) -> int | None:
    pid = _pid(cfg)
    if pid is not None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return None
    return pid


def stop(cfg: BrokerConfig, timeout: float = 30) -> bool:
    """Stop the broker cleanly (SIGKILL after `timeout`). False if it was not running."""
    pid = _signal(cfg, signal.SIGTERM)
    if pid is None:
        return False
    deadline = time.monotonic() + timeout
    while _pid(cfg) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.2)
    if _pid(cfg):
        _signal(cfg, signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)
    (cfg.data_dir / "broker.pid").unlink(missing_ok=True)
    return True


def kill(cfg: BrokerConfig) -> None:
    """SIGKILL, as a crash would: for tests of recovery."""
    pid = _signal(cfg, signal.SIGKILL)
    if pid is not None:
        deadline = time.monotonic() + 10
        while _pid(cfg) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
    (cfg.data_dir / "broker.pid").unlink(missing_ok=True)


def _reap(pid: int) -> None:
    # A broker started by this process is its child: collect it so it does not linger as a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(cfg: BrokerConfig) -> BrokerStatus:
    pid = _pid(cfg)
    running = pid is not None and _answers(cfg)
    result = BrokerStatus(running=running, bootstrap=cfg.bootstrap, data_dir=str(cfg.data_dir), pid=pid)
    if running:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap)
        try:
            names = [t for t in admin.list_topics() if not t.startswith("__")]
            result.topics = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(names)} if names else {}
        finally:
            admin.close()
    return result


def _main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    cfg = BrokerConfig.from_env()
    try:
        if command == "fetch":
            print(fetch_jars(progress=print))
        elif command == "start":
            print(json.dumps(start(cfg, progress=print).as_dict()))
        elif command == "stop":
            print("stopped" if stop(cfg) else "not running")
        elif command == "status":
            print(json.dumps(status(cfg).as_dict()))
        else:
            print("usage: python -m consumers.kafka_broker fetch|start|stop|status", file=sys.stderr)
            return 2
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
