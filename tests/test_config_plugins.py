"""Plug-in settings sections: declared through the `prover.settings` entry-point group, read and
checked by the same loader as the built-in sections."""

from __future__ import annotations

import pytest

from prover.config import Config, load_config, parse_assignment
from prover.errors import ConfigError

SETTINGS_CODE = """
from dataclasses import dataclass


@dataclass(frozen=True)
class ArithSettings:
    depth: int = 1
    mode: str = "fast"
    scale: float = 1.0
    tags: tuple[str, ...] = ()

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError("arith.depth must be at least 1")


NOT_A_DATACLASS = 3
"""


def _site(tmp_path, entry_points: dict[str, str]):
    """A directory that looks like site-packages holding one installed distribution."""
    (tmp_path / "arith_settings.py").write_text(SETTINGS_CODE)
    info = tmp_path / "arith_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arith-plugin\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[prover.settings]\n{lines}\n")
    return tmp_path


@pytest.fixture
def arith(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(_site(tmp_path, {"arith": "arith_settings:ArithSettings"})))


def test_plugin_section_from_set_and_toml(arith, tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[arith]\nmode = "slow"\ntags = ["a", "b"]\n')
    config = load_config(f, dict([parse_assignment("arith.depth=3")]))
    section = config.section("arith")
    assert (section.depth, section.mode, section.tags) == (3, "slow", ("a", "b"))
    assert type(section).__name__ == "ArithSettings"
    assert config.section("search") is config.search  # built-in sections read the same way


def test_plugin_section_defaults_are_built_and_stored(arith):
    config = load_config(None, {"arith.scale": "2.5"})
    stored = config.to_dict()
    assert stored["arith"] == {"depth": 1, "mode": "fast", "scale": 2.5, "tags": []}
    assert "plugins" not in stored and "options" not in stored
    assert load_config(None, stored) == config  # what is stored loads back to the same config
    assert load_config().section("arith").depth == 1  # installed: built even when not named
    assert Config().section("arith").depth == 1  # a Config made in code: the defaults


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"arith.deepth": 2}, r"unknown config key 'arith\.deepth' \(did you mean 'arith\.depth'"),
        ({"arith.depth": "two"}, r"config key 'arith\.depth' expects int, got 'two'"),
        ({"arith.depth": 0}, r"invalid configuration in \[arith\]: arith\.depth must be"),
        ({"arith": 3}, r"config key 'arith' must be a table"),
        ({"arth.depth": 2}, r"unknown config key 'arth' \(did you mean 'arith'"),
        ({"plugins": {"arith": {}}}, r"unknown config key 'plugins'"),
        ({"plugin": {}}, r"unknown config key 'plugin' \(no installed plug-in declares"),
    ],
)
def test_plugin_section_errors_match_builtin_ones(arith, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_section_not_installed_says_so():
    with pytest.raises(ConfigError, match=r"no installed plug-in declares a \[zzzq\] section"):
        load_config(None, {"zzzq.depth": 2})
    with pytest.raises(ConfigError, match=r"no config section 'zzzq' \(sections: search, "):
        Config().section("zzzq")


def test_earlier_runs_empty_options_table_still_loads():
    assert load_config(None, {"options": {}}) == load_config()
    with pytest.raises(ConfigError, match="unknown config key 'options'"):
        load_config(None, {"options": {"x": 1}})


@pytest.mark.parametrize(
    ("entry_points", "message"),
    [
        ({"arith": "arith_settings:NOT_A_DATACLASS"}, "must point at a dataclass"),
        ({"arith": "arith_settings:Missing"}, r"failed to load \(AttributeError"),
        ({"search": "arith_settings:ArithSettings"}, "reuses a built-in config key"),
    ],
)
def test_broken_settings_plugin_is_named(tmp_path, monkeypatch, entry_points, message):
    monkeypatch.syspath_prepend(str(_site(tmp_path, entry_points)))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(None, {"search.samples": 2} if "search" in entry_points else {})
    assert "arith-plugin" in str(info.value)  # the distribution to fix or uninstall


def test_config_has_no_free_form_options():
    assert "options" not in Config.__dataclass_fields__


def test_proof_assistants_own_their_sections_as_plug_ins() -> None:
    """`[lean]`, `[isabelle]`, `[lean_dojo]`, `[replay]` and `[sim]` are registered settings
    plug-ins of this distribution, not fields of the core's Config, and are set like any other."""
    import dataclasses

    from prover import registry
    from prover.config import Config, load_config

    core = {f.name for f in dataclasses.fields(Config)}
    for name in ("lean", "isabelle", "lean_dojo", "replay", "sim"):
        assert name not in core
        assert registry.entry("settings", name).distribution == "prover"
    config = load_config(None, {"lean.pool_size": 3, "isabelle.ports": [8001, 8002]})
    assert config.section("lean").pool_size == 3
    assert config.section("isabelle").ports == (8001, 8002)
    assert config.to_dict()["lean"]["pool_size"] == 3
