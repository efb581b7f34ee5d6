"""``sinetstream config fetch`` and ``config check --config`` against a real config server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sinetstream import MessageReader, MessageWriter
from sinetstream._cli import main

from ._fake_config_server import SECRET_KEY, FakeConfigServer

KEY_V1 = bytes(range(16))
KEY_V2 = bytes(range(50, 66))
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConfigServer]:
    monkeypatch.delenv("SINETSTREAM_PRIVATE_KEY_PASSPHRASE", raising=False)
    with FakeConfigServer(workdir / "home").running() as fake:
        yield fake


def add_lab(server: FakeConfigServer, broker: str, **extra: Any) -> None:
    server.add_secret("k1", "svc.crypto.key", KEY_V1)
    server.add_secret("k2", "svc.crypto.key", KEY_V2)
    server.add_secret("pw", "svc.type_spec.password", b"hunter2-from-server")
    crypto = {"algorithm": "AES", "mode": "GCM"}
    service = {"type": "queue", "brokers": broker, "topic": "t", "data_encryption": True}
    server.add_config(
        "lab",
        {"svc": {**service, "crypto": crypto, **extra}},
        attachments=[{"target": "svc.tls.ca_certs_data", "value": base64.b64encode(PEM).decode()}],
        secrets=[
            {
                "ids": [{"id": "k1", "version": 1}, {"id": "k2", "version": 2}],
                "target": "svc.crypto.key",
            },
            {"id": "pw", "target": "svc.type_spec.password"},
        ],
    )


def test_fetch_writes_a_private_file_with_secrets_still_encrypted(
    server: FakeConfigServer, broker_name: str, workdir: Path
) -> None:
    add_lab(server, broker_name)
    out = workdir / "lab.yml"
    out.write_text("old content")
    out.chmod(0o644)
    assert main(["config", "fetch", "lab", "-o", str(out)]) == 0
    text = out.read_text()
    assert out.stat().st_mode & 0o777 == 0o600
    assert text.count("!sinetstream/encrypted") == 3
    for secret in (b"hunter2-from-server", KEY_V1, KEY_V2):
        assert base64.b64encode(secret).decode() not in text
        assert secret.decode("latin-1") not in text
    assert "hunter2" not in text
    assert SECRET_KEY not in text
    assert server.token not in text
    # The file is a config file like any other: the same private key opens it.
    assert main(["config", "check", str(out)]) == 0
    with MessageReader(config_file=out, receive_timeout_ms=200) as reader:
        assert reader.params["crypto"]["_keys"] == {1: KEY_V1, 2: KEY_V2}
        assert reader.params["type_spec"]["password"] == b"hunter2-from-server"
        assert Path(reader.params["tls"]["ca_certs"]).read_bytes() == PEM
        with MessageWriter(config="lab") as writer:
            writer.publish(b"written with the server's key")
        assert [m.value for m in reader] == [b"written with the server's key"]


def test_fetch_to_stdout_with_explicit_paths(
    server: FakeConfigServer,
    broker_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_lab(server, broker_name)
    moved = tmp_path / "moved"
    moved.mkdir()
    auth = server.auth_file.rename(moved / "auth.json")
    key = server.private_key_file.rename(moved / "key.pem")
    assert main(["config", "fetch", "lab"]) == 2  # the default auth.json is gone
    assert "credentials file is missing" in capsys.readouterr().err
    argv = ["config", "fetch", "lab", "--auth-file", str(auth), "--private-key", str(key)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("# config-server:lab: secrets are encrypted for the key ")
    assert "header:\n  version: 3\nconfig:\n  svc:\n" in out
    assert "ca_certs_data: !!binary" in out


def test_check_config_reports_no_problem(
    server: FakeConfigServer, broker_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_lab(server, broker_name)
    assert main(["config", "check", "--config", "lab"]) == 0
    assert capsys.readouterr().out == "config-server:lab: no problems found\n"


def test_check_config_reports_each_problem_with_the_server_name(
    server: FakeConfigServer, broker_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_lab(server, broker_name, consistency="SOMETIMES", maxsize=3)
    assert main(["config", "check", "--config", "lab"]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert any(line.startswith("config-server:lab: service 'svc': consistency") for line in lines)
    assert any("maxsize" in line and "type_spec" in line for line in lines)
    assert "2 problem(s) in config-server:lab" in captured.err


def test_check_config_needs_the_private_key(
    server: FakeConfigServer, broker_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_lab(server, broker_name)
    server.private_key_file.unlink()
    assert main(["config", "check", "--config", "lab"]) == 2
    assert "needs the private key" in capsys.readouterr().err


def test_check_takes_a_path_or_a_name_not_both(
    server: FakeConfigServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:  # a usage error, as for every command
        main(["config", "check", "some.yml", "--config", "lab"])
    assert exited.value.code == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [("/authentication", 401, 1), ("/configs", 404, 2), ("/secrets", 500, 1)],
)
def test_fetch_failures_exit_with_the_usual_codes(
    server: FakeConfigServer,
    broker_name: str,
    capsys: pytest.CaptureFixture[str],
    *,
    route: str,
    status: int,
    code: int,
) -> None:
    add_lab(server, broker_name)
    server.fail[route] = status
    out = server.home / "lab.yml"
    assert main(["config", "fetch", "lab", "-o", str(out)]) == code
    err = capsys.readouterr().err
    assert str(status) in err
    assert SECRET_KEY not in err
    assert not out.exists()


def test_config_without_subcommand_names_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["config"])
    assert exit_info.value.code == 2
    assert "config fetch NAME" in capsys.readouterr().err
