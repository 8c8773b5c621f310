"""LeanDojo's own settings, and the one place that imports LeanDojo.

LeanDojo reads CACHE_DIR, NUM_PROCS, TACTIC_CPU_LIMIT, TACTIC_MEMORY_LIMIT and GITHUB_ACCESS_TOKEN
into module constants when it is first imported (lean_dojo/constants.py, data_extraction/lean.py),
so our `[lean_dojo]` keys are exported to os.environ just before that import; afterwards they
cannot change in the same process, and asking for different values is a configuration error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from environments.lean.dojo.config import LeanDojoConfig
from prover.errors import BackendError, ConfigError, InputError, MissingDependencyError

TOKEN_VARIABLE = "GITHUB_ACCESS_TOKEN"

# LeanDojo variable → our config key (for messages)
CONFIG_KEYS: dict[str, str] = {
    "CACHE_DIR": "lean_dojo.cache_dir",
    "NUM_PROCS": "lean_dojo.num_procs",
    "TACTIC_CPU_LIMIT": "lean_dojo.tactic_cpu_limit",
    "TACTIC_MEMORY_LIMIT": "lean_dojo.tactic_memory_limit",
    TOKEN_VARIABLE: "lean_dojo.github_access_token_env",
}


def lean_dojo_environ(settings: LeanDojoConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to export for `settings`: only those the configuration sets."""
    out: dict[str, str] = {}
    if settings.cache_dir:
        out["CACHE_DIR"] = str(Path(settings.cache_dir).expanduser().absolute())
    if settings.num_procs:
        out["NUM_PROCS"] = str(settings.num_procs)
    if settings.tactic_cpu_limit:
        out["TACTIC_CPU_LIMIT"] = str(settings.tactic_cpu_limit)
    if settings.tactic_memory_limit:
        out["TACTIC_MEMORY_LIMIT"] = settings.tactic_memory_limit
    name = settings.github_access_token_env
    # The config names the variable, never the token: configs are stored with every run.
    if name and name != TOKEN_VARIABLE and environ.get(name):
        out[TOKEN_VARIABLE] = environ[name]
    return out


def token_present(settings: LeanDojoConfig, environ: Mapping[str, str]) -> bool:
    """Whether LeanDojo will talk to GitHub with a personal access token."""
    return bool(
        environ.get(TOKEN_VARIABLE) or lean_dojo_environ(settings, environ).get(TOKEN_VARIABLE)
    )


def cache_dir(settings: LeanDojoConfig, environ: Mapping[str, str]) -> Path:
    """Where LeanDojo keeps traced repositories under these settings."""
    wanted = lean_dojo_environ(settings, environ).get("CACHE_DIR") or environ.get("CACHE_DIR")
    return Path(wanted).absolute() if wanted else Path.home() / ".cache" / "lean_dojo"


def load_lean_dojo(settings: LeanDojoConfig) -> ModuleType:
    """Export `settings` and import lean_dojo; errors are one line naming the fix."""
    wanted = lean_dojo_environ(settings, os.environ)
    loaded = sys.modules.get("lean_dojo")
    if loaded is not None and hasattr(loaded, "Dojo"):
        _check_unchanged(wanted)
        return loaded
    os.environ.update(wanted)
    try:
        import lean_dojo
    except ImportError as exc:
        raise MissingDependencyError(
            f"python package 'lean_dojo' ({exc.name or exc})", "pip install 'prover[lean-dojo]'"
        ) from exc
    except Exception as exc:
        raise _import_error(exc, settings) from exc
    return lean_dojo


def _import_error(exc: Exception, settings: LeanDojoConfig) -> InputError | BackendError:
    """What a failed `import lean_dojo` means: it runs git, parses settings, may call GitHub."""
    text = str(exc).replace("\n", " ").strip()
    if isinstance(exc, (subprocess.CalledProcessError, FileNotFoundError)) or "Git version" in text:
        return MissingDependencyError(
            f"git >= 2.25 (LeanDojo runs `git --version` on import: {text or type(exc).__name__})",
            "apt-get install git",
        )
    if isinstance(exc, AssertionError):
        return ConfigError(
            f"LeanDojo rejected its settings on import ({text or 'assertion failed'}); "
            "TACTIC_MEMORY_LIMIT must look like '32g' — fix lean_dojo.tactic_memory_limit "
            "or the TACTIC_MEMORY_LIMIT variable"
        )
    if type(exc).__module__.startswith("github"):
        return InputError(
            f"GitHub rejected the token in ${settings.github_access_token_env} when LeanDojo "
            f"was imported ({type(exc).__name__}: {text}); create a new token at "
            "https://github.com/settings/tokens or unset the variable"
        )
    return BackendError(f"importing lean_dojo failed: {type(exc).__name__}: {text}")


def _check_unchanged(wanted: Mapping[str, str]) -> None:
    """LeanDojo is already imported: the settings asked for must be the ones it read."""
    constants = sys.modules["lean_dojo.constants"]
    dojo = sys.modules["lean_dojo.interaction.dojo"]
    lean = sys.modules["lean_dojo.data_extraction.lean"]
    current = {
        "CACHE_DIR": str(Path(constants.CACHE_DIR).absolute()),
        "NUM_PROCS": str(constants.NUM_PROCS),
        "TACTIC_CPU_LIMIT": str(dojo.TACTIC_CPU_LIMIT),
        "TACTIC_MEMORY_LIMIT": str(dojo.TACTIC_MEMORY_LIMIT),
        TOKEN_VARIABLE: lean.GITHUB_ACCESS_TOKEN or "",
    }
    for variable, value in wanted.items():
        if current[variable] == value:
            continue
        shown = "a different token" if variable == TOKEN_VARIABLE else f"{variable}={value}"
        had = "its token" if variable == TOKEN_VARIABLE else f"{variable}={current[variable]}"
        key = CONFIG_KEYS[variable]
        raise ConfigError(
            f"lean_dojo was already imported in this process with {had}, so {key} "
            f"({shown}) cannot take effect; set it before anything imports lean_dojo "
            f"(e.g. export {variable} in the shell)"
        )
