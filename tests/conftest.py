"""Shared fixtures and the opt-in markers for tests that need real tools (Lean, Isabelle, a GPU)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Tests never touch the user's results store or data cache.
os.environ["PROVER_HOME"] = tempfile.mkdtemp(prefix="prover-tests-home-")
# Stand-in proof processes are Python scripts of this checkout run by this venv's interpreter;
# inside the sandbox they must see both wherever the checkout lives (under $HOME or /tmp too).
os.environ["PROVER_SANDBOX_READABLE"] = os.pathsep.join(
    dict.fromkeys((str(REPO), sys.prefix, sys.base_prefix, sys.exec_prefix))
)


def _hypothesis_outside_the_checkout() -> None:
    """Hypothesis caches in ./.hypothesis by default; tests write nothing into the checkout."""
    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:  # not installed: the fuzz test fails on its own import
        return
    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="prover-tests-hypothesis-"))


_hypothesis_outside_the_checkout()
# Everything tests read is in the checkout: the package's data (miniF2F, Llemma's runs) and the
# fixtures under tests/fixtures/ (provenance and licences beside each copy).
PACKAGE_DATA = REPO / "benchmarks" / "data"
FIXTURES = REPO / "tests" / "fixtures"
REPL_TRANSCRIPTS = FIXTURES / "lean-repl" / "v4.24.0"


def _lean_ready() -> str | None:
    from environments.lean import toolchain

    if toolchain.find_tool("lake") is None:
        return "no `lake` on PATH or in ~/.elan/bin (run `prover setup lean`)"
    project = REPO / "lake-project"
    if not toolchain.repl_binary(project).is_file():
        return "the REPL in lake-project is not built (run `prover setup lean`)"
    if not toolchain.mathlib_olean(project).is_file():
        return "Mathlib in lake-project is not built (run `prover setup lean`)"
    return None


def _isabelle_ready() -> str | None:
    if not os.environ.get("PISA_JAR") or not os.environ.get("ISABELLE_PATH"):
        return "PISA_JAR and ISABELLE_PATH are not set (see README: Isabelle setup)"
    if shutil.which("java") is None:
        return "no `java` on PATH"
    return None


def _gpu_ready() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm is not installed (pip install 'prover[vllm]')"
    return None


_TOOLS = {"lean": _lean_ready, "isabelle": _isabelle_ready, "gpu": _gpu_ready}


def pytest_addoption(parser: pytest.Parser) -> None:
    for tool in _TOOLS:
        parser.addoption(
            f"--run-{tool}",
            action="store_true",
            help=f"run tests marked {tool} even if the tool was not detected",
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {tool: check() for tool, check in _TOOLS.items()}
    for item in items:
        for tool, reason in reasons.items():
            if tool in item.keywords and reason and not config.getoption(f"--run-{tool}"):
                item.add_marker(pytest.mark.skip(reason=f"needs {tool}: {reason}"))


@pytest.fixture(scope="session")
def package_data() -> Path:
    """The package's own data directory: minif2f/ and llemma_formal2formal/ (never written)."""
    return PACKAGE_DATA


@pytest.fixture(scope="session")
def repl_transcripts() -> Path:
    """The Lean REPL's test transcripts at v4.24.0 (X.in sent, X.expected.out answered)."""
    return REPL_TRANSCRIPTS
