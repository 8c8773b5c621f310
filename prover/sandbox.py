"""The sandbox every proof-assistant process runs in: bubblewrap, or an explicit opt-out.

Proofs can run code (Lean tactic configurations, metaprograms, Isabelle's ML), so the REPL, the
judge's steps and PISA's JVM run under `bwrap` with no network, a read-only root, a private /tmp,
their own pid namespace, `$HOME` and `$PROVER_HOME` hidden, and `--die-with-parent` (a `kill -9`
of the runner takes the whole sandbox with it: bwrap's child gets PR_SET_PDEATHSIG, and when the
namespace's first process dies the kernel kills every other one). Only the paths a policy names
are writable. `kind = "none"` runs processes directly; doctor and reports show that choice.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prover.errors import ConfigError

if TYPE_CHECKING:
    from prover.config import Config
    from prover.doctor import Check

KINDS = ("bwrap", "none")


@dataclass(frozen=True)
class SandboxPolicy:
    """What one sandboxed process may see: `readable` paths stay visible (read-only) even under
    a hidden directory or /tmp; `writable` paths (its scratch directory) are bound read-write."""

    kind: str = "bwrap"
    readable: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    network: bool = False  # PISA's gRPC port needs the host's loopback
    hidden: tuple[str, ...] = ()  # hidden besides $HOME and $PROVER_HOME (the results store)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"sandbox must be 'bwrap' or 'none', not {self.kind!r}")

    def allowing(
        self,
        *,
        readable: Iterable[str] = (),
        writable: Iterable[str] = (),
        network: bool | None = None,
    ) -> SandboxPolicy:
        """This policy with more visible paths (and optionally network access)."""
        return dataclasses.replace(
            self,
            readable=(*self.readable, *readable),
            writable=(*self.writable, *writable),
            network=self.network if network is None else network,
        )


def policy_for(config: Config) -> SandboxPolicy:
    """The run's policy: `config.sandbox`, hiding the results store the run writes to."""
    return SandboxPolicy(kind=config.sandbox, hidden=(config.store.home,))


def hidden_paths(policy: SandboxPolicy) -> tuple[str, ...]:
    """Directories a sandboxed process must not see: the user's home and the results store."""
    found: list[str] = []
    candidates = (os.environ.get("HOME", ""), os.environ.get("PROVER_HOME", ""), *policy.hidden)
    for raw in candidates:
        if raw and Path(raw).expanduser().is_dir():
            resolved = str(Path(raw).expanduser().resolve())
            if resolved != "/" and resolved not in found:
                found.append(resolved)
    return tuple(found)


def wrap(argv: Sequence[str], policy: SandboxPolicy, cwd: str | None = None) -> tuple[str, ...]:
    """`argv` as run under `policy` (unchanged for kind 'none')."""
    if policy.kind == "none":
        return tuple(argv)
    executable = require_bwrap()
    out = [
        executable,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
    ]  # fmt: skip
    if not policy.network:
        out.append("--unshare-net")
    for path in hidden_paths(policy):
        out += ["--tmpfs", path]
    # Later mounts sit on top of earlier ones: what the process needs is re-exposed after hiding.
    visible = [*policy.readable, *extra_readable()]
    if cwd:
        visible.append(cwd)
    if argv and os.path.isabs(argv[0]):
        visible.append(str(Path(argv[0]).resolve().parent))
    for path in _existing(visible):
        if path not in policy.writable:
            out += ["--ro-bind", path, path]
    for path in _existing(policy.writable):
        out += ["--bind", path, path]
    if cwd:
        out += ["--chdir", cwd]
    return (*out, "--", *argv)


READABLE_VARIABLE = "PROVER_SANDBOX_READABLE"


def extra_readable() -> list[str]:
    """Paths every sandboxed process may read besides its own, from $PROVER_SANDBOX_READABLE
    (os.pathsep-separated): for a toolchain or interpreter installed under $HOME or /tmp."""
    return [p for p in os.environ.get(READABLE_VARIABLE, "").split(os.pathsep) if p]


def _existing(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in paths:
        path = str(Path(raw).resolve())
        if Path(path).exists() and path not in out:
            out.append(path)
    return out


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap runs here, else why not (one line)."""
    executable = shutil.which("bwrap")
    if executable is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        done = subprocess.run(
            [executable, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
             "--unshare-pid", "--unshare-net", "--die-with-parent", "true"],
            capture_output=True,
            timeout=20,
            check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({exc})"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap fails here ({detail[-1] if detail else f'exit {done.returncode}'})"
    return None


def require_bwrap() -> str:
    """The bwrap executable, or a ConfigError naming the fix."""
    problem = bwrap_problem()
    if problem is not None:
        raise ConfigError(
            f"sandbox 'bwrap' cannot run: {problem}; install it (Debian: apt-get install "
            'bubblewrap) or set sandbox = "none" to run proofs unsandboxed'
        )
    return shutil.which("bwrap") or "bwrap"


def doctor_check(kind: str) -> Check:
    """The `prover doctor` line for the configured sandbox (an opt-out shows as not ok)."""
    from prover.doctor import Check

    if kind == "none":
        return Check(
            "sandbox",
            False,
            describe(kind),
            'remove sandbox = "none" (the default, "bwrap", confines every proof process)',
        )
    problem = bwrap_problem()
    fix = 'apt-get install bubblewrap (or set sandbox = "none" to run proofs unsandboxed)'
    return Check("sandbox", problem is None, describe(kind), fix, required=True)


def describe(kind: str) -> str:
    """One line for doctor and reports."""
    if kind == "none":
        return 'none (proof-assistant processes run unsandboxed: sandbox = "none")'
    problem = bwrap_problem()
    return "bwrap" if problem is None else f"bwrap requested but unusable: {problem}"
