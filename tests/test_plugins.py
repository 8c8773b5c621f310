"""Registry, configuration, and a third-party strategy installed through an entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prover import registry
from prover.config import Config, load_config, parse_assignment
from prover.errors import ConfigError, InputError, UnknownNameError
from prover.types import ProofState

PLUGIN_DIST = "prover-test-greedy-plugin"

PLUGIN_CODE = '''
"""A third-party strategy: try the single best candidate at each state, depth-first."""

from prover.prompts import template
from prover.types import Failed, Finished, SearchResult, SearchStats, Status


class Greedy:
    name = "greedy"

    async def search(self, theorem, session, generator, budget):
        state, steps, prompt = session.initial_state, [], template("llemma")
        for _ in range(budget.max_expansions):
            cands = await generator.generate(prompt.render(state, theorem), budget.samples)
            for cand in sorted(cands, key=lambda c: c.logprob, reverse=True):
                result = await session.run_tactic(state, cand.text)
                if isinstance(result, Failed):
                    continue
                steps.append(cand.text)
                if isinstance(result, Finished):
                    verdict = await session.verify(session.assemble(steps))
                    return SearchResult(theorem.name, Status.PROVED, session.assemble(steps),
                                        tuple(steps), verdict.verified, verdict.checked_by,
                                        SearchStats(stop_reason="greedy"))
                state = result.state
                break
            else:
                break
        return SearchResult(theorem.name, Status.FAILED, stats=SearchStats(stop_reason="greedy"))


def create(config):
    return Greedy()
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "greedy_plugin.py").write_text(PLUGIN_CODE)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{PLUGIN_DIST}"
            version = "0.0.1"

            [tool.setuptools]
            py-modules = ["greedy_plugin"]

            [project.entry-points."prover.strategies"]
            greedy = "greedy_plugin:create"
            """
        )
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", str(root)],
        check=True,
        timeout=300,
    )
    yield PLUGIN_DIST
    subprocess.run([*pip, "uninstall", "-y", PLUGIN_DIST], check=True, timeout=120)


def _prover(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("prover")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_third_party_strategy_is_listed_and_runs(installed_plugin, package_data, tmp_path):
    listed = _prover("list", "--json")
    assert listed.returncode == 0, listed.stderr
    strategies = {s["name"]: s["distribution"] for s in json.loads(listed.stdout)["strategies"]}
    assert strategies["greedy"] == installed_plugin
    assert strategies["best-first"] == "prover"

    trace, script = tmp_path / "t.jsonl", tmp_path / "s.json"
    made = _prover(
        "trace",
        "llemma",
        str(package_data / "llemma_formal2formal"),
        "--out",
        str(trace),
        "--script",
        str(script),
        "--theorems",
        "mathd_algebra_478",
    )
    assert made.returncode == 0, made.stderr
    proved = _prover(
        "prove",
        "theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) "
        "(h₁ : v = 1 / 3 * (b * h)) (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by sorry",
        "--env",
        "replay",
        "--trace",
        str(trace),
        "--model",
        f"scripted:{script}",
        "--strategy",
        "greedy",
        "--json",
    )
    out = json.loads(proved.stdout)
    assert proved.returncode == 0, proved.stderr
    assert out["status"] == "proved" and out["stats"]["stop_reason"] == "greedy"


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'best-first'"):
        registry.entry("strategy", "bestfirst")
    with pytest.raises(UnknownNameError, match=r"installed: .*replay"):
        registry.entry("environment", "zzz")


def test_registry_loads_lazily_and_names_distribution():
    entry = registry.entry("environment", "replay")
    assert entry.distribution == "prover"
    assert entry.value == "environments.replay:create"
    assert callable(entry.load())


def test_config_file_then_overrides(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text(
        'environment = "replay"\nmodel = "hf:./m"\n[search]\nsamples = 4\nscore = "sum"\n'
        '[lean]\nrepl_command = ["python", "fake.py"]\n'
    )
    config = load_config(f, {"search.samples": 8, "lean.tactic_timeout": "12.5"})
    assert config.environment == "replay"
    assert config.search.samples == 8  # the flag wins over the file
    assert config.search.score == "sum"
    assert config.section("lean").repl_command == ("python", "fake.py")
    assert config.section("lean").tactic_timeout == 12.5
    assert config.to_dict()["search"]["samples"] == 8
    assert load_config().environment == Config().environment


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"serch.samples": 1}, "unknown config key 'serch'"),
        ({"search.samples": True}, "expects int"),
        ({"search.score": "max"}, "score must be"),
        ({"search": 3}, "must be a table"),
        ({"lean.repl_command": 5}, "expects tuple"),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_set_assignment_parses_toml_values():
    assert parse_assignment("search.samples=3") == ("search.samples", 3)
    assert parse_assignment("lean.ports=[1, 2]") == ("lean.ports", [1, 2])
    assert parse_assignment("model=hf:./x") == ("model", "hf:./x")
    with pytest.raises(ConfigError):
        parse_assignment("novalue")


TOY_DIST = "prover-toy"
TOY_SOURCE = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def toy_plugin(tmp_path_factory):
    """tests/plugins installed into the test venv (from a copy: a build writes beside it)."""
    import shutil

    root = tmp_path_factory.mktemp("toy") / "plugins"
    shutil.copytree(TOY_SOURCE, root, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", str(root)],
        check=True,
        timeout=300,
    )
    import importlib

    importlib.invalidate_caches()
    yield TOY_DIST
    subprocess.run([*pip, "uninstall", "-y", TOY_DIST], check=True, timeout=120)


def _toy_script(tmp_path: Path) -> Path:
    """Candidates keyed on text only the toy prompt holds, so another template gets none."""
    rows = [
        {"text": "add 7", "logprob": -0.1},
        {"text": "add 4", "logprob": -0.5},
        {"text": "add 3", "logprob": -0.6},
    ]
    script = tmp_path / "toy.json"
    script.write_text(json.dumps({"states": {"Reach the target with": rows}, "default": []}))
    return script


def _prove_toy(script: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _prover(
        "prove",
        "theorem reach_ten : 3 ~> 10",
        "--env",
        "toy",
        "--model",
        f"scripted:{script}",
        "--prompt",
        "toy",
        "--json",
        *extra,
    )


def test_toy_plugin_proves_with_its_own_setting(toy_plugin, tmp_path):
    script = _toy_script(tmp_path)
    default = _prove_toy(script)
    assert default.returncode == 0, default.stderr
    out = json.loads(default.stdout)
    assert (out["status"], out["verified"], out["verified_by"]) == ("proved", True, "toy")
    assert out["proof"] == "add 7"  # toy.max_step defaults to 10

    limited = _prove_toy(script, "--set", "toy.max_step=5")
    assert limited.returncode == 0, limited.stderr
    out = json.loads(limited.stdout)
    assert (out["status"], out["verified_by"]) == ("proved", "toy")
    assert out["proof"] == "add 4\nadd 3"  # `add 7` refused: the setting reached the plug-in

    too_small = _prove_toy(script, "--set", "toy.max_step=2")
    assert too_small.returncode == 1, too_small.stderr
    assert json.loads(too_small.stdout)["status"] == "failed"


def test_toy_language_shapes_the_statement_before_the_environment_starts(toy_plugin, tmp_path):
    """`--env toy` takes its language from the plug-in: the statement reaches the environment as
    written (a Lean `:= by` or Mathlib header would make the toy environment refuse it), a
    malformed one is refused by the language's own check, a mismatch by the language data."""
    script = _toy_script(tmp_path)
    explicit = _prove_toy(script, "--language", "toy")
    assert explicit.returncode == 0, explicit.stderr
    assert json.loads(explicit.stdout)["status"] == "proved"

    bad = _prover(
        "prove", "theorem t : 3 ~>", "--env", "toy", "--model", f"scripted:{script}", "--json"
    )
    assert bad.returncode == 2
    assert "not a toy statement: 'theorem t : 3 ~>'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    lean = _prove_toy(script, "--language", "lean4")
    assert lean.returncode == 2
    assert "the theorem is lean4 but --env toy proves toy; use e.g. --env lean-repl" in lean.stderr

    unknown = _prove_toy(script, "--language", "tooy")
    assert unknown.returncode == 2
    assert "unknown language 'tooy' — did you mean 'toy'?" in unknown.stderr


def test_toy_language_is_data_the_core_reads(toy_plugin):
    from prover.language import check_language, language, language_of
    from prover.statements import theorem_from_statement

    spec = language("toy")
    assert language_of("toy") is spec
    assert language_of("lean-repl").name == "lean4"
    theorem = theorem_from_statement("theorem t : 1 ~> 2", language="toy")
    assert (theorem.statement, theorem.header, theorem.language) == (
        "theorem t : 1 ~> 2",
        "",
        "toy",
    )
    lean = theorem_from_statement("theorem t : 1 = 1", language="lean4")
    assert lean.statement == "theorem t : 1 = 1 := by"
    with pytest.raises(Exception, match="proves toy"):
        check_language("isabelle", "toy")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("toy.max_stepp=5", "unknown config key 'toy.max_stepp' (did you mean 'toy.max_step'?)"),
        ("toy.max_step=five", "config key 'toy.max_step' expects int, got 'five'"),
        ("toy.max_step=0", "invalid configuration in [toy]: toy.max_step must be at least 1"),
    ],
)
def test_toy_plugin_settings_errors_are_one_line(toy_plugin, tmp_path, assignment, message):
    done = _prove_toy(_toy_script(tmp_path), "--set", assignment)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_toy_plugin_section_and_prompt_load_in_process(toy_plugin):
    from prover.prompts import template

    config = load_config(None, {"toy.max_step": 4})
    assert type(config.section("toy")).__name__ == "ToySettings"
    assert config.to_dict()["toy"] == {"max_step": 4}
    assert template("toy").render(ProofState(("⊢ 1 ~> 2",)), None).endswith("⊢ 1 ~> 2\nTactic:")
    with pytest.raises(UnknownNameError, match=r"unknown prompt template 'tooy' \(known: .*toy"):
        template("tooy")


def test_record_wraps_the_environment_through_the_registry(tmp_path):
    """`--record` (core reaches the trace writer by its entry point) writes a replayable trace."""
    trace, script, recorded = tmp_path / "t.jsonl", tmp_path / "s.json", tmp_path / "rec.jsonl"
    rows = [
        {
            "type": "open",
            "theorem": "t",
            "statement": "theorem t : True := by",
            "goals": ["⊢ True"],
        },
        {"type": "tactic", "theorem": "t", "goals": "⊢ True", "tactic": "trivial"}
        | {"result": {"kind": "finished"}},
    ]
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    script.write_text(json.dumps({"default": [{"text": "trivial", "logprob": -0.1}]}))
    args = ["theorem t : True := by", "--env", "replay", "--model", f"scripted:{script}"]
    done = _prover("prove", *args, "--trace", str(trace), "--record", str(recorded), "--json")
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in recorded.read_text().splitlines()]
    assert [r["type"] for r in written] == ["open", "tactic"]
    assert written[1]["tactic"] == "trivial" and written[1]["result"] == {"kind": "finished"}
    again = _prover("prove", *args, "--trace", str(recorded), "--json")  # the recording replays
    assert again.returncode == 0 and json.loads(again.stdout)["proof"] == "trivial"


def test_a_broken_language_plug_in_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from prover.language import language

    broken = registry.Entry("language", "broken", "no_such_module_xyz:SPEC", "prover-broken")
    real = registry.entry
    monkeypatch.setattr(
        registry, "entry", lambda kind, name: broken if name == "broken" else real(kind, name)
    )
    with pytest.raises(
        InputError,
        match=r"language plug-in 'broken' \(prover-broken: "
        r"no_such_module_xyz:SPEC\) failed to load: ModuleNotFoundError",
    ):
        language("broken")
