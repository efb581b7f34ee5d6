"""config=NAME against a real HTTP configuration server on a loopback port."""

from __future__ import annotations

import base64
import logging
import os
import pty
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sinetstream import (
    AuthorizationError,
    InvalidConfigError,
    InvalidMessageError,
    MessageReader,
    MessageWriter,
    NoConfigError,
    NoServiceError,
)
from sinetstream import (
    ConnectionError as SinetConnectionError,
)
from sinetstream._configserver import ServerOptions, fetch_config_file
from sinetstream._secrets import public_key_fingerprint
from sinetstream.testing.tls import make_certificates

from ._fake_config_server import SECRET_KEY, FakeConfigServer, rsa_key, write_private_key

KEY_V1 = bytes(range(32))
KEY_V2 = bytes(range(100, 132))


@pytest.fixture
def server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConfigServer]:
    monkeypatch.delenv("SINETSTREAM_PRIVATE_KEY_PASSPHRASE", raising=False)
    with FakeConfigServer(workdir / "home").running() as fake:
        yield fake


def queue_service(broker_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "queue", "brokers": broker_name, "topic": "t", **extra}


def encrypted_service(broker_name: str) -> dict[str, Any]:
    crypto = {"algorithm": "AES", "mode": "GCM", "key_length": 256}
    return queue_service(broker_name, data_encryption=True, crypto=crypto)


def add_keyed_config(server: FakeConfigServer, broker: str) -> None:
    """Config "lab": an encrypted queue service whose key is secret "s1"."""
    server.add_config(
        "lab",
        {"svc": encrypted_service(broker)},
        secrets=[{"id": "s1", "target": "svc.crypto.key"}],
    )


def rotated_key_config(server: FakeConfigServer, name: str, broker: str, versions: int) -> None:
    keys = {1: KEY_V1, 2: KEY_V2}
    for version in range(1, versions + 1):
        server.add_secret(f"{name}-k{version}", "svc.crypto.key", keys[version])
    ids = [{"id": f"{name}-k{v}", "version": v} for v in range(1, versions + 1)]
    server.add_config(
        name,
        {"svc": encrypted_service(broker)},
        secrets=[{"ids": ids, "target": "svc.crypto.key"}],
    )


def test_round_trip_through_the_queue_with_a_key_from_the_server(
    server: FakeConfigServer, broker_name: str
) -> None:
    server.add_secret("s1", "svc.crypto.key", KEY_V1)
    add_keyed_config(server, broker_name)
    with MessageReader(config="lab", receive_timeout_ms=200) as reader:
        with MessageWriter(config="lab") as writer:
            assert writer.params["crypto"]["key"] == KEY_V1
            writer.publish(b"from the config server")
        messages = list(reader)
    assert [m.value for m in messages] == [b"from the config server"]
    assert messages[0].raw.value[4:6] == b"\x00\x01"  # key version 1
    assert b"from the config server" not in messages[0].raw.value
    sent = {(method, path.split("?")[0]) for method, path, _ in server.seen}
    assert ("GET", "/api/v1/secrets/s1") in sent
    headers = [h for _, path, h in server.seen if path == "/api/v1/secrets/s1"]
    assert all(h["SINETStream-config-publickey"] == server.fingerprint for h in headers)


def test_key_rotation_fills_every_key_version(server: FakeConfigServer, broker_name: str) -> None:
    rotated_key_config(server, "old", broker_name, versions=1)
    rotated_key_config(server, "new", broker_name, versions=2)
    with MessageReader(config="new", receive_timeout_ms=200) as reader:
        assert reader.params["crypto"]["_keys"] == {1: KEY_V1, 2: KEY_V2}
        with MessageWriter(config="old") as old, MessageWriter(config="new") as new:
            old.publish(b"written with version 1")
            new.publish(b"written with version 2")
        messages = list(reader)
    assert [m.value for m in messages] == [b"written with version 1", b"written with version 2"]
    assert [m.raw.value[4:6] for m in messages] == [b"\x00\x01", b"\x00\x02"]
    with MessageReader(config="old", receive_timeout_ms=200) as stale:
        with MessageWriter(config="new") as new:
            new.publish(b"v2 only")
        with pytest.raises(InvalidMessageError, match="key_version=2"):
            list(stale)


def test_ids_elsewhere_take_the_highest_version(server: FakeConfigServer, broker_name: str) -> None:
    server.add_secret("p1", "svc.type_spec.password", b"old password")
    server.add_secret("p3", "svc.type_spec.password", b"new password")
    ids = [{"id": "p3", "version": 3}, {"id": "p1", "version": 1}]
    server.add_config(
        "lab",
        {"svc": queue_service(broker_name)},
        secrets=[{"ids": ids, "target": "svc.type_spec.password"}],
    )
    assert MessageWriter(config="lab").params["type_spec"]["password"] == b"new password"
    assert not any(path.endswith("/p1") for _, path, _ in server.seen)


def test_keyword_arguments_override_the_server(server: FakeConfigServer, broker_name: str) -> None:
    server.add_config("lab", {"svc": queue_service(broker_name, consistency="AT_LEAST_ONCE")})
    writer = MessageWriter(config="lab", topic="mine", consistency="AT_MOST_ONCE")
    assert writer.params["topic"] == "mine"
    assert writer.params["consistency"].name == "AT_MOST_ONCE"
    assert writer.params["brokers"] == broker_name


def test_service_is_chosen_as_in_a_file(server: FakeConfigServer, broker_name: str) -> None:
    server.add_config("two", {"a": queue_service(broker_name), "b": queue_service(broker_name)})
    with pytest.raises(NoConfigError, match="several services"):
        MessageWriter(config="two")
    with pytest.raises(NoServiceError, match="'c' is not defined"):
        MessageWriter("c", config="two")
    assert MessageWriter("b", config="two").service == "b"


def test_attachment_becomes_a_private_temp_file_removed_on_close(
    server: FakeConfigServer, broker_name: str
) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    server.add_config(
        "lab",
        {"svc": queue_service(broker_name, tls={"check_hostname": False})},
        attachments=[{"target": "*.tls.ca_certs_data", "value": base64.b64encode(pem).decode()}],
    )
    writer = MessageWriter(config="lab")
    path = Path(writer.params["tls"]["ca_certs"])
    assert path.read_bytes() == pem
    assert path.stat().st_mode & 0o777 == 0o600
    assert writer.params["tls"]["check_hostname"] is False
    with writer:
        pass
    assert not path.exists()


def test_only_the_chosen_services_secrets_are_fetched(
    server: FakeConfigServer, broker_name: str
) -> None:
    server.add_secret("sa", "a.type_spec.password", b"for a")
    server.add_secret("sb", "b.type_spec.password", b"for b")
    server.add_config(
        "two",
        {"a": queue_service(broker_name), "b": queue_service(broker_name)},
        secrets=[
            {"id": "sa", "target": "a.type_spec.password"},
            {"id": "sb", "target": "b.type_spec.password"},
        ],
    )
    assert MessageWriter("a", config="two").params["type_spec"]["password"] == b"for a"
    assert not any(path.endswith("/sb") for _, path, _ in server.seen)


@pytest.mark.parametrize(
    ("route", "status", "error"),
    [
        ("/authentication", 401, AuthorizationError),
        ("/authentication", 500, SinetConnectionError),
        ("/configs", 401, AuthorizationError),
        ("/configs", 404, NoServiceError),
        ("/configs", 500, SinetConnectionError),
        ("/secrets", 401, AuthorizationError),
        ("/secrets", 404, NoServiceError),
        ("/secrets", 503, SinetConnectionError),
    ],
)
def test_server_statuses_become_sinetstream_errors(
    server: FakeConfigServer,
    broker_name: str,
    caplog: pytest.LogCaptureFixture,
    *,
    route: str,
    status: int,
    error: type[Exception],
) -> None:
    caplog.set_level(logging.DEBUG)
    server.add_secret("s1", "svc.crypto.key", KEY_V1)
    add_keyed_config(server, broker_name)
    server.fail[route] = status
    with pytest.raises(error, match=str(status)) as info:
        MessageWriter(config="lab")
    assert_no_secret_in(str(info.value), caplog, server)


def test_unknown_config_name_is_no_service(server: FakeConfigServer) -> None:
    with pytest.raises(NoServiceError, match=r"config-server:nowhere.*404"):
        MessageWriter(config="nowhere")


def test_wrong_secret_key_is_an_authorization_error(
    server: FakeConfigServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.write_auth(**{"secret-key": "sk-wrong-but-still-secret"})
    with pytest.raises(AuthorizationError, match="lab-user") as info:
        MessageWriter(config="lab")
    assert "sk-wrong-but-still-secret" not in str(info.value)
    assert "sk-wrong-but-still-secret" not in caplog.text


def test_secrets_and_token_never_reach_messages_or_logs(
    server: FakeConfigServer, broker_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.add_secret("s1", "svc.crypto.key", KEY_V1)
    server.add_secret("bad", "svc.type_spec.password", b"", blob=b"\x00\x01\x01\x01" + bytes(300))
    server.add_config(
        "lab",
        {"svc": encrypted_service(broker_name)},
        secrets=[
            {"id": "s1", "target": "svc.crypto.key"},
            {"id": "bad", "target": "svc.type_spec.password"},
        ],
    )
    with pytest.raises(InvalidConfigError, match="cannot be decrypted") as info:
        MessageWriter(config="lab")
    assert_no_secret_in(str(info.value) + repr(info.value.__cause__), caplog, server)


def assert_no_secret_in(
    text: str, caplog: pytest.LogCaptureFixture, server: FakeConfigServer
) -> None:
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (SECRET_KEY, server.token, KEY_V1.hex(), base64.b64encode(KEY_V1).decode()):
        assert secret not in text
        assert secret not in logged


def test_fingerprint_is_the_one_ssh_keygen_shows(tmp_path: Path) -> None:
    public = rsa_key("user").public_key()
    pub_file = tmp_path / "key.pub"
    pub_file.write_bytes(
        public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    assert shown == "SHA256:" + public_key_fingerprint(public)


def test_secret_for_another_key_is_refused(server: FakeConfigServer, broker_name: str) -> None:
    server.add_secret("s1", "svc.crypto.key", KEY_V1, key=rsa_key("someone else"))
    add_keyed_config(server, broker_name)
    theirs = public_key_fingerprint(rsa_key("someone else").public_key())
    with pytest.raises(InvalidConfigError) as info:
        MessageWriter(config="lab")
    assert f"encrypted for the public key SHA256:{theirs}" in str(info.value)
    assert f"private key in use is SHA256:{server.fingerprint}" in str(info.value)


def test_secret_for_another_key_without_fingerprint_fails_to_decrypt(
    server: FakeConfigServer, broker_name: str
) -> None:
    server.add_secret("s1", "svc.crypto.key", KEY_V1, key=rsa_key("someone else"))
    del server.secrets["s1"]["fingerprint"]
    add_keyed_config(server, broker_name)
    with pytest.raises(InvalidConfigError, match="cannot be decrypted with"):
        MessageWriter(config="lab")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob: b"\x00\x02" + blob[2:], "unsupported header 00020101"),
        (lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]), "cannot be decrypted"),
        (lambda blob: blob[:200], "truncated"),
    ],
)
def test_corrupt_secret_is_an_invalid_config(
    server: FakeConfigServer, broker_name: str, mangle: Any, message: str
) -> None:
    blob = server.add_secret("s1", "svc.crypto.key", KEY_V1)
    server.add_secret("s1", "svc.crypto.key", KEY_V1, blob=mangle(blob))
    add_keyed_config(server, broker_name)
    with pytest.raises(InvalidConfigError, match=message):
        MessageWriter(config="lab")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "other"}, "another config's name"),
        (
            {"config": {"header": {"version": 4}, "config": {"svc": {"type": "queue"}}}},
            "must be 2 or 3",
        ),
        ({"config": {"header": {}, "config": {"svc": {"type": "queue"}}}}, "'version' is missing"),
        ({"config": {"header": {"version": 3}, "config": {"svc": "queue"}}}, "must be a mapping"),
        ({"attachments": [{"target": "svc", "value": ""}]}, "not '<service or \\*>.<dotted.path>'"),
        ({"attachments": [{"target": "svc.tls.ca_certs_data", "value": "%%%"}]}, "not base64"),
        ({"secrets": [{"target": "svc.crypto.key"}]}, "'id' is missing"),
        ({"secrets": [{"ids": [], "target": "svc.crypto.key"}]}, "'ids' is empty"),
        ({"secrets": "none"}, "'secrets' is missing or not a list"),
    ],
)
def test_malformed_answers_are_invalid_config(
    server: FakeConfigServer, broker_name: str, change: dict[str, Any], message: str
) -> None:
    server.add_config("lab", {"svc": queue_service(broker_name)})
    server.configs["lab"].update(change)
    with pytest.raises(InvalidConfigError, match=message):
        MessageWriter(config="lab")


def test_secret_answer_for_another_target_is_refused(
    server: FakeConfigServer, broker_name: str
) -> None:
    server.add_secret("s1", "svc.type_spec.password", KEY_V1)
    add_keyed_config(server, broker_name)
    with pytest.raises(InvalidConfigError, match=r"target is not 'svc\.crypto\.key'"):
        MessageWriter(config="lab")


def test_empty_config_is_no_config(server: FakeConfigServer) -> None:
    server.add_config("empty", {})
    with pytest.raises(NoConfigError, match="defines no service"):
        MessageWriter(config="empty")


def test_version_2_config_keeps_flat_parameters(server: FakeConfigServer, broker_name: str) -> None:
    server.add_config("v2", {"svc": queue_service(broker_name, maxsize=5)}, version=2)
    writer = MessageWriter(config="v2")
    assert writer.params["maxsize"] == 5


def test_missing_auth_file_names_it(workdir: Path) -> None:
    expected = str(workdir / "home" / ".config" / "sinetstream" / "auth.json")
    with pytest.raises(NoConfigError, match="credentials file is missing") as info:
        MessageWriter(config="lab")
    assert expected in str(info.value)


def test_malformed_auth_file_never_shows_its_content(server: FakeConfigServer) -> None:
    server.auth_file.write_text('{"config-server": {"secret-key": "sk-in-a-broken-file", }')
    with pytest.raises(InvalidConfigError, match="not valid JSON") as info:
        MessageWriter(config="lab")
    assert "sk-in-a-broken-file" not in str(info.value)
    assert info.value.__cause__ is None
    server.auth_file.write_text('{"config-server": {"address": "x", "user": "u"}}')
    with pytest.raises(InvalidConfigError, match="'secret-key' is missing"):
        MessageWriter(config="lab")


def test_unreachable_server_is_a_connection_error(server: FakeConfigServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server.write_auth(address=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(SinetConnectionError, match="cannot connect to the server"):
        MessageWriter(config="lab")


def test_address_that_is_not_a_url_is_invalid_config(server: FakeConfigServer) -> None:
    server.write_auth(address="config.example")
    with pytest.raises(InvalidConfigError, match="not an http:// or https:// URL"):
        MessageWriter(config="lab")


def test_one_connection_reset_is_retried(server: FakeConfigServer, broker_name: str) -> None:
    server.add_config("lab", {"svc": queue_service(broker_name)})
    server.resets["/configs"] = 1
    assert MessageWriter(config="lab").params["brokers"] == broker_name
    assert [path for _, path, _ in server.seen].count("/api/v1/configs/lab") == 2


def test_a_second_reset_is_a_connection_error(server: FakeConfigServer, broker_name: str) -> None:
    server.add_config("lab", {"svc": queue_service(broker_name)})
    server.resets["/configs"] = 2
    with pytest.raises(SinetConnectionError, match="cannot connect"):
        MessageWriter(config="lab")
    assert [path for _, path, _ in server.seen].count("/api/v1/configs/lab") == 2


def test_passphrase_comes_from_the_environment(
    server: FakeConfigServer, broker_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_private_key(server.private_key_file, server.key, passphrase=b"open sesame")
    server.add_secret("s1", "svc.crypto.key", KEY_V1)
    add_keyed_config(server, broker_name)
    with pytest.raises(InvalidConfigError, match="SINETSTREAM_PRIVATE_KEY_PASSPHRASE"):
        MessageWriter(config="lab")
    monkeypatch.setenv("SINETSTREAM_PRIVATE_KEY_PASSPHRASE", "open sesame")
    assert MessageWriter(config="lab").params["crypto"]["key"] == KEY_V1


def test_paths_and_ca_bundle_are_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "nobody"))  # the defaults must not be used
    certs = make_certificates(tmp_path / "pki")
    fake = FakeConfigServer(tmp_path / "elsewhere")
    fake.add_secret("s1", "svc.crypto.key", KEY_V1)
    fake.add_config(
        "lab", {"svc": {"type": "queue"}}, secrets=[{"id": "s1", "target": "svc.crypto.key"}]
    )
    with fake.running(tls=certs.server_context()):
        assert fake.url.startswith("https://")
        options = ServerOptions(auth_file=fake.auth_file, private_key=fake.private_key_file)
        with pytest.raises(SinetConnectionError, match="cannot be verified"):
            fetch_config_file("lab", options=options)
        config = fetch_config_file("lab", options=replace(options, ca_bundle=str(certs.ca)))
        assert config.services["svc"]["crypto"]["key"] == KEY_V1
        fake.write_auth(**{"ca-bundle": str(certs.ca)})
        assert fetch_config_file("lab", options=options).services["svc"]["crypto"]["key"] == KEY_V1
    assert not (tmp_path / "nobody").exists()


def test_missing_requests_says_what_to_install(
    server: FakeConfigServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)
    with pytest.raises(NoConfigError, match=r"pip install 'requests"):
        MessageWriter(config="lab")


def on_a_terminal(code: str, answers: list[str]) -> str:
    """Run ``code`` with a pty as its stdin and output; type each answer at each prompt.

    The child gets a session of its own, so it cannot reach the terminal pytest runs in.
    """
    env = {k: v for k, v in os.environ.items() if k != "SINETSTREAM_PRIVATE_KEY_PASSPHRASE"}
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    answered = 0
    try:
        while select.select([master], [], [], 30)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child exited and closed the pty
                break
            if not chunk:
                break
            output += chunk
            while answers and output.count(b"passphrase of") > answered:
                os.write(master, answers.pop(0).encode() + b"\n")
                answered += 1
    finally:
        os.close(master)
        child.wait(timeout=30)
    return output.decode(errors="replace")


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["typed secret"], "LOADED"),
        (["wrong", "typed secret"], "LOADED"),
        (["wrong", "wrong again", "still wrong"], "wrong passphrase"),
    ],
)
def test_passphrase_is_asked_for_on_a_terminal(
    tmp_path: Path, answers: list[str], expected: str
) -> None:
    key = write_private_key(tmp_path / "k.pem", rsa_key("user"), passphrase=b"typed secret")
    code = (
        "from pathlib import Path\n"
        "from sinetstream._secrets import load_private_key\n"
        "from sinetstream.error import InvalidConfigError\n"
        "try:\n"
        f"    load_private_key(Path({str(key)!r}))\n"
        "    print('LOADED')\n"
        "except InvalidConfigError as exc:\n"
        "    print(exc)\n"
    )
    output = on_a_terminal(code, list(answers))
    assert expected in output
    assert output.count("passphrase of") == len(answers)
    assert "typed secret" not in output  # getpass does not echo
