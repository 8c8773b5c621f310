"""bubblewrap sandbox: what a proof-assistant process can and cannot do (real bwrap, in CI)."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

from prover.config import Config, load_config
from prover.errors import ConfigError
from prover.processes import ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy, bwrap_problem, policy_for, wrap

needs_bwrap = pytest.mark.skipif(
    bwrap_problem() is not None, reason=f"needs bubblewrap: {bwrap_problem()}"
)

# A stand-in for a proof-assistant process that executes what it is sent: each probe prints
# "ok" or the exception it met.
_PROBE = r"""
import os, socket, sys
home, store, scratch, outside = sys.argv[1:5]
def attempt(name, fn):
    try:
        fn()
        print(name, "ok")
    except Exception as exc:
        print(name, type(exc).__name__)
attempt("write_scratch", lambda: open(os.path.join(scratch, "f"), "w").write("x"))
attempt("write_outside", lambda: open(os.path.join(outside, "f"), "w").write("x"))
attempt("read_store", lambda: open(os.path.join(store, "results.sqlite")).read())
attempt("list_home", lambda: os.listdir(home) or (_ for _ in ()).throw(FileNotFoundError()))
attempt("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
print("pid", os.getpid())
"""


async def _probe(policy: SandboxPolicy, tmp_path: Path) -> dict[str, str]:
    home, store, scratch = tmp_path / "home", tmp_path / "store", tmp_path / "scratch"
    outside = tmp_path / "outside"  # visible to the process, but not its to write
    for d in (home, store, scratch, outside):
        d.mkdir()
    (home / "secret").write_text("s")
    (store / "results.sqlite").write_text("runs")
    script = tmp_path / "probe.py"
    script.write_text(_PROBE)
    policy = SandboxPolicy(
        policy.kind,
        readable=(
            str(script),
            str(outside),
            sys.prefix,
            str(Path(sys.executable).resolve().parent),
        ),
        writable=(str(scratch),),
        hidden=(str(home), str(store)),
    )
    tracker = ProcessTracker()
    spec = ProcessSpec(
        (sys.executable, str(script), str(home), str(store), str(scratch), str(outside)),
        stdin=False,
        sandbox=policy,
    )
    process = await tracker.start(spec)
    assert process.proc.stdout is not None
    out = (await process.proc.stdout.read()).decode()
    await tracker.stop_all()
    return dict(line.split(" ", 1) for line in out.splitlines())


@needs_bwrap
async def test_bwrap_confines_what_a_proof_process_can_touch(tmp_path: Path) -> None:
    seen = await _probe(SandboxPolicy("bwrap"), tmp_path)
    assert seen["write_scratch"] == "ok"
    assert seen["write_outside"] != "ok"
    assert not (tmp_path / "outside" / "f").exists()
    assert seen["read_store"] != "ok"
    assert seen["list_home"] != "ok"
    assert seen["network"] != "ok"
    assert int(seen["pid"]) < 10  # its own pid namespace


async def test_none_is_an_explicit_opt_out(tmp_path: Path) -> None:
    seen = await _probe(SandboxPolicy("none"), tmp_path)
    assert seen["read_store"] == "ok" and seen["list_home"] == "ok"


def test_wrap_hides_home_and_the_store_and_binds_scratch_writable(tmp_path: Path) -> None:
    if bwrap_problem() is not None:
        pytest.skip(f"needs bubblewrap: {bwrap_problem()}")
    store = tmp_path / "store"
    store.mkdir()
    config = load_config(overrides={"store.home": str(store)})
    argv = wrap(("lean",), policy_for(config).allowing(writable=[str(tmp_path)]))
    assert "--die-with-parent" in argv and "--unshare-net" in argv
    assert ("--tmpfs", str(store.resolve())) in itertools.pairwise(argv)
    assert ("--bind", str(tmp_path.resolve())) in itertools.pairwise(argv)
    assert argv[-2:] == ("--", "lean")
    home = os.environ.get("HOME")
    if home and Path(home).is_dir() and Path(home).resolve() != Path("/"):
        assert ("--tmpfs", str(Path(home).resolve())) in itertools.pairwise(argv)


def test_the_sandbox_setting_is_checked() -> None:
    assert Config().sandbox == "bwrap"
    with pytest.raises(ConfigError, match="sandbox"):
        load_config(overrides={"sandbox": "docker"})


def test_asking_for_bwrap_where_it_cannot_run_names_the_fix(monkeypatch) -> None:
    import prover.sandbox as sandbox

    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(ConfigError, match=r"apt-get install bubblewrap.*sandbox = \"none\""):
        sandbox.wrap(("lean",), SandboxPolicy("bwrap"))


def test_doctor_shows_the_sandbox_and_an_opt_out_as_not_ok() -> None:
    from prover.cli.doctor import collect

    (line,) = [
        c for c in collect(load_config(overrides={"sandbox": "none"})) if c.name == "sandbox"
    ]
    assert not line.ok and "unsandboxed" in line.detail
    (line,) = [c for c in collect(load_config()) if c.name == "sandbox"]
    assert line.ok is (bwrap_problem() is None) and line.required


def test_reports_say_who_judged_and_whether_proofs_ran_unsandboxed() -> None:
    from types import SimpleNamespace

    from benchmarks.report import RunSummary, trust_line

    def summary(sandbox: str) -> RunSummary:
        info = SimpleNamespace(name="r", config={"sandbox": sandbox})
        return RunSummary(
            info=info,  # type: ignore[arg-type]
            theorems={},
            pass_rate=None,  # type: ignore[arg-type]
            pass_at_k={},
            categories={},
            statuses={},
            unchecked_proofs=0,
            totals={},
            judged_by={"lean-kernel": 3, "lean-repl": 1},
        )

    assert "unsandboxed" in trust_line(summary("none"))
    line = trust_line(summary("bwrap"))
    assert "lean-kernel (3)" in line and "lean-repl (1)" in line and "unsandboxed" not in line
