"""What a run ran with: model, toolchain, dataset and code versions, stored with the run."""

from __future__ import annotations

import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.minif2f import PROJECT_ENVIRONMENTS, lean_project, project_toolchain
from prover import __version__
from prover.config import Config, project_root
from prover.protocols import Benchmark

_PACKAGES = ("torch", "transformers", "vllm", "lean-dojo", "grpcio", "ray", "networkx")


def collect(config: Config, benchmark: Benchmark, generator: object | None) -> dict[str, Any]:
    """A JSON-able record of every version that can change a result; `generator` may offer
    `describe()` (model revision, dtype, …)."""
    return {
        "model": _model(config, generator),
        "toolchain": _toolchain(config, benchmark),
        "dataset": benchmark.describe(),
        "code": _code(),
    }


def _model(config: Config, generator: object | None) -> dict[str, Any]:
    out: dict[str, Any] = {"spec": config.model}
    describe = getattr(generator, "describe", None)
    if callable(describe):
        try:
            out["backend"] = describe()
        except Exception as exc:  # a plug-in's describe() must not stop a run
            out["backend_error"] = f"{type(exc).__name__}: {exc}"
    if config.model.startswith("scripted:"):
        out["script_sha256"] = _file_sha256(config.model.partition(":")[2])
    return out


def _toolchain(config: Config, benchmark: Benchmark) -> dict[str, Any]:
    out: dict[str, Any] = {
        "environment": config.environment,
        "statements_written_for": getattr(benchmark, "toolchain", None),
    }
    if config.environment in PROJECT_ENVIRONMENTS:
        project = lean_project(config)
        out["lean_project"] = str(project)
        out["lean_toolchain"] = project_toolchain(project)
        manifest = project / "lake-manifest.json"
        if manifest.is_file():
            out["lake_manifest_sha256"] = _file_sha256(str(manifest))
    if config.environment == "isabelle":
        out["isabelle_path"] = config.section("isabelle").isabelle_path
        out["pisa_jar"] = config.section("isabelle").jar
    if config.environment == "replay":
        out["trace"] = config.section("replay").trace
        out["trace_sha256"] = _file_sha256(config.section("replay").trace)
    return out


def _code() -> dict[str, Any]:
    packages = {}
    for dist in _PACKAGES:
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return {
        "prover": __version__,
        "git_commit": git_commit(project_root()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
    }


def git_commit(root: Path) -> str | None:
    """HEAD's commit of a source checkout, read from .git without running git."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        loose = git / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                commit, _, name = line.partition(" ")
                if name == ref:
                    return commit
    except OSError:
        return None
    return None


def _file_sha256(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()
    except OSError:
        return None
