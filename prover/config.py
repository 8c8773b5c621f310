"""The one typed configuration object: TOML file, then `--set key=value` and flags on top.

The core's sections (search, generation, the model backends, the strategies, bench, store) are
the frozen dataclasses below; every proof assistant's section (`lean`, `isabelle`, ...) and any
third-party plug-in's is the frozen dataclass its package registers in the `prover.settings`
entry-point group (section name → class). Both are read by the same code, so unknown keys and
wrong types are errors that name the key, and a typo never silently falls back to a default.
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


def _default_home() -> str:
    return os.environ.get("PROVER_HOME") or str(Path.home() / ".cache" / "prover")


# Upper bounds for counts: far above any published budget, low enough that a typo (an extra zero
# or three) is refused before it allocates or starts anything.
MAX_SAMPLES = 4096
MAX_EXPANSIONS = 1_000_000
MAX_TACTICS = 10_000_000
MAX_TOKENS = 1 << 20


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
        for key, value, high in (
            ("samples", self.samples, MAX_SAMPLES),
            ("max_expansions", self.max_expansions, MAX_EXPANSIONS),
            ("max_tactics", self.max_tactics, MAX_TACTICS),
        ):
            if value > high:
                raise ValueError(f"search.{key} must be at most {high}, not {value}")
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
    cache_size: int = 4096  # identical requests answered from memory; 0 = share in-flight only

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature < float("inf"):
            raise ValueError("generation.temperature must be >= 0 (0 = greedy)")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("generation.top_p must be in (0, 1]")
        if self.max_tokens < 1 or self.cache_size < 0:
            raise ValueError("generation.max_tokens must be >= 1 and generation.cache_size >= 0")
        if not 0 <= self.seed < 2**32:
            # vLLM (and the OpenAI API) refuse seeds outside this range.
            raise ValueError("generation.seed must be in 0 .. 4294967295 (0 <= seed < 2**32)")
        if self.max_tokens > MAX_TOKENS:
            raise ValueError(f"generation.max_tokens must be at most {MAX_TOKENS}")


@dataclass(frozen=True)
class VllmConfig:
    """Options for the `vllm` generator."""

    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    beam_search: bool = False  # LLM.beam_search with BeamSearchParams (one engine step per token)
    beam_batch_size: int = 32  # prompts per LLM.beam_search call when beam_search is on

    def __post_init__(self) -> None:
        if self.tensor_parallel_size < 1 or self.max_model_len < 1 or self.beam_batch_size < 1:
            raise ValueError(
                "vllm.tensor_parallel_size, max_model_len and beam_batch_size must be >= 1"
            )
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError("vllm.gpu_memory_utilization must be in (0, 1]")


@dataclass(frozen=True)
class HfConfig:
    """Options for the `hf` (transformers) generator."""

    device: str = "auto"  # auto (cuda if usable, else cpu), cpu, cuda, cuda:1, mps
    dtype: str = "auto"  # auto (bfloat16 or float16 on GPU, float32 on CPU), or one of those
    max_batch_size: int = 64  # sequences (prompts x samples) decoded together in one call
    max_wait_ms: float = 5.0  # how long a batch waits for more requests after its first
    beam_search: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("hf.max_batch_size must be at least 1")
        if not 0.0 <= self.max_wait_ms < float("inf"):
            raise ValueError("hf.max_wait_ms must be a finite number >= 0")


@dataclass(frozen=True)
class OpenAIConfig:
    """Options for the `openai` generator (any OpenAI-compatible server, official client)."""

    api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key ("EMPTY" if unset)
    timeout: float = 120.0  # seconds for one generate call, retries and their waits included
    max_retries: int = 5  # the client's own retries (429, 5xx, dropped connections), with backoff
    max_concurrency: int = 64  # requests in flight = pooled connections; more wait their turn
    max_response_bytes: int = 32 * 2**20  # a reply body past this is refused while it arrives

    def __post_init__(self) -> None:
        if not 0.0 < self.timeout < float("inf"):
            raise ValueError("openai.timeout must be a positive finite number of seconds")
        if self.max_retries < 0 or self.max_concurrency < 1:
            raise ValueError("openai.max_retries must be >= 0 and openai.max_concurrency >= 1")
        if self.max_response_bytes < 1024:
            raise ValueError("openai.max_response_bytes must be at least 1024")


@dataclass(frozen=True)
class SketchConfig:
    """The sketch strategy (Draft, Sketch, Prove); see prover/strategies/sketch.py.

    The whole theorem is bounded by `search.max_tactics` and `search.wall_seconds`; the sub-search
    on a Lean gap also by the `search_*` keys here, and it samples with `[generation]`.
    """

    draft: str = "given"  # "given": informal proof from the data; "model": drafted by the model
    attempts: int = 1  # sketches per theorem (pass@k); > 1 needs temperature > 0
    temperature: float = 0.0  # 0 = greedy, as Llemma
    max_tokens: int = 1024  # per sketch
    draft_max_tokens: int = 512  # per drafted informal proof
    examples: str = ""  # few-shot examples JSON in the built-in format; "" = built-in (valid split)
    shots: int = 0  # examples per prompt; 0 = every example of the theorem's block
    # "default" stands for the built-in list of prover/strategies/closers.py (may be extended)
    lean_closers: tuple[str, ...] = ("default",)
    isabelle_closers: tuple[str, ...] = ("default",)
    isabelle_hammer: str = "normalhammer"  # step run on an Isabelle gap after the closers; "" = off
    search_samples: int = 8  # Lean gaps: candidates per expansion of the best-first sub-search
    search_expansions: int = 16  # Lean gaps: expansions of the sub-search; 0 = no sub-search
    search_seconds: float = 120.0  # Lean gaps: wall seconds per sub-search

    def __post_init__(self) -> None:
        if self.draft not in ("given", "model"):
            raise ValueError(f"sketch.draft must be 'given' or 'model', not {self.draft!r}")
        if self.attempts < 1 or self.max_tokens < 1 or self.draft_max_tokens < 1:
            raise ValueError("sketch.attempts, max_tokens and draft_max_tokens must be >= 1")
        if self.attempts > 1 and self.temperature == 0:
            raise ValueError(
                "sketch.attempts > 1 with sketch.temperature = 0 repeats one greedy sketch; "
                "set sketch.temperature > 0 (e.g. 0.7) or sketch.attempts = 1"
            )
        if not 0.0 <= self.temperature < float("inf"):
            raise ValueError("sketch.temperature must be >= 0 (0 = greedy)")
        if self.shots < 0 or self.search_samples < 1 or self.search_expansions < 0:
            raise ValueError(
                "sketch.shots and sketch.search_expansions must be >= 0, search_samples >= 1"
            )
        if not 0.0 < self.search_seconds < float("inf"):
            raise ValueError("sketch.search_seconds must be a positive finite number")


@dataclass(frozen=True)
class WholeProofConfig:
    """The whole-proof strategy (prover/strategies/whole_proof.py): sample, check, repair.

    Every budget is finite: `samples` first-round proofs, `rounds` repair rounds of at most
    `repairs` proofs each, `max_total_tokens` generated tokens, and `search.wall_seconds`.
    """

    # Prompt format: auto (from the model name), deepseek-v1.5, deepseek-v2, goedel-v2, kimina.
    # `--prompt NAME` (search.prompt) also selects one when it names a whole-proof format.
    prompt: str = "auto"
    samples: int = 32  # complete proofs sampled per theorem in the first round
    batch: int = 8  # proofs per generate request (the generator batches across theorems)
    rounds: int = 0  # repair rounds after the first; each gives failed proofs back to the model
    repair: str = "auto"  # feedback (errors to the model) | resume (truncate-and-resume) | auto
    repairs: int = 8  # failed proofs repaired per round (the most recent failures first)
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 4096  # per sample (reasoning models need thousands)
    max_total_tokens: int = 2_000_000  # generated tokens per theorem, all rounds together
    check_all: bool = False  # check every first-round sample (exact per-sample pass@k)

    def __post_init__(self) -> None:
        if self.samples < 1 or self.batch < 1 or self.max_tokens < 1:
            raise ValueError("whole_proof.samples, batch and max_tokens must be >= 1")
        if self.rounds < 0 or self.repairs < 1:
            raise ValueError("whole_proof.rounds must be >= 0 and whole_proof.repairs >= 1")
        if self.repair not in ("auto", "feedback", "resume"):
            raise ValueError("whole_proof.repair must be 'auto', 'feedback' or 'resume'")
        if self.max_total_tokens < self.max_tokens:
            raise ValueError("whole_proof.max_total_tokens must be at least whole_proof.max_tokens")
        if not 0.0 <= self.temperature < float("inf") or not 0.0 < self.top_p <= 1.0:
            raise ValueError("whole_proof.temperature must be >= 0 and top_p in (0, 1]")


# pass@k up to this k: above the largest published miniF2F budgets (DeepSeek-Prover-V1.5's
# pass@3200); a larger number is a typo that would plan millions of attempts.
MAX_ATTEMPTS = 4096


@dataclass(frozen=True)
class BenchConfig:
    """The benchmark runner, its data and its Ray mode."""

    benchmark: str = "minif2f-lean4"
    split: str = "test"
    # Theorems in flight (per environment worker with --ray); 0 = the environment's capacity
    # (lean-repl: three per REPL process; PISA servers, Dojos: one each), else 8.
    concurrency: int = 0
    limit: int = 0  # 0 = all
    shard: str = ""  # "i/n": this process runs every n-th theorem starting at i
    names: tuple[str, ...] = ()
    data: str = ""  # a data file or a directory holding it (default: cache, else download)
    verify_data: bool = True  # refuse data whose sha256 differs from the pinned one
    mirror: str = ""  # base URL used instead of https://github.com for downloads
    download_timeout: float = 600.0
    display: str = "bar"  # "bar", "plain" (one line per theorem, for logs) or "none"
    attempts: int = 1  # independent attempts per theorem (pass@k)
    ray: bool = False
    ray_address: str = ""  # "" = start a local Ray instance; "auto" or ray://host:port to attach
    ray_generators: int = 0  # generator actors; 0 = one per GPU in the cluster (at least 1)
    ray_workers: int = 0  # environment worker actors; 0 = one per remaining CPU (at least 1)
    ray_worker_cpus: float = 1.0  # CPUs reserved by each environment worker
    ray_startup_timeout: float = 1800.0  # seconds for actors to start (a model may load slowly)

    def __post_init__(self) -> None:
        if self.concurrency < 0:
            raise ValueError("bench.concurrency must be 0 (the environment's capacity) or more")
        if self.limit < 0:
            raise ValueError("bench.limit must be 0 (all) or positive")
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"bench.attempts must be between 1 and {MAX_ATTEMPTS}")
        if self.display not in ("bar", "plain", "none"):
            raise ValueError(f"bench.display must be bar, plain or none, not {self.display!r}")
        if not self.download_timeout > 0:
            raise ValueError("bench.download_timeout must be positive")
        if not self.ray_startup_timeout > 0:
            raise ValueError("bench.ray_startup_timeout must be positive")
        if self.ray_worker_cpus <= 0 or self.ray_generators < 0 or self.ray_workers < 0:
            raise ValueError("bench.ray_* counts must be non-negative (worker cpus positive)")


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
    # Every proof-assistant process runs under bubblewrap ("bwrap"); "none" is an explicit opt-out
    # shown by `prover doctor` and in every report.
    sandbox: str = "bwrap"
    search: SearchConfig = field(default_factory=SearchConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)
    hf: HfConfig = field(default_factory=HfConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    sketch: SketchConfig = field(default_factory=SketchConfig)
    whole_proof: WholeProofConfig = field(default_factory=WholeProofConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    # Plug-in sections by name (entry-point group `prover.settings`), built by `load_config`;
    # read them with `section(name)`. Stored at the top level of `to_dict`, as in the TOML file.
    plugins: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sandbox not in ("bwrap", "none"):
            raise ValueError(f"sandbox must be 'bwrap' or 'none', not {self.sandbox!r}")

    def section(self, name: str) -> Any:
        """The settings section `name`: a built-in one, or a plug-in's frozen dataclass.

        A plug-in section that `load_config` did not build (a `Config()` made in code) comes back
        with its defaults.
        """
        if name in _builtin_sections():
            return getattr(self, name)
        if name in self.plugins:
            return self.plugins[name]
        return _build(plugin_section(name), {}, f"{name}.")

    def with_section(self, name: str, value: Any) -> Config:
        """A copy with section `name` (a built-in one or a plug-in's) replaced by `value`."""
        if name in _builtin_sections():
            return dataclasses.replace(self, **{name: value})
        return dataclasses.replace(self, plugins={**self.plugins, name: value})

    def to_dict(self) -> dict[str, Any]:
        plain = _to_plain(self)
        plain.update(plain.pop("plugins"))
        return plain


def _builtin_sections() -> dict[str, type]:
    """Built-in section name → its dataclass (the dataclass-typed fields of Config)."""
    hints = _hints(Config)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(Config)
        if dataclasses.is_dataclass(hints[f.name])
    }


def plugin_sections() -> dict[str, Any]:
    """Installed plug-in section names → their registry entries (not imported yet)."""
    from prover import registry

    found = {e.name: e for e in registry.entries("settings")}
    builtin = {f.name for f in dataclasses.fields(Config)}
    for entry in found.values():
        if entry.name in builtin:
            raise ConfigError(
                f"settings plug-in '{entry.name}' ({entry.distribution}) reuses a built-in "
                "config key; rename its entry point in the plug-in's pyproject.toml"
            )
    return found


def plugin_section(name: str) -> type:
    """The dataclass a plug-in registered for section `name`, or a one-line error."""
    known = plugin_sections()
    if name not in known:
        listed = ", ".join([*_builtin_sections(), *known])
        raise ConfigError(f"no config section '{name}' (sections: {listed})")
    return _section_class(known[name])


def _section_class(entry: Any) -> type:
    """Import a settings entry point and check that it names a dataclass."""
    try:
        cls = entry.load()
    except Exception as exc:
        raise ConfigError(
            f"settings plug-in '{entry.name}' ({entry.distribution}: {entry.value}) failed to "
            f"load ({type(exc).__name__}: {exc}); fix or uninstall {entry.distribution}"
        ) from exc
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(
            f"settings plug-in '{entry.name}' ({entry.distribution}) must point at a dataclass, "
            f"not {cls!r}; register a frozen dataclass type"
        )
    return cls


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


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(
    cls: type, data: Mapping[str, Any], prefix: str, extra: Mapping[str, Any] | None = None
) -> Any:
    """`cls(**data)` with every key and value checked; `extra` names more sections (plug-ins)
    that `data` may hold, which are returned in the `plugins` field."""
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    plugins: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if extra is not None and key in extra and key not in known:
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a table ([{dotted}])")
            plugins[key] = _build(_section_class(extra[key]), value, f"{dotted}.")
            continue
        if extra is not None and key == "options" and value == {}:
            continue  # the always-empty free-form table that earlier versions stored with runs
        if key not in known or (extra is not None and key == "plugins"):
            import difflib

            # `plugins` is filled from the plug-in sections, never given by name
            names = [k for k in [*known, *(extra or ())] if extra is None or k != "plugins"]
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            if not close and not prefix:  # a section's key given without its section
                owners = [
                    f"{name}.{key}"
                    for name, f in known.items()
                    if dataclasses.is_dataclass(_hints(cls).get(name))
                    and key in {g.name for g in dataclasses.fields(_hints(cls)[name])}
                ]
                hint = f" (did you mean '{owners[0]}'?)" if owners else ""
            if extra is not None and isinstance(value, Mapping) and not hint:
                hint = f" (no installed plug-in declares a [{key}] section)"
            raise ConfigError(f"unknown config key '{dotted}'{hint}; remove or rename it")
        hint_t = hints[key]
        if dataclasses.is_dataclass(hint_t):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a table ([{dotted}])")
            kwargs[key] = _build(hint_t, value, f"{dotted}.")
        else:
            kwargs[key] = _coerce(dotted, hint_t, value)
    if extra is not None:
        # Every installed plug-in section is built, so its defaults are stored with the run too.
        for name in extra:
            if name not in plugins and name not in known:
                plugins[name] = _build(_section_class(extra[name]), {}, f"{name}.")
        kwargs["plugins"] = plugins
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        where = prefix.rstrip(".") or "top level"
        raise ConfigError(f"invalid configuration in [{where}]: {exc}") from exc


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
    return _build(Config, data, "", plugin_sections())


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
