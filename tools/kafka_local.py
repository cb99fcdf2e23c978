"""Run a real single-node Apache Kafka 4.x broker (KRaft) as a local process.

No Docker needed: the broker jars come from Maven Central (via ``mvn``) into a
cache directory, and the broker runs as a detached ``java`` process.

    kafka-local fetch [--version V]
    kafka-local start --dir DIR [--port PORT] [--controller-port P]
    kafka-local stop --dir DIR
    kafka-local status --dir DIR

``start`` prints the bootstrap address (``127.0.0.1:PORT``) as its only stdout
line once the broker serves requests.  Set ``KAFKA_HOME`` to use the jars of an
unpacked Kafka distribution (``$KAFKA_HOME/libs``) instead of fetching.
Python 3.11 standard library only: ``scripts/kafka-local`` runs it before any virtual
environment exists.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

DEFAULT_KAFKA_VERSION = "4.4.0"
SCALA_BINARY_VERSION = "2.13"
HOST = "127.0.0.1"
SCRAM_MECHANISM = "SCRAM-SHA-256"
SASL_PASSWORD_ENV = "KAFKA_LOCAL_SASL_PASSWORD"  # read from the environment, never argv
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
# Logged by KafkaRaftServer once broker and controller are fully up.
READY_MARKER = "Kafka Server started"
COMPLETE_MARKER = ".complete"

# A heap small enough for a laptop or CI runner, and ZGC rather than the G1 of Kafka's
# bin/kafka-run-class.sh: on a 2-core machine shared with clients, G1's young pauses reached
# 95-120 ms (its gc log) and were the p99 of event-to-alert latency; ZGC pauses under 1 ms.
JVM_OPTS = [
    "-Xmx512m",
    "-Xms512m",
    "-server",
    "-XX:+UseZGC",
    "-Djava.awt.headless=true",
]

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
"""


class KafkaLocalError(Exception):
    """A failure to report to the user without a traceback."""


def log(message: str) -> None:
    print(f"kafka-local: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# fetch: resolve the broker jars from Maven Central
# --------------------------------------------------------------------------


def cache_dir(version: str) -> Path:
    override = os.environ.get("FRAUDSTREAM_KAFKA_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "fraudstream" / f"kafka-{version}"


def pom_xml(dependencies: list[tuple[str, str, str]]) -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in dependencies
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.fraudstream</groupId>
  <artifactId>kafka-local-fetch</artifactId>
  <version>0</version>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def maven_copy_dependencies(dependencies: list[tuple[str, str, str]], dest: Path) -> None:
    """Copy the artifacts and their runtime dependencies into ``dest``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLocalError("`mvn` not found on PATH (needed to fetch Kafka; or set KAFKA_HOME)")
    with tempfile.TemporaryDirectory(prefix="kafka-local-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(pom_xml(dependencies))
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={dest}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise KafkaLocalError(f"mvn failed to resolve {dependencies}:\n{output[-4000:]}")


def jar_version(libs: Path, artifact: str) -> str:
    """Version of ``<artifact>-<version>.jar`` in ``libs``."""
    for jar in libs.glob(f"{artifact}-*.jar"):
        version = jar.name[len(artifact) + 1 : -len(".jar")]
        if version[:1].isdigit():
            return version
    raise KafkaLocalError(f"{artifact} jar missing from {libs}")


def fetch(version: str) -> Path:
    """Return the directory holding the broker's jars, downloading them once."""
    root = cache_dir(version)
    libs = root / "libs"
    if (root / COMPLETE_MARKER).exists():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent fetches wait for the first
        if (root / COMPLETE_MARKER).exists():
            return libs
        log(f"fetching Apache Kafka {version} jars from Maven Central into {root}")
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=root))
        try:
            kafka = ("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", version)
            maven_copy_dependencies([kafka], staging)
            # Kafka logs through slf4j 1.x; bind it to the log4j2 core it ships.
            log4j = jar_version(staging, "log4j-core")
            binding = ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j)
            maven_copy_dependencies([kafka, binding], staging)
            shutil.rmtree(libs, ignore_errors=True)
            staging.rename(libs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (root / COMPLETE_MARKER).write_text(version + "\n")
    return libs


def resolve_libs(version: str) -> Path:
    kafka_home = os.environ.get("KAFKA_HOME")
    if kafka_home:
        libs = Path(kafka_home).expanduser() / "libs"
        if not libs.is_dir():
            raise KafkaLocalError(f"KAFKA_HOME is set but {libs} is not a directory")
        return libs
    return fetch(version)


# --------------------------------------------------------------------------
# start: format KRaft storage and launch the broker
# --------------------------------------------------------------------------


# Where the kernel draws the local ports of outgoing connections (Linux's default when unknown).
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768
# Ports are drawn from this many just below that range.
PORT_SPAN = 12_000


def free_port() -> int:
    """Return a port free now, drawn at random below the kernel's ephemeral range.

    A broker restarted on its own ports (the fault tests stop and start one) must find them
    free again; a port of the ephemeral range may meanwhile become the local end of any
    outgoing connection on the machine, and the restart then fails with "Address already in
    use". Outside that range only another listener can take it.
    """
    low = ephemeral_low()
    draw = random.SystemRandom()
    for _ in range(100):
        port = draw.randrange(max(1024, low - PORT_SPAN), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded machine
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ephemeral_low(path: Path = EPHEMERAL_RANGE) -> int:
    """Return the first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def random_cluster_id() -> str:
    """A Kafka ``Uuid`` in its base64 form, like ``kafka-storage.sh random-uuid``."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka rejects ids that look like CLI flags
            return text


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise KafkaLocalError("`java` (17+) not found; install a JDK or set JAVA_HOME")
    return java


def server_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    partitions: int = 1,
    sasl_port: int | None = None,
) -> str:
    """Return server.properties of a one-node broker; `sasl_port` adds a SCRAM listener."""
    listeners = [f"PLAINTEXT://{HOST}:{port}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
    sasl = ""
    if sasl_port is not None:
        listeners.append(f"SASL_PLAINTEXT://{HOST}:{sasl_port}")
        protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
        sasl = f"""\
sasl.enabled.mechanisms={SCRAM_MECHANISM}
listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
"""
    return f"""\
# Generated by scripts/kafka-local: single-node KRaft broker + controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={HOST}:{controller_port}
listeners={",".join(listeners)},CONTROLLER://{HOST}:{controller_port}
advertised.listeners={",".join(listeners)},CONTROLLER://{HOST}:{controller_port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map={",".join(protocols)}
log.dirs={data_dir}
num.partitions={partitions}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
{sasl}"""


def scram_credential(user: str, password: str) -> str:
    """Return the StorageTool --add-scram argument creating one SCRAM user.

    >>> scram_credential("fraud", "pw")
    'SCRAM-SHA-256=[name=fraud,password=pw]'
    """
    for name, value in (("user", user), ("password", password)):
        if not value or any(c in value for c in ",[]=\"'"):
            raise KafkaLocalError(f"the SASL {name} must be non-empty without , [ ] = or quotes")
    return f"{SCRAM_MECHANISM}=[name={user},password={password}]"


def read_properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


class BrokerDir:
    """Files of one broker instance, all under its ``--dir``."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.data = self.root / "data"
        self.config = self.root / "server.properties"
        self.log4j = self.root / "log4j2.properties"
        self.log = self.root / "kafka.log"
        self.pid = self.root / "kafka.pid"

    def formatted(self) -> bool:
        return (self.data / "meta.properties").exists() and self.config.exists()

    def sasl_port(self) -> int | None:
        """Return the SASL_PLAINTEXT listener's port, or None if the broker has none."""
        for address in read_properties(self.config)["advertised.listeners"].split(","):
            if address.startswith("SASL_PLAINTEXT://"):
                return port_of(address)
        return None

    def ports(self) -> tuple[int, int]:
        props = read_properties(self.config)
        return (
            port_of(props["advertised.listeners"].split(",")[0]),
            port_of(props["controller.quorum.bootstrap.servers"]),
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no kafka.log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def java_command(java: str, libs: Path, broker: BrokerDir, main: list[str]) -> list[str]:
    return [
        java,
        *JVM_OPTS,
        f"-Dlog4j2.configurationFile={broker.log4j}",
        f"-Dkafka.logs.dir={broker.root}",
        "-cp",
        f"{libs}/*",
        *main,
    ]


def format_storage(java: str, libs: Path, broker: BrokerDir, scram: str | None = None) -> None:
    """Equivalent of ``kafka-storage.sh format --standalone -t <random> -c server.properties``.

    `scram` (see `scram_credential`) creates a SASL/SCRAM user in the new cluster.
    """
    main = [
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--cluster-id",
        random_cluster_id(),
        "--config",
        str(broker.config),
        *(["--add-scram", scram] if scram else []),
    ]
    with open(broker.log, "a") as out:
        result = subprocess.run(
            java_command(java, libs, broker, main),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise KafkaLocalError(f"formatting KRaft storage failed:\n{broker.log_tail()}")


def launch(java: str, libs: Path, broker: BrokerDir) -> int:
    """Start ``kafka.Kafka`` detached (own session), logging to kafka.log."""
    with open(broker.log, "a") as out:
        process = subprocess.Popen(
            java_command(java, libs, broker, ["kafka.Kafka", str(broker.config)]),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=broker.root,
            start_new_session=True,
        )
    broker.pid.write_text(f"{process.pid}\n")
    return process.pid


def logged_since(broker: BrokerDir, offset: int) -> str:
    """What kafka.log gained after byte ``offset`` (earlier runs may share the file)."""
    with open(broker.log, "rb") as log_file:
        log_file.seek(offset)
        return log_file.read().decode(errors="replace")


def wait_until_ready(
    broker: BrokerDir, pid: int, port: int, log_offset: int, timeout: float
) -> None:
    """Wait for this run's ready line in kafka.log and an open PLAINTEXT port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            broker.pid.unlink(missing_ok=True)
            raise KafkaLocalError(f"Kafka exited during startup; log tail:\n{broker.log_tail()}")
        if READY_MARKER in logged_since(broker, log_offset) and port_open(port):
            return
        time.sleep(0.25)
    terminate(pid, STOP_TIMEOUT_S)
    broker.pid.unlink(missing_ok=True)
    raise KafkaLocalError(
        f"Kafka not ready on {HOST}:{port} after {timeout:.0f}s (stopped it); "
        f"log tail:\n{broker.log_tail()}"
    )


def choose_ports(broker: BrokerDir, port: int, controller_port: int) -> tuple[int, int]:
    """Pick ports; an already formatted dir keeps the ports it was formatted with."""
    if broker.formatted():
        old_port, old_controller = broker.ports()
        if port not in (0, old_port) or controller_port not in (0, old_controller):
            raise KafkaLocalError(
                f"{broker.root} was formatted for ports {old_port}/{old_controller}; "
                "use a new --dir to change ports"
            )
        return old_port, old_controller
    port = port or free_port()
    controller_port = controller_port or free_port()
    while controller_port == port:
        controller_port = free_port()
    return port, controller_port


def start(
    root: Path,
    port: int,
    controller_port: int,
    version: str,
    timeout: float,
    partitions: int = 1,
    sasl_user: str | None = None,
) -> str:
    """Start a broker; return its bootstrap address, and on a second line its SASL one.

    With `sasl_user`, a SASL_PLAINTEXT listener accepts that SCRAM-SHA-256 user, whose
    password is read from the KAFKA_LOCAL_SASL_PASSWORD environment variable.
    """
    scram = None
    if sasl_user is not None:
        scram = scram_credential(sasl_user, os.environ.get(SASL_PASSWORD_ENV, ""))
    broker = BrokerDir(root)
    running = read_pid(broker)
    if running:
        raise KafkaLocalError(f"a broker is already running from {broker.root} (pid {running})")
    java = java_executable()
    libs = resolve_libs(version)
    broker.root.mkdir(parents=True, exist_ok=True)
    port, controller_port = choose_ports(broker, port, controller_port)
    broker.log4j.write_text(LOG4J2_PROPERTIES)
    if not broker.formatted():
        sasl_port = free_port() if scram else None
        while sasl_port in (port, controller_port):
            sasl_port = free_port()
        properties = server_properties(broker.data, port, controller_port, partitions, sasl_port)
        broker.config.write_text(properties)
        format_storage(java, libs, broker, scram)
    log_offset = broker.log.stat().st_size if broker.log.exists() else 0
    pid = launch(java, libs, broker)
    wait_until_ready(broker, pid, port, log_offset, timeout)
    sasl_port = broker.sasl_port()
    return f"{HOST}:{port}" + (f"\n{HOST}:{sasl_port}" if sasl_port else "")


# --------------------------------------------------------------------------
# stop / status
# --------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_kafka_process(pid: int) -> bool:
    """Guard against a stale pid file whose pid now belongs to something else."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs: cannot check
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline


def read_pid(broker: BrokerDir) -> int | None:
    """The pid of the broker running from this dir, or None."""
    try:
        pid = int(broker.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if pid_alive(pid) and is_kafka_process(pid):
        return pid
    return None


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    log(f"pid {pid} ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while pid_alive(pid):
        time.sleep(0.1)


def stop(root: Path, timeout: float) -> None:
    broker = BrokerDir(root)
    pid = read_pid(broker)
    if pid is None:
        log(f"no broker running from {broker.root}")
    else:
        terminate(pid, timeout)
        log(f"stopped broker pid {pid}")
    broker.pid.unlink(missing_ok=True)


def status(root: Path) -> int:
    broker = BrokerDir(root)
    pid = read_pid(broker)
    if pid is None:
        print("stopped")
        return 3  # LSB "program is not running"
    port = broker.ports()[0]
    state = "running" if port_open(port) else "starting"
    print(f"{state} pid={pid} bootstrap={HOST}:{port}")
    return 0


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kafka-local",
        description="Run a real single-node Apache Kafka 4.x (KRaft) broker as a local "
        "java process, without Docker.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def version_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--version",
            default=DEFAULT_KAFKA_VERSION,
            help=f"Kafka version from Maven Central (default {DEFAULT_KAFKA_VERSION}); "
            "ignored when KAFKA_HOME is set",
        )

    def dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dir",
            required=True,
            type=Path,
            help="instance directory: config, data, kafka.log, kafka.pid",
        )

    p = sub.add_parser(
        "fetch",
        help="download the broker jars into the cache",
        description="Resolve the broker jars with mvn into "
        "${FRAUDSTREAM_KAFKA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/fraudstream/kafka-VERSION}. "
        "Returns at once when the cache is complete.",
    )
    version_arg(p)

    p = sub.add_parser(
        "start",
        help="format storage, start the broker, print its bootstrap address",
        description="Start a broker in the background and wait until it serves requests. "
        "Prints 127.0.0.1:PORT as the only stdout line.",
    )
    dir_arg(p)
    p.add_argument("--port", type=int, default=0, help="PLAINTEXT port (default: a free one)")
    p.add_argument(
        "--controller-port", type=int, default=0, help="KRaft CONTROLLER port (default: a free one)"
    )
    p.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="partitions of topics created automatically on first use (default 1)",
    )
    p.add_argument(
        "--sasl-user",
        help="also listen with SASL_PLAINTEXT for this SCRAM-SHA-256 user (password from "
        f"${SASL_PASSWORD_ENV}); prints that bootstrap address on a second line",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help=f"seconds to wait for readiness (default {START_TIMEOUT_S:.0f})",
    )
    version_arg(p)

    p = sub.add_parser(
        "stop",
        help="stop the broker (SIGTERM, then SIGKILL)",
        description="Stop the broker started from --dir; exits 0 if none is running.",
    )
    dir_arg(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=STOP_TIMEOUT_S,
        help=f"seconds to wait after SIGTERM before SIGKILL (default {STOP_TIMEOUT_S:.0f})",
    )

    p = sub.add_parser(
        "status",
        help="report whether the broker is running",
        description="Print the broker state; exit 0 if running, 3 if stopped.",
    )
    dir_arg(p)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run one command; return the exit code (0 done, 1 failed, 3 status: not running)."""
    args = parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch(args.version))
        elif args.command == "start":
            print(
                start(
                    args.dir,
                    args.port,
                    args.controller_port,
                    args.version,
                    args.timeout,
                    args.partitions,
                    args.sasl_user,
                )
            )
        elif args.command == "stop":
            stop(args.dir, args.timeout)
        elif args.command == "status":
            return status(args.dir)
    except KafkaLocalError as error:
        log(f"error: {error}")
        return 1
    return 0
