"""The pure parts of the local broker tool: ports, properties, cluster ids, process checks."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import kafka_local  # noqa: E402
from kafka_local import BrokerDir, KafkaLocalError  # noqa: E402


def test_a_free_port_can_be_bound_and_port_open_sees_listeners():
    port = kafka_local.free_port()
    assert not kafka_local.port_open(port)
    with socket.socket() as server:
        server.bind((kafka_local.HOST, port))
        server.listen()
        assert kafka_local.port_open(port)


def test_free_ports_lie_below_the_ephemeral_range_a_restart_could_lose_them_to():
    low = kafka_local.ephemeral_low()
    ports = {kafka_local.free_port() for _ in range(20)}
    assert all(max(1024, low - kafka_local.PORT_SPAN) <= port < low for port in ports)
    assert len(ports) > 1  # drawn at random, not the first free one each time


def test_the_ephemeral_range_is_read_from_the_kernel_or_defaults(tmp_path):
    given = tmp_path / "range"
    given.write_text("40000\t60999\n")
    assert kafka_local.ephemeral_low(given) == 40000
    assert kafka_local.ephemeral_low(tmp_path / "missing") == kafka_local.DEFAULT_EPHEMERAL_LOW


def test_server_properties_name_the_ports_and_read_back(tmp_path):
    text = kafka_local.server_properties(tmp_path / "data", 19092, 19093, partitions=4)
    path = tmp_path / "server.properties"
    path.write_text(text)
    props = kafka_local.read_properties(path)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "4"
    assert props["transaction.state.log.replication.factor"] == "1"  # transactions on one node
    assert kafka_local.port_of(props["controller.quorum.bootstrap.servers"]) == 19093


def test_a_formatted_dir_keeps_its_ports(tmp_path):
    broker = BrokerDir(tmp_path)
    broker.data.mkdir()
    (broker.data / "meta.properties").write_text("cluster.id=x\n")
    broker.config.write_text(kafka_local.server_properties(broker.data, 19092, 19093))
    assert broker.ports() == (19092, 19093)
    assert kafka_local.choose_ports(broker, 0, 0) == (19092, 19093)
    with pytest.raises(KafkaLocalError, match="formatted for ports 19092/19093"):
        kafka_local.choose_ports(broker, 19500, 0)


def test_a_new_dir_gets_two_different_free_ports(tmp_path):
    port, controller = kafka_local.choose_ports(BrokerDir(tmp_path), 0, 0)
    assert port != controller and port > 0 and controller > 0


def test_cluster_ids_are_base64_uuids_that_do_not_look_like_flags():
    ids = {kafka_local.random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_process_checks_tell_live_dead_and_foreign_processes(tmp_path):
    assert kafka_local.pid_alive(os.getpid())
    assert not kafka_local.is_kafka_process(os.getpid())  # alive, but not a broker
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not kafka_local.pid_alive(child.pid)
    broker = BrokerDir(tmp_path)
    broker.pid.write_text(f"{os.getpid()}\n")  # a stale pid file naming another program
    assert kafka_local.read_pid(broker) is None
    broker.pid.write_text("not a pid\n")
    assert kafka_local.read_pid(broker) is None


def test_status_of_a_stopped_dir_is_3_and_stop_is_quiet(tmp_path, capsys):
    assert kafka_local.main(["status", "--dir", str(tmp_path)]) == 3
    assert capsys.readouterr().out == "stopped\n"
    assert kafka_local.main(["stop", "--dir", str(tmp_path)]) == 0


def test_a_sasl_port_adds_a_scram_listener(tmp_path):
    broker = BrokerDir(tmp_path)
    broker.config.write_text(kafka_local.server_properties(tmp_path, 19092, 19093, 1, 19094))
    props = kafka_local.read_properties(broker.config)
    assert "SASL_PLAINTEXT://127.0.0.1:19094" in props["advertised.listeners"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert broker.ports() == (19092, 19093) and broker.sasl_port() == 19094
    broker.config.write_text(kafka_local.server_properties(tmp_path, 19092, 19093))
    assert broker.sasl_port() is None


@pytest.mark.parametrize("user, password", [("fraud", ""), ("a,b", "pw"), ("u", "p]w")])
def test_a_scram_credential_refuses_what_would_break_its_syntax(user, password):
    with pytest.raises(KafkaLocalError, match="SASL"):
        kafka_local.scram_credential(user, password)
