"""The Lean kernel judge (`verified_by: "lean-kernel"`): comparator's design with the pinned tools.

Per judgement, in a fresh scratch directory, from the *trusted* theorem (never the proof's text):
1. `Challenge.lean` = header + statement + `:= by sorry`; compiled, then its target and the allowed
   axioms exported with lean4export — before any text of the proof is compiled;
2. `Solution.lean` = header + statement + `:= by` + proof; compiled (`lake env lean -o`);
3. the Solution's .olean copied alone into a fresh directory (so a module the proof's code wrote
   beside it cannot be imported), its target exported with lean4export (with everything it uses,
   transitively) and compared with the Challenge's in Python (environments/lean/export.py);
4. the Solution module replayed through the kernel with lean4checker (`lake env lean4checker
   Solution`), which refuses declarations added without the kernel's check (`debug.skipKernelTC`).

Each step is one process started through ProcessTracker, under bubblewrap (only its own step
directory writable, lake-project and the toolchain readable), with `lean.judge_timeout` and an
address-space cap. lean4export and lean4checker are invoked as their READMEs say: `lake env
<binary> <module> [-- <declarations>]`, the module found through LEAN_PATH (which `lake env`
extends, keeping the caller's entries). A step that could not run (missing tool, timeout, a
broken Challenge) gives ERROR; whatever the proof's side did wrong gives REJECTED; only a clean
pass of every step gives ACCEPTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from environments.lean.checker import NATIVE_AXIOM, STANDARD_AXIOMS
from environments.lean.export import (
    ChallengeError,
    ExportError,
    Interner,
    NameParts,
    compare,
    parse_export,
    parse_name,
)
from environments.lean.screen import ScreenPolicy, screen, screen_header
from environments.lean.settings import LeanConfig
from environments.lean.statement import Statement, parse_statement
from environments.lean.toolchain import (
    SETUP_COMMAND,
    checker_binary,
    export_binary,
    find_tool,
    lean_policy,
    project_dir,
)
from prover.errors import InputError, MissingDependencyError, ProverError
from prover.processes import ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy
from prover.types import Theorem, Verdict, VerdictStatus

CHECKED_BY = "lean-kernel"
CHALLENGE, SOLUTION = "Challenge", "Solution"
# `native_decide` proofs reach Lean.ofReduceBool, and through Lean.reduceBool, Lean.trustCompiler.
NATIVE_AXIOMS = (NATIVE_AXIOM, "Lean.trustCompiler")
FIX = f"run `{SETUP_COMMAND}`, or judge with the REPL alone: --set lean.judge=repl"
_OUTPUT_LIMIT = 64 * 1024  # bytes of a step's messages kept for the verdict
_STDOUT_LIMIT = 8 * 1024**3  # bytes of a step's output (an export) before it is stopped


def judge_axioms(allow_native_decide: bool) -> tuple[NameParts, ...]:
    names = sorted(STANDARD_AXIOMS) + (list(NATIVE_AXIOMS) if allow_native_decide else [])
    return tuple(parse_name(n) for n in names)


@dataclass(frozen=True)
class JudgeTools:
    """The executables the judge runs, resolved once."""

    lake: str
    export: Path
    checker: Path
    project: Path


def judge_tools(config: LeanConfig) -> JudgeTools:
    """`lake`, lean4export and lean4checker for `config`; MissingDependencyError names the fix."""
    project = project_dir(config)
    lake = find_tool("lake")
    if lake is None:
        raise MissingDependencyError("`lake` (the Lean toolchain)", FIX)
    missing = [p for p in (export_binary(project), checker_binary(project)) if not p.is_file()]
    if missing:
        names = " and ".join(p.name for p in missing)
        raise MissingDependencyError(f"{names} built in '{project}'", FIX)
    return JudgeTools(lake, export_binary(project), checker_binary(project), project)


@dataclass(frozen=True)
class Step:
    """How one step ended: exit code (None: stopped at the timeout) and its messages."""

    code: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def first_error(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        for line in lines:
            if "error" in line.lower():
                return line[:300]
        return lines[-1][:300] if lines else "no output"


class StepFailed(Exception):
    """A step ended the judgement with `verdict`."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _error(message: str) -> Verdict:
    return Verdict(VerdictStatus.ERROR, CHECKED_BY, message)


def _rejected(message: str) -> Verdict:
    return Verdict(VerdictStatus.REJECTED, CHECKED_BY, message)


class KernelJudge:
    """`judge(theorem, proof)` by compiling, exporting and replaying in the sandbox (module doc).

    `policy` is the run's sandbox (`policy_for(config)`); `concurrency` judgements run at once
    (each imports the header, e.g. Mathlib, in several processes one after another).
    """

    name = CHECKED_BY

    def __init__(
        self,
        config: LeanConfig,
        policy: SandboxPolicy | None = None,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.config = config
        self.policy = policy if policy is not None else SandboxPolicy()
        self._screen = ScreenPolicy.from_config(config)
        self._allowed = judge_axioms(config.allow_native_decide)
        self._slots = asyncio.Semaphore(concurrency or config.checker_pool_size)
        self._tracker = ProcessTracker()
        limit = config.judge_memory_limit_gb
        self._memory = int(limit * 1024**3) if limit > 0 else None

    async def check(self, theorem: Theorem, proof: str) -> Verdict:
        """`judge` under the whole-proof checker's name (LeanDojo's re-check calls it so)."""
        return await self.judge(theorem, proof)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """The verdict on `proof` (the tactic block after `:= by`) for the trusted `theorem`."""
        try:
            statement = parse_statement(theorem.statement)
            parse_name(statement.name)
        except (InputError, ValueError) as exc:
            return _error(f"cannot read the trusted statement: {exc}")
        refused = screen_header(theorem.header, self._screen) or screen(proof, self._screen)
        if refused is not None:
            return _rejected(refused.message)
        try:
            tools = judge_tools(self.config)
        except MissingDependencyError as exc:
            return _error(f"the kernel judge cannot run: {exc}")
        async with self._slots:
            scratch = Path(tempfile.mkdtemp(prefix="prover-judge-"))
            try:
                solution = statement.with_proof(proof)
                return await self.judge_texts(scratch, tools, theorem.header, statement, solution)
            except StepFailed as exc:
                return exc.verdict
            except ProverError as exc:  # e.g. bwrap asked for but unusable
                return _error(f"the kernel judge could not run: {exc}")
            except OSError as exc:
                return _error(f"the kernel judge could not run: {exc}")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    async def judge_texts(
        self, scratch: Path, tools: JudgeTools, header: str, statement: Statement, solution: str
    ) -> Verdict:
        """Steps 1–4 in `scratch`: the Challenge from `statement`, the Solution from `solution`
        (the command after the header; `judge` passes the statement with the proof)."""
        target = parse_name(statement.name)
        interner = Interner()
        # The Challenge is built and exported before any of the proof's text runs.
        challenge_dir = _module(scratch, CHALLENGE, _source(header, statement.with_sorry()))
        step = await self._compile(tools, challenge_dir, CHALLENGE)
        if not step.ok:
            raise StepFailed(_error(_failed("the trusted statement (Challenge.lean)", step)))
        challenge_dir = _isolate(challenge_dir, CHALLENGE)
        if challenge_dir is None:
            raise StepFailed(_error("compiling the Challenge wrote no regular Challenge.olean"))
        step, exported = await self._export(tools, challenge_dir, CHALLENGE, target)
        if not step.ok:
            raise StepFailed(_error(_failed("lean4export on the Challenge", step)))
        try:
            challenge = parse_export(exported, interner, module=CHALLENGE)
        except ExportError as exc:
            raise StepFailed(_error(f"the Challenge export is unreadable: {exc}")) from None

        solution_dir = _module(scratch, SOLUTION, _source(header, solution))
        step = await self._compile(tools, solution_dir, SOLUTION)
        if step.code is None:
            raise StepFailed(_error(_failed("compiling the proof (Solution.lean)", step)))
        if not step.ok:
            raise StepFailed(_rejected(f"Lean error: {step.first_error()}"))
        # From here on only the Solution's .olean is on LEAN_PATH: other files its compile wrote
        # (a forged module for it to import) are out of reach.
        solution_dir = _isolate(solution_dir, SOLUTION)
        if solution_dir is None:
            raise StepFailed(_rejected("compiling the proof wrote no regular Solution.olean"))
        step, exported = await self._export(tools, solution_dir, SOLUTION, target)
        if step.code is None:
            raise StepFailed(_error(_failed("lean4export on the Solution", step)))
        if not step.ok:
            raise StepFailed(_rejected(_failed("lean4export on the Solution", step)))
        try:
            solution = parse_export(exported, interner, module=SOLUTION)
        except ExportError as exc:
            raise StepFailed(_rejected(f"the Solution export is unreadable: {exc}")) from None
        try:
            finding = compare(challenge, solution, target, self._allowed)
        except ChallengeError as exc:
            raise StepFailed(_error(str(exc))) from None
        if not finding.accepted:
            return _rejected(finding.message)

        step = await self._replay(tools, solution_dir)
        if step.code is None:
            raise StepFailed(_error(_failed("lean4checker on the Solution", step)))
        if not step.ok:
            return _rejected(f"lean4checker: the kernel refused the replay: {step.first_error()}")
        return Verdict(VerdictStatus.ACCEPTED, CHECKED_BY, finding.message)

    # -- the steps --

    async def _compile(self, tools: JudgeTools, directory: Path, module: str) -> Step:
        source, olean = directory / f"{module}.lean", directory / f"{module}.olean"
        # --root makes the module name the file's stem (Challenge, Solution), as lean4export and
        # lean4checker look it up on LEAN_PATH.
        argv = ("env", "lean", f"--root={directory}", "-o", str(olean), str(source))
        return await self._run(tools, argv, directory, f"{module}-compile", writable=True)

    async def _export(
        self, tools: JudgeTools, directory: Path, module: str, target: NameParts
    ) -> tuple[Step, Path]:
        names = [_lean_name(target)]
        if module == CHALLENGE:  # the genuine axioms, to compare the Solution's with
            names += [_lean_name(a) for a in self._allowed]
        out = directory.parent / f"{module}.ndjson"
        argv = ("env", str(tools.export), module, "--", *names)
        label = f"{module}-export"
        return await self._run(tools, argv, directory, label, writable=False, stdout=out), out

    async def _replay(self, tools: JudgeTools, directory: Path) -> Step:
        argv = ("env", str(tools.checker), SOLUTION)
        return await self._run(tools, argv, directory, f"{SOLUTION}-replay", writable=False)

    async def _run(
        self,
        tools: JudgeTools,
        argv: tuple[str, ...],
        directory: Path,
        label: str,
        *,
        writable: bool,
        stdout: Path | None = None,
    ) -> Step:
        """`lake …argv` in the project, under the sandbox, seeing `directory` (writable or
        read-only) on LEAN_PATH; stdout goes to `stdout` if given, else into the messages."""
        log = directory.parent / f"{label}.err"
        policy = lean_policy(self.policy, tools.project).allowing(
            readable=() if writable else (str(directory),),
            writable=(str(directory),) if writable else (),
        )
        path = os.pathsep.join([str(Path(tools.lake).parent), os.environ.get("PATH", "")])
        spec = ProcessSpec(
            argv=(tools.lake, *argv),
            cwd=str(tools.project),
            env={"LEAN_PATH": str(directory), "LEAN_ABORT_ON_PANIC": "1", "PATH": path},
            memory_limit_bytes=self._memory,
            stdin=False,
            stderr_path=str(log),
            sandbox=policy,
        )
        process = await self._tracker.start(spec)
        sink = stdout or directory.parent / f"{label}.out"
        try:
            stream = process.proc.stdout
            assert stream is not None

            async def drain() -> bool:
                written = 0
                with sink.open("wb") as handle:
                    while chunk := await stream.read(1 << 16):
                        written += len(chunk)
                        if written > _STDOUT_LIMIT:  # the disk is shared; no export is this big
                            return False
                        handle.write(chunk)
                await process.proc.wait()
                return True

            try:
                finished = await asyncio.wait_for(drain(), self.config.judge_timeout)
            except asyncio.TimeoutError:
                return Step(None, f"no result within {self.config.judge_timeout:g} s")
            if not finished:
                return Step(None, f"more than {_STDOUT_LIMIT // 1024**3} GiB of output")
            code = process.returncode
        finally:
            await self._tracker.stop(process)
        messages = _tail(log) if stdout is not None else _tail(sink) + "\n" + _tail(log)
        return Step(code, messages)

    async def close(self) -> None:
        """Stop every step still running (none normally: each step is stopped when it ends)."""
        await self._tracker.stop_all()


def _module(scratch: Path, module: str, text: str) -> Path:
    directory = scratch / module.lower()
    directory.mkdir()
    (directory / f"{module}.lean").write_text(text, encoding="utf-8")
    return directory


def _isolate(directory: Path, module: str) -> Path | None:
    """A fresh directory holding only `module`'s .olean, copied from `directory` (None if the
    compile left no regular file there, e.g. a symlink planted by the proof)."""
    built = directory / f"{module}.olean"
    if not built.is_file() or built.is_symlink():
        return None
    isolated = directory.parent / f"{directory.name}-olean"
    isolated.mkdir()
    shutil.copyfile(built, isolated / built.name, follow_symlinks=False)
    return isolated


def _source(header: str, command: str) -> str:
    return f"{header.rstrip()}\n\n{command}\n" if header.strip() else f"{command}\n"


def _lean_name(parts: NameParts) -> str:
    """A name as lean4export's command line reads it (`Syntax.decodeNameLit`)."""
    out = []
    for part in parts:
        text = str(part)
        simple = text.replace("_", "a").replace("'", "a").isalnum() and not text[0].isdigit()
        out.append(text if simple or isinstance(part, int) else f"«{text}»")
    return ".".join(out)


def _failed(what: str, step: Step) -> str:
    if step.code is None:
        hint = " (lean.judge_timeout)" if step.output.startswith("no result") else ""
        return f"{what} did not finish: {step.output}{hint}"
    return f"{what} failed (exit {step.code}): {step.first_error()}"


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError), path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - _OUTPUT_LIMIT))
        return handle.read().decode("utf-8", errors="replace")
    return ""
