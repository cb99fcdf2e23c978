"""The local Schema Registry tool: its cache, its pid and port files, and a real registry."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import registry_local  # noqa: E402
from registry_local import RegistryDir, RegistryLocalError  # noqa: E402

REGISTRY_LOCAL = Path(__file__).resolve().parents[2] / "scripts" / "registry-local"
RECORD = {
    "type": "record",
    "name": "Transaction",
    "fields": [{"name": "V1", "type": "double"}, {"name": "transaction_id", "type": "string"}],
}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fake_mvn(bin_dir: Path, archive: bytes) -> None:
    """Put on PATH an `mvn` that 'downloads' `archive` where dependency:copy would."""
    (bin_dir / "archive.tar.gz").write_bytes(archive)
    script = bin_dir / "mvn"
    script.write_text(
        "#!/bin/sh\n"
        'for arg; do case "$arg" in -DoutputDirectory=*) out="${arg#*=}";; esac; done\n'
        f'cp "{bin_dir}/archive.tar.gz" "$out/apicurio-registry-app-all.tar.gz"\n'
    )
    script.chmod(0o755)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("FRAUDSTREAM_REGISTRY_CACHE", str(root))
    return root


def test_the_url_is_the_confluent_compatible_api_on_localhost():
    assert registry_local.registry_url(8081) == "http://127.0.0.1:8081/apis/ccompat/v7"


def test_the_cache_sits_beside_kafkas_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAUDSTREAM_REGISTRY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = tmp_path / "fraudstream" / f"apicurio-registry-{registry_local.REGISTRY_VERSION}"
    assert registry_local.cache_dir() == expected
    monkeypatch.setenv("FRAUDSTREAM_REGISTRY_CACHE", str(tmp_path / "elsewhere"))
    assert registry_local.cache_dir() == tmp_path / "elsewhere"


def test_fetch_unpacks_the_distribution_once(cache, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn(bin_dir, tar_gz({registry_local.RUNNER_JAR: b"jar", "lib/a.jar": b"a"}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    app = registry_local.fetch()
    assert (app / registry_local.RUNNER_JAR).read_bytes() == b"jar"
    assert (app / "lib" / "a.jar").is_file()
    assert sorted(p.name for p in cache.iterdir()) == [".complete", ".lock", "app"]
    monkeypatch.setenv("PATH", "")  # a complete cache needs no mvn
    assert registry_local.fetch() == app


def test_an_archive_without_the_runner_jar_leaves_the_cache_incomplete(
    cache, tmp_path, monkeypatch
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_mvn(bin_dir, tar_gz({"lib/a.jar": b"a"}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RegistryLocalError, match="runner.jar"):
        registry_local.fetch()
    assert not (cache / ".complete").exists() and not (cache / "app").exists()


def test_no_mvn_is_one_clear_sentence(cache, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RegistryLocalError, match="`mvn` not found"):
        registry_local.fetch()


def test_unpacking_refuses_a_member_outside_the_destination(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz({"../escaped": b"x"}))
    with pytest.raises(tarfile.TarError):
        registry_local.unpack(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped").exists()


def test_start_refuses_a_port_in_use(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_local, "java_executable", lambda: "java")
    monkeypatch.setattr(registry_local, "fetch", lambda: tmp_path)
    with socket.socket() as server:
        server.bind((registry_local.HOST, 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(RegistryLocalError, match=f"port {port} is in use"):
            registry_local.start(tmp_path / "registry", port, timeout=1)
    assert not (tmp_path / "registry" / "registry.pid").exists()


def test_a_stale_pid_file_is_not_a_running_registry(tmp_path):
    registry = RegistryDir(tmp_path)
    registry.pid.write_text(f"{os.getpid()}\n")  # alive, but not a registry
    assert registry_local.read_pid(registry) is None
    registry.pid.write_text("garbage\n")
    assert registry_local.read_pid(registry) is None


def test_status_of_a_stopped_dir_is_3_and_stop_is_quiet(tmp_path, capsys):
    assert registry_local.main(["status", "--dir", str(tmp_path)]) == 3
    assert capsys.readouterr().out == "stopped\n"
    assert registry_local.main(["stop", "--dir", str(tmp_path)]) == 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REGISTRY_LOCAL), *args],
        stdout=subprocess.PIPE,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_real_registry_registers_a_schema_and_serves_it_by_id(tmp_path):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    started = run_cli("start", "--dir", str(tmp_path))
    assert started.returncode == 0
    url = started.stdout.strip().splitlines()[-1]
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/apis/ccompat/v7")
        status = run_cli("status", "--dir", str(tmp_path))
        assert status.returncode == 0 and f"url={url}" in status.stdout
        client = SchemaRegistryClient({"url": url})
        schema_id = client.register_schema("transactions-value", Schema(json.dumps(RECORD), "AVRO"))
        fresh = SchemaRegistryClient({"url": url})  # no cache: the registry answers
        served = fresh.get_schema(schema_id)
        assert served.schema_type == "AVRO"
        assert json.loads(served.schema_str) == RECORD
        with pytest.raises(SchemaRegistryError) as unknown:
            fresh.get_schema(schema_id + 1000)
        assert unknown.value.http_status_code == 404
    finally:
        pid = int(RegistryDir(tmp_path).pid.read_text())
        assert run_cli("stop", "--dir", str(tmp_path)).returncode == 0
    assert run_cli("status", "--dir", str(tmp_path)).returncode == 3
    assert not registry_local.pid_alive(pid)  # gone, or a zombie its reaper has not seen
