"""Run a real Apicurio Registry 3 (a Confluent-compatible Schema Registry) as a local process.

No Docker needed: the registry's distribution comes from Maven Central (via ``mvn``) into a
cache directory beside Kafka's, and runs as a detached ``java`` process with in-memory storage
(an H2 database in the JVM: everything registered is gone once it stops).

    registry-local fetch
    registry-local start --dir DIR [--port PORT]
    registry-local stop --dir DIR
    registry-local status --dir DIR

``start`` prints the URL that confluent-kafka's ``SchemaRegistryClient`` takes
(``http://127.0.0.1:PORT/apis/ccompat/v7``) as the last stdout line, once that API answers.
Python 3.11 standard library only, like tools/kafka_local.py, whose process helpers it shares.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from kafka_local import (
    HOST,
    KafkaLocalError,
    free_port,
    java_executable,
    pid_alive,
    port_open,
    terminate,
)

REGISTRY_VERSION = "3.0.9"
ARTIFACT = f"io.apicurio:apicurio-registry-app:{REGISTRY_VERSION}:tar.gz:all"
RUNNER_JAR = f"apicurio-registry-app-{REGISTRY_VERSION}-runner.jar"
CCOMPAT_PATH = "/apis/ccompat/v7"  # the Confluent Schema Registry API, version 7
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
COMPLETE_MARKER = ".complete"

# The registry answers a handful of lookups (clients cache each schema by id), so neither
# throughput nor pause times matter; memory and start time do. Serial GC, not the broker's ZGC:
# ZGC maps its heap three times, so the same registry stood at ~500 MB resident (~275 MB
# proportional) against ~190 MB. C1 only (TieredStopAtLevel=1) spends less of a shared 2-core
# machine compiling: ready in ~4 s where full tiered compilation took ~11 s (docs/avro.md).
JVM_OPTS = [
    "-Xmx128m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]


class RegistryLocalError(Exception):
    """A failure to report to the user without a traceback."""


def log(message: str) -> None:
    print(f"registry-local: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# fetch: the distribution from Maven Central, unpacked once into the cache
# --------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return where the unpacked distribution lives (beside kafka-local's jars)."""
    override = os.environ.get("FRAUDSTREAM_REGISTRY_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "fraudstream" / f"apicurio-registry-{REGISTRY_VERSION}"


def maven_copy(artifact: str, dest: Path) -> Path:
    """Download one artifact (``group:name:version:type:classifier``) into ``dest``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RegistryLocalError("`mvn` not found on PATH (needed to fetch Apicurio Registry)")
    cmd = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={artifact}",
        f"-DoutputDirectory={dest}",
    ]
    # No pom: run where no project is, so mvn never picks up one by accident.
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=dest)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise RegistryLocalError(f"mvn failed to fetch {artifact}:\n{output[-4000:]}")
    found = list(dest.glob("*.tar.gz"))
    if len(found) != 1:
        raise RegistryLocalError(f"mvn fetched {artifact} but {dest} holds {found}")
    return found[0]


def unpack(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        # The "data" filter refuses absolute paths, links out of dest and device files.
        tar.extractall(dest, filter="data")


def fetch() -> Path:
    """Return the directory holding the registry's runner jar, downloading it once."""
    root = cache_dir()
    app = root / "app"
    if (root / COMPLETE_MARKER).exists():
        return app
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent fetches wait for the first
        if (root / COMPLETE_MARKER).exists():
            return app
        log(f"fetching Apicurio Registry {REGISTRY_VERSION} from Maven Central into {root}")
        staging = Path(tempfile.mkdtemp(prefix="app-", dir=root))
        try:
            with tempfile.TemporaryDirectory(prefix="download-", dir=root) as download:
                unpack(maven_copy(ARTIFACT, Path(download)), staging)
            if not (staging / RUNNER_JAR).is_file():
                raise RegistryLocalError(f"{ARTIFACT} holds no {RUNNER_JAR}")
            shutil.rmtree(app, ignore_errors=True)
            staging.rename(app)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (root / COMPLETE_MARKER).write_text(REGISTRY_VERSION + "\n")
    return app


# --------------------------------------------------------------------------
# start / stop / status
# --------------------------------------------------------------------------


def registry_url(port: int) -> str:
    """Return the Confluent-compatible API's URL on a local port.

    >>> registry_url(8081)
    'http://127.0.0.1:8081/apis/ccompat/v7'
    """
    return f"http://{HOST}:{port}{CCOMPAT_PATH}"


class RegistryDir:
    """Files of one registry instance, all under its ``--dir``."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.log = self.root / "registry.log"
        self.pid = self.root / "registry.pid"
        self.port = self.root / "registry.port"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no registry.log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def saved_port(self) -> int | None:
        try:
            return int(self.port.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def answers(url: str) -> bool:
    """Tell whether the Confluent-compatible API answers (it lists its subjects)."""
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def launch(java: str, app: Path, registry: RegistryDir, port: int) -> int:
    """Start the registry detached (own session), logging to registry.log."""
    env = {
        **os.environ,
        "QUARKUS_HTTP_PORT": str(port),
        "QUARKUS_HTTP_HOST": HOST,  # local only, as kafka-local's broker
        "APICURIO_STORAGE_KIND": "sql",  # an H2 database in memory: the default, said aloud
        "APICURIO_STORAGE_SQL_KIND": "h2",
    }
    with open(registry.log, "a") as out:
        process = subprocess.Popen(
            [java, *JVM_OPTS, "-jar", str(app / RUNNER_JAR)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=registry.root,
            env=env,
            start_new_session=True,
        )
    registry.pid.write_text(f"{process.pid}\n")
    registry.port.write_text(f"{port}\n")
    return process.pid


def wait_until_ready(registry: RegistryDir, pid: int, url: str, timeout: float) -> None:
    """Wait until the API answers; stop the process and show the log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            registry.pid.unlink(missing_ok=True)
            raise RegistryLocalError(
                f"the registry exited during startup; log tail:\n{registry.log_tail()}"
            )
        if answers(url):
            return
        time.sleep(0.25)
    terminate(pid, STOP_TIMEOUT_S)
    registry.pid.unlink(missing_ok=True)
    raise RegistryLocalError(
        f"the registry did not answer at {url} after {timeout:.0f}s (stopped it); "
        f"log tail:\n{registry.log_tail()}"
    )


def start(root: Path, port: int, timeout: float) -> str:
    """Start a registry from ``root`` and return its Confluent-compatible URL."""
    registry = RegistryDir(root)
    running = read_pid(registry)
    if running:
        raise RegistryLocalError(
            f"a registry is already running from {registry.root} (pid {running})"
        )
    java = java_executable()
    app = fetch()
    port = port or free_port()
    if port_open(port):  # else the readiness poll could mistake another server for ours
        raise RegistryLocalError(f"port {port} is in use; choose another --port")
    registry.root.mkdir(parents=True, exist_ok=True)
    pid = launch(java, app, registry, port)
    url = registry_url(port)
    wait_until_ready(registry, pid, url, timeout)
    return url


def is_registry_process(pid: int) -> bool:
    """Guard against a stale pid file whose pid now belongs to something else."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs: cannot check
    except OSError:
        return False
    return RUNNER_JAR.encode() in cmdline


def read_pid(registry: RegistryDir) -> int | None:
    """Return the pid of the registry running from this dir, or None."""
    try:
        pid = int(registry.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if pid_alive(pid) and is_registry_process(pid):
        return pid
    return None


def stop(root: Path, timeout: float) -> None:
    registry = RegistryDir(root)
    pid = read_pid(registry)
    if pid is None:
        log(f"no registry running from {registry.root}")
    else:
        terminate(pid, timeout)
        log(f"stopped registry pid {pid}")
    registry.pid.unlink(missing_ok=True)


def status(root: Path) -> int:
    registry = RegistryDir(root)
    pid = read_pid(registry)
    port = registry.saved_port()
    if pid is None or port is None:
        print("stopped")
        return 3  # LSB "program is not running"
    url = registry_url(port)
    state = "running" if answers(url) else "starting"
    print(f"{state} pid={pid} url={url}")
    return 0


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="registry-local",
        description=f"Run Apicurio Registry {REGISTRY_VERSION} (Confluent-compatible Schema "
        "Registry API, in-memory storage) as a local java process, without Docker.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dir",
            required=True,
            type=Path,
            help="instance directory: registry.log, registry.pid, registry.port",
        )

    sub.add_parser(
        "fetch",
        help="download and unpack the registry into the cache",
        description="Fetch the distribution with mvn and unpack it into "
        "${FRAUDSTREAM_REGISTRY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/fraudstream/"
        f"apicurio-registry-{REGISTRY_VERSION}}}. Returns at once when the cache is complete.",
    )

    p = sub.add_parser(
        "start",
        help="start the registry, print its URL",
        description="Start a registry in the background and wait until its "
        "Confluent-compatible API answers. Prints http://127.0.0.1:PORT/apis/ccompat/v7 "
        "as the last stdout line.",
    )
    dir_arg(p)
    p.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    p.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        help=f"seconds to wait for the API to answer (default {START_TIMEOUT_S:.0f})",
    )

    p = sub.add_parser(
        "stop",
        help="stop the registry (SIGTERM, then SIGKILL)",
        description="Stop the registry started from --dir; exits 0 if none is running.",
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
        help="report whether the registry is running",
        description="Print the registry state and URL; exit 0 if running, 3 if stopped.",
    )
    dir_arg(p)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run one command; return the exit code (0 done, 1 failed, 3 status: not running)."""
    args = parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch())
        elif args.command == "start":
            print(start(args.dir, args.port, args.timeout))
        elif args.command == "stop":
            stop(args.dir, args.timeout)
        elif args.command == "status":
            return status(args.dir)
    except (RegistryLocalError, KafkaLocalError) as error:  # KafkaLocalError: no java
        log(f"error: {error}")
        return 1
    return 0
