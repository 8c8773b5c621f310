"""`prover doctor` lines for the lean-dojo backend (without importing LeanDojo: its import runs
git and, with a token set, calls the GitHub API)."""

from __future__ import annotations

import os

from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.factory import trace_command, traced_dirname
from environments.lean.dojo.settings import TOKEN_VARIABLE, cache_dir
from prover.doctor import Check, package_version
from prover.dojo_target import LLEMMA_COMMIT, LLEMMA_REPO
from prover.processes import command_exists

ELAN_INSTALL = (
    "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh"
)


def doctor_checks() -> list[Check]:
    """LeanDojo installed, git and lake present, GitHub token, cache, Llemma's miniF2F traced."""
    settings = LeanDojoConfig()
    version = package_version("lean-dojo")
    checks = [
        Check(
            "lean-dojo",
            version is not None,
            f"lean-dojo {version}" if version else "missing",
            "pip install 'prover[lean-dojo]'",
        ),
        Check(
            "lean-dojo: git",
            command_exists(["git"]),
            "git on PATH (LeanDojo needs >= 2.25)" if command_exists(["git"]) else "no git",
            "apt-get install git",
        ),
        Check(
            "lean-dojo: lake",
            command_exists(["lake"]),
            "lake on PATH" if command_exists(["lake"]) else "no lake (LeanDojo runs lake env lean)",
            ELAN_INSTALL,
        ),
    ]
    has_token = bool(os.environ.get(TOKEN_VARIABLE))
    checks.append(
        Check(
            "lean-dojo: GitHub token",
            has_token,
            f"{TOKEN_VARIABLE} is set"
            if has_token
            else f"{TOKEN_VARIABLE} is not set: GitHub allows 60 API requests an hour without "
            "one, and LeanDojo makes several per repository",
            f"export {TOKEN_VARIABLE}=<token from https://github.com/settings/tokens>",
        )
    )
    cache = cache_dir(settings, os.environ)
    traced = sorted(p.name for p in cache.iterdir() if p.is_dir()) if cache.is_dir() else []
    traced = [name for name in traced if name != "repos"]  # LeanDojo's clones, not traces
    checks.append(
        Check(
            "lean-dojo: cache",
            True,
            f"{cache}: {len(traced)} traced repositories (CACHE_DIR or lean_dojo.cache_dir)",
        )
    )
    llemma = cache / (traced_dirname(LLEMMA_REPO, LLEMMA_COMMIT) or "")
    checks.append(
        Check(
            "lean-dojo: Llemma's miniF2F traced",
            llemma.is_dir(),
            str(llemma) if llemma.is_dir() else f"{LLEMMA_REPO} @ {LLEMMA_COMMIT[:7]} not traced",
            trace_command(LLEMMA_REPO, LLEMMA_COMMIT, cache),
        )
    )
    return checks
