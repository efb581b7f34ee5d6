"""Plugins that state the SPI they were built for: loaded when the core provides it, refused
with both versions named when it does not; plugins that state nothing load as before."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sinetstream
from sinetstream import MessageWriter, UnsupportedServiceTypeError, _registry
from sinetstream._version import SPI_VERSION

MAJOR, MINOR = (int(n) for n in SPI_VERSION.split("."))

# A writer plugin in the v1.2 guide's shape; {declaration} is put at module level or
# in the class, and {imports} may ask for an SPI name this core does not have.
PLUGIN = """
{imports}
from sinetstream.spi import PluginMessageWriter

{module_declaration}

written = []


class Writer(PluginMessageWriter):
    {class_declaration}

    def __init__(self, params):
        self._topic = params["topic"]

    def open(self):
        pass

    def close(self):
        pass

    def publish(self, value):
        written.append((self._topic, value))
"""

Install = Callable[..., str]


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install_plugin(name, ...)`` puts a plugin distribution on sys.path; returns its type."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(
        name: str,
        *,
        module_declaration: str = "",
        class_declaration: str = "",
        imports: str = "",
        requires_core: str = ">=1.0,<2",
    ) -> str:
        module = f"spi_{name}_{uuid.uuid4().hex[:8]}"  # a fresh module for every test
        (site / f"{module}.py").write_text(
            PLUGIN.format(
                imports=imports,
                module_declaration=module_declaration,
                class_declaration=class_declaration or "pass",
            )
        )
        info = site / f"sinetstream_{name}-2.0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\n"
            f"Name: sinetstream-{name}\n"
            "Version: 2.0.0\n"
            f"Requires-Dist: sinetstream-core{requires_core}\n"
        )
        (info / "entry_points.txt").write_text(
            textwrap.dedent(f"""\
            [sinetstream.writer]
            {name} = {module}:Writer
            """)
        )
        _registry._registries.clear()
        return name

    yield install
    _registry._registries.clear()


def _publish(service_type: str) -> None:
    with MessageWriter(None, "t", no_config=True, type=service_type) as writer:
        writer.publish(b"x")


def test_the_core_provides_an_spi_no_newer_than_itself() -> None:
    """Core X.Y is the first to provide SPI X.Y: the SPI never runs ahead of the core."""
    core_major, core_minor = (int(n) for n in sinetstream.__version__.split(".")[:2])
    assert core_major == MAJOR
    assert core_minor >= MINOR


@pytest.mark.parametrize(
    "declaration",
    [
        {},
        {"module_declaration": f'SPI_VERSION_REQUIRED = "{MAJOR}.0"'},
        {"module_declaration": f'SPI_VERSION_REQUIRED = "{SPI_VERSION}"'},
        {"class_declaration": f'SPI_VERSION_REQUIRED = "{SPI_VERSION}"'},
    ],
    ids=["nothing", "older-minor", "same-module", "same-class"],
)
def test_plugin_for_this_spi_or_older_loads(
    install_plugin: Install, declaration: dict[str, str]
) -> None:
    _publish(install_plugin("fits", **declaration))


@pytest.mark.parametrize(
    ("declaration", "wanted"),
    [
        (
            {"module_declaration": f'SPI_VERSION_REQUIRED = "{MAJOR}.{MINOR + 1}"'},
            f"{MAJOR}.{MINOR + 1}",
        ),
        ({"class_declaration": f'SPI_VERSION_REQUIRED = "{MAJOR + 1}.0"'}, f"{MAJOR + 1}.0"),
    ],
    ids=["newer-minor-in-module", "newer-major-in-class"],
)
def test_plugin_for_a_newer_spi_is_refused_naming_both_versions(
    install_plugin: Install, declaration: dict[str, str], wanted: str
) -> None:
    with pytest.raises(UnsupportedServiceTypeError) as info:
        _publish(install_plugin("ahead", **declaration))
    text = str(info.value)
    assert f"needs plugin SPI {wanted}" in text
    assert f"sinetstream-core {sinetstream.__version__} provides SPI {SPI_VERSION}" in text
    assert "distribution sinetstream-ahead" in text
    assert f"install sinetstream-core>={wanted}" in text


def test_plugin_for_an_older_spi_major_is_refused(
    install_plugin: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_registry, "SPI_VERSION", f"{MAJOR + 1}.0")
    monkeypatch.setattr(_registry, "__version__", f"{MAJOR + 1}.0.0")
    declaration = f'SPI_VERSION_REQUIRED = "{SPI_VERSION}"'
    with pytest.raises(UnsupportedServiceTypeError) as info:
        _publish(install_plugin("behind", module_declaration=declaration))
    assert f"provides SPI {MAJOR + 1}.0: install a release of the plugin built for SPI" in str(
        info.value
    )


def test_malformed_declaration_names_the_plugin(install_plugin: Install) -> None:
    with pytest.raises(UnsupportedServiceTypeError) as info:
        _publish(install_plugin("odd", module_declaration="SPI_VERSION_REQUIRED = 1.1"))
    assert "sinetstream-odd" in str(info.value)
    assert '"major.minor" string, not 1.1' in str(info.value)


def test_plugin_importing_spi_names_this_core_lacks_names_both_versions(
    install_plugin: Install,
) -> None:
    wanted = f"{MAJOR}.{MINOR + 1}"
    name = install_plugin(
        "newer",
        imports="from sinetstream.spi import api_of_a_future_core",
        module_declaration=f'SPI_VERSION_REQUIRED = "{wanted}"',
        requires_core=f">={wanted},<{MAJOR + 1}",
    )
    with pytest.raises(UnsupportedServiceTypeError) as info:
        _publish(name)
    text = str(info.value)
    assert f"sinetstream-newer 2.0.0 requires sinetstream-core>={wanted}" in text
    assert f"sinetstream-core {sinetstream.__version__} (plugin SPI {SPI_VERSION})" in text


def test_import_failure_of_a_plugin_for_this_core_still_shows_the_cause(
    install_plugin: Install,
) -> None:
    name = install_plugin("typo", imports="from sinetstream.spi import no_such_name")
    with pytest.raises(UnsupportedServiceTypeError, match="failed to load: ImportError"):
        _publish(name)


def test_registered_class_declaring_a_newer_spi_is_refused() -> None:
    from sinetstream.spi import PluginMessageWriter

    class Ahead(PluginMessageWriter):
        SPI_VERSION_REQUIRED = f"{MAJOR}.{MINOR + 1}"

        def __init__(self, params: dict[str, object]) -> None:
            pass

        def open(self) -> None:
            pass

        def close(self) -> None:
            pass

        def publish(self, value: bytes) -> None:
            pass

    reg = _registry.registry("writer")
    reg.register("ahead-registered", Ahead)
    try:
        with pytest.raises(UnsupportedServiceTypeError, match=r"registered in sinetstream\.writer"):
            _publish("ahead-registered")
    finally:
        reg.unregister("ahead-registered")
