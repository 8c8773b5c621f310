"""The one typed configuration object: TOML file, then `--set key=value` and flags on top.

Each backend owns one section (a frozen dataclass below). Unknown keys and wrong types are errors
that name the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import ConfigError
from prover.types import Budget

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


DEFAULT_LEAN_HEADER = (
    "import Mathlib\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"
)


def _default_home() -> str:
    return os.environ.get("PROVER_HOME") or str(Path.home() / ".cache" / "prover")


@dataclass(frozen=True)
class SearchConfig:
    """Budgets and scoring for proof search."""

    samples: int = 32
    max_expansions: int = 100
    max_tactics: int = 3200
    wall_seconds: float = 600.0
    score: str = "mean"  # "mean" token log-prob (Llemma) or "sum" (cumulative)
    prompt: str = "llemma"
    closers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.budget()  # validates the limits early, so a bad value is a config error
        if self.score not in ("mean", "sum"):
            raise ValueError(f"score must be 'mean' or 'sum', not {self.score!r}")

    def budget(self) -> Budget:
        return Budget(
            samples=self.samples,
            max_expansions=self.max_expansions,
            max_tactics=self.max_tactics,
            wall_seconds=self.wall_seconds,
        )


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling parameters shared by all model backends."""

    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0


@dataclass(frozen=True)
class VllmConfig:
    """Options for the `vllm` generator."""

    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    beam_search: bool = False


@dataclass(frozen=True)
class HfConfig:
    """Options for the `hf` (transformers) generator."""

    device: str = "auto"
    dtype: str = "auto"
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    beam_search: bool = False


@dataclass(frozen=True)
class OpenAIConfig:
    """Options for the `openai` generator (any OpenAI-compatible completions server)."""

    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 120.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_concurrency: int = 64


@dataclass(frozen=True)
class LeanConfig:
    """The Lean REPL backend and whole-proof checker."""

    project: str = ""  # default: the repository's lake-project/
    header: str = DEFAULT_LEAN_HEADER
    repl_command: tuple[str, ...] = ("lake", "exe", "repl")
    pool_size: int = 0  # 0 = number of cores - 1
    memory_limit_gb: float = 12.0
    tactic_timeout: float = 60.0
    verify_timeout: float = 300.0
    header_timeout: float = 900.0
    recycle_after: int = 500
    allow_native_decide: bool = False
    set_option_allowlist: tuple[str, ...] = ("maxHeartbeats", "maxRecDepth")


@dataclass(frozen=True)
class LeanDojoConfig:
    """The LeanDojo backend; LeanDojo's own settings pass through as environment variables."""

    timeout: int = 600
    max_concurrency: int = 1
    cache_dir: str = ""
    num_procs: int = 0
    tactic_cpu_limit: int = 0
    tactic_memory_limit: str = ""
    github_access_token_env: str = "GITHUB_ACCESS_TOKEN"


@dataclass(frozen=True)
class IsabelleConfig:
    """The PISA/Isabelle backend."""

    start: bool = True
    java: str = "java"
    jar: str = ""
    isabelle_path: str = ""
    working_directory: str = ""
    ports: tuple[int, ...] = (8000,)
    host: str = "localhost"
    step_timeout: float = 60.0
    hammer_timeout: float = 120.0
    startup_timeout: float = 600.0


@dataclass(frozen=True)
class ReplayConfig:
    """The replay environment: answers tactics from a recorded trace."""

    trace: str = ""


@dataclass(frozen=True)
class SketchConfig:
    """The sketch strategy (Draft, Sketch, Prove)."""

    draft: str = "given"  # "given" informal proof from the data, or "model"
    attempts: int = 1


@dataclass(frozen=True)
class SimConfig:
    """Simulated environment and generator of the performance harness (benchmarks/perf)."""

    seed: int = 0


@dataclass(frozen=True)
class BenchConfig:
    """The benchmark runner."""

    benchmark: str = "minif2f-lean4"
    split: str = "test"
    concurrency: int = 8
    limit: int = 0
    shard: str = ""
    names: tuple[str, ...] = ()
    data: str = ""
    display: str = "bar"
    attempts: int = 1


@dataclass(frozen=True)
class StoreConfig:
    """Where runs and attempts are stored."""

    home: str = field(default_factory=_default_home)

    @property
    def path(self) -> Path:
        return Path(self.home).expanduser() / "results.sqlite"


@dataclass(frozen=True)
class Config:
    """Everything a run needs; stored in full with every run."""

    environment: str = "lean-repl"
    model: str = "vllm:EleutherAI/llemma_7b"
    strategy: str = "best-first"
    record: str = ""
    search: SearchConfig = field(default_factory=SearchConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)
    hf: HfConfig = field(default_factory=HfConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    lean: LeanConfig = field(default_factory=LeanConfig)
    lean_dojo: LeanDojoConfig = field(default_factory=LeanDojoConfig)
    isabelle: IsabelleConfig = field(default_factory=IsabelleConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    sketch: SketchConfig = field(default_factory=SketchConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    options: Mapping[str, Any] = field(default_factory=dict)  # free-form, for third-party plug-ins

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Check `value` against the annotation `hint`; strings from the command line are parsed."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(key, option, value)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"bad value for '{key}'")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            return tuple(_coerce(key, item, v) for v in value)
    elif origin in (Mapping, dict) or hint is Mapping:
        if isinstance(value, Mapping):
            return dict(value)
    else:  # pragma: no cover - every annotation above is handled
        return value
    type_name = getattr(hint, "__name__", str(hint))
    raise ConfigError(
        f"config key '{key}' expects {type_name}, got {value!r}; fix the value in the file or flag"
    )


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{dotted}'{hint}; remove or rename it")
        hint_t = hints[key]
        if dataclasses.is_dataclass(hint_t):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a table ([{dotted}])")
            kwargs[key] = _build(hint_t, value, f"{dotted}.")
        else:
            kwargs[key] = _coerce(dotted, hint_t, value)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration in '{prefix or 'top level'}': {exc}") from exc


def _merge(base: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = base
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{dotted}': '{part}' is not a table")
        node = child
    node[parts[-1]] = value


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read `path` (TOML) if given, apply dotted-key `overrides` on top, and validate everything."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(
                f"config file '{p}' not found; pass an existing TOML file to --config"
            )
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"config file '{p}' is not valid TOML ({exc}); fix its syntax"
            ) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file '{p}' is not UTF-8 text; save it as UTF-8") from exc
    for key, value in (overrides or {}).items():
        if value is not None:
            _merge(data, key, value)
    return _build(Config, data, "")


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `--set key=value`; the value is read as TOML when it parses, else as a string."""
    if "=" not in text:
        raise ConfigError(
            f"--set expects key=value, got '{text}'; e.g. --set lean.tactic_timeout=30"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def project_root() -> Path:
    """The source checkout this package runs from (holds lake-project/ in a development install)."""
    return Path(__file__).resolve().parent.parent
