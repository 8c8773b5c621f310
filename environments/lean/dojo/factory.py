"""Building real `lean_dojo.Dojo` objects, with LeanDojo's failure modes turned into fixes.

A factory is any callable `DojoTarget -> un-entered Dojo`; it runs in a worker thread and may
block (LeanDojo resolves repositories through the GitHub API). Tests inject their own.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.process import CWD_LOCK
from environments.lean.dojo.settings import load_lean_dojo, token_present
from environments.lean.dojo.target import DojoTarget
from prover.errors import BackendError, InputError, ProverError

DojoFactory = Callable[[DojoTarget], Any]

# As lean_dojo.data_extraction.lean names cache directories: "<user>-<repo>-<commit>".
_GITHUB = re.compile(r"https://github\.com/(?P<user>[^/]+)/(?P<repo>[^/]+?)/?")
_COMMIT = re.compile(r"[0-9a-f]{40}")


class LeanDojoFactory:
    """Makes `lean_dojo.Dojo(Theorem(LeanGitRepo(url, commit), file_path, full_name))`.

    Each repository is resolved once per environment: `LeanGitRepo(...)` makes GitHub API and
    raw-file requests every time, and unauthenticated GitHub allows 60 requests an hour.
    """

    def __init__(self, settings: LeanDojoConfig) -> None:
        self._settings = settings
        self._repos: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, target: DojoTarget) -> Any:
        lean_dojo = load_lean_dojo(self._settings)
        cache = Path(lean_dojo.constants.CACHE_DIR)
        if not self._settings.allow_trace:
            # Decidable offline for a GitHub URL at a full commit: say so before any request.
            name = traced_dirname(target.url, target.commit)
            if name is not None and not (cache / name).exists():
                raise InputError(untraced_message(target, target.commit, cache))
        repo = self._repo(lean_dojo, target)
        if not self._settings.allow_trace:
            require_traced(repo, target, cache)
        theorem = lean_dojo.Theorem(repo, target.file_path, target.full_name)
        return lean_dojo.Dojo(theorem, timeout=self._settings.timeout)

    def _repo(self, lean_dojo: Any, target: DojoTarget) -> Any:
        key = (target.url, target.commit)
        with self._lock:
            repo = self._repos.get(key)
        if repo is not None:
            return repo
        try:
            with CWD_LOCK:  # local repositories are probed with chdir + `git rev-parse`
                repo = lean_dojo.LeanGitRepo(target.url, target.commit)
        except Exception as exc:
            raise repo_error(exc, target, token_present(self._settings, os.environ)) from exc
        with self._lock:
            self._repos[key] = repo
        return repo


def traced_dirname(url: str, commit: str) -> str | None:
    """LeanDojo's cache directory for a GitHub repository at a full commit hash, else None."""
    match = _GITHUB.fullmatch(url)
    if match is None or _COMMIT.fullmatch(commit) is None:
        return None
    return f"{match['user']}-{match['repo']}-{commit}"


def trace_command(url: str, commit: str, cache: Path) -> str:
    """The shell command that traces a repository into `cache` ahead of time."""
    return (
        f'CACHE_DIR={cache} python -c "from lean_dojo import LeanGitRepo, trace; '
        f"trace(LeanGitRepo('{url}', '{commit}'))\""
    )


def untraced_message(target: DojoTarget, commit: str, cache: Path) -> str:
    """One line: the repository is not traced, what tracing costs, how to do it ahead of time."""
    return (
        f"{target.url} @ {commit[:7]} is not traced in {cache}; LeanDojo would trace it now "
        "(clone, `lake build`, data extraction: about an hour and >= 32 GB RAM for a "
        "Mathlib-sized repository); trace it ahead of time with "
        f"`{trace_command(target.url, commit, cache)}` (it also fetches LeanDojo's remote cache "
        "when that has the repository), or set lean_dojo.allow_trace = true"
    )


def require_traced(repo: Any, target: DojoTarget, cache: Path) -> None:
    """Raise an actionable InputError unless `repo` is traced in LeanDojo's cache directory."""
    if not (cache / repo.get_cache_dirname()).exists():
        raise InputError(untraced_message(target, repo.commit, cache))


def repo_error(exc: Exception, target: DojoTarget, has_token: bool) -> ProverError:
    """What a failure of `LeanGitRepo(url, commit)` means, as a one-line error with the fix."""
    kind = type(exc).__name__
    text = " ".join(str(exc).split())
    where = f"{target.url} @ {target.commit[:12]}"
    if "RateLimit" in kind or "rate limit" in text.lower():
        if has_token:
            return InputError(
                f"GitHub API rate limit reached while LeanDojo resolved {where}, even with a "
                "token; wait for the limit to reset (GitHub allows 5000 requests an hour)"
            )
        return InputError(
            f"GitHub API rate limit reached while LeanDojo resolved {where} (no token: 60 "
            "requests an hour); export GITHUB_ACCESS_TOKEN=<token from "
            "https://github.com/settings/tokens, no scopes needed> or name another variable "
            "in lean_dojo.github_access_token_env"
        )
    if "BadCredentials" in kind:
        return InputError(
            f"GitHub rejected the access token while LeanDojo resolved {where}; create a new "
            "token at https://github.com/settings/tokens"
        )
    if "UnknownObject" in kind or isinstance(exc, (ValueError, AssertionError)):
        return InputError(
            f"LeanDojo cannot resolve {where} ({kind}: {text}); check the url and commit in "
            "metadata['lean_dojo']"
        )
    if isinstance(exc, OSError) or "Connection" in kind or "Timeout" in kind:
        return BackendError(
            f"network error while LeanDojo resolved {where} ({kind}: {text}); LeanDojo queries "
            "GitHub for a GitHub repository even when it is traced, and its remote cache for any "
            "repository not traced locally (export DISABLE_REMOTE_CACHE=1 to skip the latter)"
        )
    return BackendError(f"LeanDojo could not resolve {where}: {kind}: {text}")
