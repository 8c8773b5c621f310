"""Exceptions that carry a one-line message naming the problem and the fix."""

from __future__ import annotations


class ProverError(Exception):
    """Base class; `str(err)` is a single line meant for the user."""


class InputError(ProverError):
    """Bad input or configuration: the CLI exits with code 2."""


class ConfigError(InputError):
    """A configuration file, key or value is wrong."""


class UnknownNameError(InputError):
    """A plug-in name that no installed distribution registers."""


class MissingDependencyError(InputError):
    """A backend needs an optional dependency or external tool that is not installed."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what} is not available; fix: {fix}")
        self.what = what
        self.fix = fix


class BackendError(ProverError):
    """A backend failed in a way that ends the attempt (recorded as status `error`)."""


def require(module: str, extra: str) -> object:
    """Import `module` or raise a one-line error naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"python package '{module}' ({exc.name or module})",
            f"pip install 'prover[{extra}]'",
        ) from exc
