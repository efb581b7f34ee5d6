"""Configuration: lookup, versions, merging, service choice, inline files, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sinetstream import (
    AT_LEAST_ONCE,
    AT_MOST_ONCE,
    InvalidArgumentError,
    InvalidConfigError,
    MessageReader,
    MessageWriter,
    NoConfigError,
    NoServiceError,
    UnsupportedServiceTypeError,
)
from sinetstream._config import check_config_file


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


V3 = """\
header:
  version: 3
config:
  svc:
    type: queue
    brokers: {broker}
    topic: cfg-topic
    consistency: AT_LEAST_ONCE
    value_type: text
    type_spec:
      maxsize: 7
"""


def test_cwd_file_is_found_and_merged(workdir: Path, broker_name: str) -> None:
    write_config(workdir / ".sinetstream_config.yml", V3.format(broker=broker_name))
    w = MessageWriter("svc")
    assert w.service == "svc"
    assert w.topic == "cfg-topic"
    assert w.consistency is AT_LEAST_ONCE
    assert w.value_type == "text"
    assert w.params["type_spec"] == {"maxsize": 7}
    assert w.params["compression"] == {"algorithm": "gzip"}  # library default
    assert w.client_id.startswith("sinetstream-")


def test_home_file_is_the_fallback(workdir: Path, broker_name: str) -> None:
    write_config(
        Path(os.environ["HOME"]) / ".config/sinetstream/config.yml", V3.format(broker=broker_name)
    )
    assert MessageWriter().service == "svc"  # the only service is chosen


def test_kwargs_override_the_file_deeply(workdir: Path, broker_name: str) -> None:
    write_config(workdir / ".sinetstream_config.yml", V3.format(broker=broker_name))
    w = MessageWriter(
        "svc", "other", consistency="AT_MOST_ONCE", type_spec={"publish_timeout_ms": 5}
    )
    assert w.topic == "other"
    assert w.consistency is AT_MOST_ONCE
    assert w.params["type_spec"] == {"maxsize": 7, "publish_timeout_ms": 5}


def test_explicit_config_file(tmp_path: Path, workdir: Path, broker_name: str) -> None:
    path = write_config(tmp_path / "elsewhere.yml", V3.format(broker=broker_name))
    assert MessageWriter("svc", config_file=path).topic == "cfg-topic"
    with pytest.raises(NoConfigError, match=r"missing\.yml"):
        MessageWriter("svc", config_file=tmp_path / "missing.yml")


def test_no_config_file_anywhere(workdir: Path) -> None:
    with pytest.raises(NoConfigError, match="no_config=True"):
        MessageWriter("svc")


def test_unknown_service_names_file_and_choices(workdir: Path, broker_name: str) -> None:
    write_config(workdir / ".sinetstream_config.yml", V3.format(broker=broker_name))
    with pytest.raises(NoServiceError, match=r"\.sinetstream_config\.yml.*'nope'.*svc"):
        MessageReader("nope")


def test_several_services_need_a_name(workdir: Path) -> None:
    write_config(
        workdir / ".sinetstream_config.yml",
        "a: {type: queue, topic: t}\nb: {type: queue, topic: t}\n",
    )
    with pytest.raises(NoConfigError, match="several services"):
        MessageWriter()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("svc: [unclosed\n", r"malformed YAML \(line"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("header:\n  version: 4\nconfig:\n  s: {type: queue}\n", r"header\.version.*2 or 3"),
        ("header:\n  version: 3\n", "needs a 'config'"),
        ("header:\n  version: 3\nconfig: {}\n", "no service"),
        ("svc: 3\n", "service 'svc' must be a mapping"),
    ],
)
def test_malformed_files(workdir: Path, text: str, match: str) -> None:
    path = write_config(workdir / ".sinetstream_config.yml", text)
    with pytest.raises(InvalidConfigError, match=match) as info:
        MessageWriter("svc")
    assert str(path) in str(info.value)


def test_malformed_cwd_file_does_not_fall_through(workdir: Path, broker_name: str) -> None:
    # SINETStream 1.10 silently used the home config here (its bug #16).
    write_config(workdir / ".sinetstream_config.yml", "svc: [broken\n")
    write_config(
        Path(os.environ["HOME"]) / ".config/sinetstream/config.yml", V3.format(broker=broker_name)
    )
    with pytest.raises(InvalidConfigError):
        MessageWriter("svc")


def test_missing_type(workdir: Path) -> None:
    write_config(workdir / ".sinetstream_config.yml", "svc: {topic: t}\n")
    with pytest.raises(InvalidConfigError, match=r"service 'svc'.*'type' is missing"):
        MessageWriter("svc")


def test_unknown_type(workdir: Path) -> None:
    with pytest.raises(UnsupportedServiceTypeError, match=r"'carrier-pigeon'.*installed: .*queue"):
        MessageWriter(no_config=True, type="carrier-pigeon", topic="t")


@pytest.mark.parametrize("value", ["at_most_once", 1, 0, "SOMETIMES", None])
def test_invalid_consistency(value: object, broker_name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="consistency"):
        MessageWriter(
            no_config=True, type="queue", brokers=broker_name, topic="t", consistency=value
        )


def test_consistency_from_file_names_the_service(workdir: Path) -> None:
    write_config(
        workdir / ".sinetstream_config.yml", "svc: {type: queue, topic: t, consistency: MAYBE}\n"
    )
    with pytest.raises(InvalidArgumentError, match=r"service 'svc'.*consistency.*MAYBE"):
        MessageWriter("svc")


def test_version_1_and_2_keep_backend_params_flat(workdir: Path, broker_name: str) -> None:
    write_config(
        workdir / ".sinetstream_config.yml",
        f"header: {{version: 2}}\nconfig:\n  svc: {{type: queue, brokers: {broker_name}, "
        "topic: t, maxsize: 0}\n",
    )
    # maxsize is a queue parameter: in a v2 file it is read flat, and 0 is refused.
    with pytest.raises(InvalidArgumentError, match="maxsize"):
        MessageWriter("svc")


def test_version_3_ignores_flat_backend_params(workdir: Path, broker_name: str) -> None:
    write_config(
        workdir / ".sinetstream_config.yml",
        f"header: {{version: 3}}\nconfig:\n  svc: {{type: queue, brokers: {broker_name}, "
        "topic: t, maxsize: 0}\n",
    )
    MessageWriter("svc")  # flat maxsize is not a v3 backend parameter
    problems = check_config_file(workdir / ".sinetstream_config.yml")
    assert any("maxsize" in p and "type_spec" in p for p in problems)


def test_inline_data_becomes_a_private_temp_file_removed_on_close(broker_name: str) -> None:
    w = MessageWriter(
        no_config=True,
        type="queue",
        brokers=broker_name,
        topic="t",
        tls={"ca_certs_data": "-----BEGIN CERTIFICATE-----\n"},
        type_spec={"auth_data": b"kept as is"},
    )
    path = Path(w.params["tls"]["ca_certs"])
    assert "ca_certs_data" not in w.params["tls"]
    assert path.read_text() == "-----BEGIN CERTIFICATE-----\n"
    assert path.stat().st_mode & 0o077 == 0
    assert w.params["type_spec"]["auth_data"] == b"kept as is"  # MQTT 5 auth data, not a file
    with w:
        pass
    assert not path.exists()


def test_binary_values_from_yaml(workdir: Path, broker_name: str) -> None:
    write_config(
        workdir / ".sinetstream_config.yml",
        f"svc:\n  type: queue\n  brokers: {broker_name}\n  topic: t\n  data_encryption: true\n"
        "  crypto:\n    algorithm: AES\n    mode: GCM\n"
        "    key: !!binary AAECAwQFBgcICQoLDA0ODw==\n",
    )
    w = MessageWriter("svc")
    assert w.params["crypto"]["key"] == bytes(range(16))


def test_check_config_file_reports_every_problem(workdir: Path) -> None:
    path = write_config(
        workdir / "c.yml",
        "header: {version: 3}\nconfig:\n"
        "  a: {type: queue, consistency: NEVER}\n"
        "  b: {type: nosuchbackend, value_type: nosuchtype}\n"
        "  c: {type: queue}\n",
    )
    problems = check_config_file(path)
    assert any("service 'a'" in p and "consistency" in p for p in problems)
    assert any("service 'b'" in p and "nosuchbackend" in p for p in problems)
    assert any("service 'b'" in p and "nosuchtype" in p for p in problems)
    assert not any("service 'c'" in p for p in problems)
    assert all(str(path) in p for p in problems)


def test_password_string_is_normalised_and_never_shown(broker_name: str) -> None:
    w = MessageWriter(
        no_config=True,
        type="queue",
        brokers=broker_name,
        topic="t",
        data_encryption=True,
        crypto={"algorithm": "AES", "mode": "GCM", "password": "hunter2-secret"},
    )
    assert w.params["crypto"]["password"] == {"value": "hunter2-secret"}
    assert "hunter2" not in repr(w)
