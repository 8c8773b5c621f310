"""Property-based fuzzing of the command line: `prove`, `bench`, `check`, `report`, `runs`.

Arguments and input-file contents are drawn by hypothesis and run in-process through
`prover.cli.main` against a temporary PROVER_HOME holding one stored run. Whatever the input:
no traceback, no "internal error", an exit code in {0, 1, 2, 3, 130}, bad input reported on one
line (and as a JSON object on stdout with --json), and the store file byte-identical after any
read-only command or any command refused as bad input. Every path handed to the CLI lies in the
example's temporary directory (or is /dev/full), so nothing is written into the checkout.
The run is bounded: a fixed, derandomized number of examples, no example database.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.store import Store
from prover.cli import main
from prover.types import SearchResult, SearchStats, Status

THEOREM = "mathd_algebra_478"
EXIT_CODES = {0, 1, 2, 3, 130}
READ_ONLY = {"report", "runs", "check"}
# Bounded for CI (about 20 s); PROVER_FUZZ_EXAMPLES=2000 for a deeper local search.
EXAMPLES = int(os.environ.get("PROVER_FUZZ_EXAMPLES", "120"))

# Words the CLI is fed where it expects names, numbers or text (never paths: see PATHS).
WORDS = (
    "",
    " ",
    "-1",
    "0",
    "1",
    "2",
    "100000000",
    "nan",
    "inf",
    "1e9",
    "x",
    "a,b",
    ",",
    "\x00",
    "ü∀⊢",
    "done",
    THEOREM,
    "minif2f-lean4",
    "minif2f-isabelle",
    "test",
    "valid",
    "0/2",
    "3/2",
    "replay",
    "repaly",
    "best-first",
    "md",
    "json",
    "html",
    "none",
    "plain",
)
STATEMENTS = (
    "theorem t : 1 + 1 = 2 := by",
    "theorem t (x : ℕ) : (x + 1 = 2 := by",
    'theorem t: "x = (1::nat)"',
    "theorem t : True := by\x00",
    "lemma",
    "",
)
SETS = (
    "search.samples=0",
    "search.samples=many",
    "bench.attempts=100000000",
    "bench.attempts=0",
    "search.wall_seconds=nan",
    "bogus=1",
    "=",
    "bench.display=none",
    "generation.temperature=-1",
)
# Symbolic paths, resolved per example inside its temporary directory.
PATHS = (
    "trace",
    "script",
    "fuzzed",
    "dir",
    "missing",
    "missing-dir/file",
    "new",
    "/dev/full",
    "home",
    "foreign-home",
)


@dataclass(frozen=True)
class World:
    """One example's temporary directory: a store, a real trace, and fuzzed files."""

    root: Path

    def path(self, name: str) -> str:
        if name.startswith("/"):
            return name
        return str(self.root / name)

    @property
    def store(self) -> Path:
        return self.root / "home" / "results.sqlite"


def _stats() -> SearchStats:
    return SearchStats(
        model_seconds=0.5,
        env_seconds=0.25,
        search_seconds=0.25,
        total_seconds=1.0,
        expansions=1,
        tactics_run=1,
        model_calls=1,
        candidates=1,
        tokens=3,
        stop_reason="proved",
    )


@pytest.fixture(scope="module")
def statement(package_data: Path) -> str:
    """The statement of THEOREM as the replay trace recorded it (minif2f-lean4)."""
    for line in (package_data / "minif2f" / "lean4_v4.24.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if row["name"] == THEOREM:
            return str(row["formal_statement"]).removesuffix("sorry").rstrip()
    raise AssertionError(THEOREM)


@pytest.fixture(scope="module")
def pristine(package_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory to copy per example: a store with one finished run, a trace and its script."""
    root = tmp_path_factory.mktemp("fuzz-pristine")
    llemma = str(package_data / "llemma_formal2formal")
    argv = ["trace", "llemma", llemma, "--theorems", THEOREM, "--decoys", "2"]
    argv += ["--out", str(root / "trace"), "--script", str(root / "script")]
    with _silenced():
        assert main(argv) == 0
    with Store.at_home(root / "home") as store:
        run = store.create_run(
            "done",
            benchmark="minif2f-lean4",
            split="test",
            planned=2,
            attempts_per_theorem=1,
            config={"model": "scripted:x", "environment": "replay", "strategy": "best-first"},
            versions={},
        )
        proved = SearchResult(
            theorem=THEOREM,
            status=Status.PROVED,
            proof="norm_num",
            steps=("norm_num",),
            verified_by="replay",
            stats=_stats(),
        )
        store.record(run.id, THEOREM, 0, proved)
        failed = SearchResult(theorem="t", status=Status.ERROR, stats=_stats(), error="down")
        store.record(run.id, "t", 0, failed)
        store.mark(run.id, "finished")
    (root / "dir").mkdir()
    (root / "foreign-home").mkdir()
    (root / "foreign-home" / "results.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x01" * 600)
    return root


@contextlib.contextmanager
def _silenced() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@contextlib.contextmanager
def _world(pristine: Path, content: bytes) -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="prover-fuzz-"))
    try:
        shutil.copytree(pristine, root, dirs_exist_ok=True)
        (root / "fuzzed").write_bytes(content)
        home = os.environ.get("PROVER_HOME")
        os.environ["PROVER_HOME"] = str(root / "home")
        try:
            yield World(root)
        finally:
            if home is None:
                os.environ.pop("PROVER_HOME", None)
            else:
                os.environ["PROVER_HOME"] = home
    finally:
        shutil.rmtree(root, ignore_errors=True)


words = st.sampled_from(WORDS) | st.text(max_size=12)
paths = st.sampled_from(PATHS)
models = st.sampled_from(("scripted:{script}", "scripted:{fuzzed}", "vlm:x", "")) | words


def _option(flag: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda v: [flag, v])


def _path_option(flag: str) -> st.SearchStrategy[list[str]]:
    return paths.map(lambda p: [flag, "{" + p + "}"])


def _flag(flag: str) -> st.SearchStrategy[list[str]]:
    return st.just([flag])


RUN_OPTIONS = [
    _option("--env", st.sampled_from(("replay", "repaly", "")) | words),
    _option("--model", models),
    _path_option("--trace"),
    _path_option("--record"),
    _path_option("--config"),
    _path_option("--store"),
    _option("--set", st.sampled_from(SETS)),
    _option("--samples", words),
    _option("--expansions", words),
    _option("--timeout", words),
    _option("--strategy", words),
]
COMMANDS: dict[str, tuple[st.SearchStrategy[list[str]], list[st.SearchStrategy[list[str]]]]] = {
    "prove": (
        (st.sampled_from(STATEMENTS) | st.text(max_size=40)).map(lambda s: [s]) | st.just([]),
        [
            *RUN_OPTIONS,
            _path_option("--file"),
            _option("--theorem", words),
            _option("--benchmark", words),
            _option("--name", words),
            _option("--language", st.sampled_from(("lean4", "isabelle", "coq"))),
            _path_option("--data"),
            _path_option("--tree"),
            _flag("--json"),
        ],
    ),
    "bench": (
        st.sampled_from(("minif2f-lean4", "minif2f-isabelle", "nope")).map(lambda b: [b])
        | st.just([]),
        [
            *RUN_OPTIONS,
            _option("--split", words),
            _option("--limit", st.sampled_from(("1", "2", "0", "-3", "100000000"))),
            _option("--shard", words),
            _option("--names", words),
            _path_option("--data"),
            _option("--attempts", words),
            _flag("--list"),
            _flag("--list"),
            _option("--run", words),
            _option("--resume", words),
            _flag("--retry-errors"),
            _option("--concurrency", words),
            _option("--display", words),
            _option("--ray-address", words),
        ],
    ),
    "check": (
        paths.map(lambda p: ["{" + p + "}"]) | st.just([]),
        [_option("--theorem", words), _path_option("--config"), _flag("--json")],
    ),
    "report": (
        st.lists(st.sampled_from(("done", "nope", "")) | words, max_size=3),
        [
            _option("--format", words),
            _path_option("--out"),
            _path_option("--store"),
            _flag("--include-unverified"),
        ],
    ),
    "runs": (
        st.just([]),
        [
            _flag("--json"),
            st.tuples(st.sampled_from(("done", "nope")) | words, paths | st.just("-")).map(
                lambda x: ["--export", x[0], x[1] if x[1] == "-" else "{" + x[1] + "}"]
            ),
            _flag("--trees"),
            _option("--delete", st.sampled_from(("done", "nope")) | words),
            _flag("--force"),
            _path_option("--store"),
        ],
    ),
}


REPLAY = ["--env", "replay", "--trace", "{trace}", "--model", "scripted:{script}"]
# Command lines that work as they are, so mutations of them also reach the code past the checks.
BASES = {
    "prove": ["{statement}", *REPLAY, "--expansions", "3"],
    "bench": ["minif2f-lean4", *REPLAY, "--names", THEOREM, "--display", "none"],
    "check": ["{fuzzed}"],
    "report": ["done"],
    "runs": [],
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    positional, options = COMMANDS[command]
    base = BASES[command] if draw(st.booleans()) else draw(positional)
    argv = [command, *base]
    for option in draw(st.lists(st.sampled_from(options), max_size=6)):
        argv += draw(option)
    return argv


def _resolve(argv: list[str], world: World, statement: str) -> list[str]:
    """Replace `{name}` placeholders by real paths in the example's directory."""
    out = []
    for word in argv:
        for name in PATHS:
            word = word.replace("{" + name + "}", world.path(name))
        out.append(word.replace("{statement}", statement))
    return out


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # a bench that runs replay attempts takes a second; the count bounds the run
    derandomize=True,  # the same examples in CI every time
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    argv=command_lines(), content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode)
)
def test_no_input_makes_a_traceback_or_touches_the_store(
    pristine: Path, statement: str, argv: list[str], content: bytes
) -> None:
    with _world(pristine, content) as world:
        words = _resolve(argv, world, statement)
        before = world.store.read_bytes()
        with _silenced() as (out, err):
            code = main(words)
        stdout, stderr = out.getvalue(), err.getvalue()
        context = f"argv={words!r}\nstdout={stdout[-2000:]!r}\nstderr={stderr[-2000:]!r}"
        assert code in EXIT_CODES, context
        assert "Traceback" not in stderr and "internal error" not in stderr, context
        if code == 2:
            errors = [line for line in stderr.splitlines() if "error:" in line]
            assert len(errors) == 1, context
            if "--json" in words:
                objects = [json.loads(x) for x in stdout.splitlines() if x.startswith('{"error"')]
                assert objects and objects[-1]["exit_code"] == 2, context
        if (words[0] in READ_ONLY and "--delete" not in words) or code == 2:
            assert world.store.read_bytes() == before, context
