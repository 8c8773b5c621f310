"""The `isabelle-build` judge: Isabelle itself, in batch mode and without PISA, decides a proof.

The trusted statement (the benchmark's, never the proof's) and the proof are written as one theory
file, and `isabelle process -l LOGIC -o quick_and_dirty=false -T THEORY -e CHECK` loads it (the
Isabelle2022 system manual, "The raw Isabelle ML process": `-T` is `use_thy` on the file, `-e`
evaluates ML after it, in order; an error ends the process with return code 1). The theorem gets
a fresh random name per check, so no proof can know it and declare a fact of that name itself;
the trusted CHECK then fetches that theorem and refuses it unless `Thm_Deps.all_oracles` (the
implementation manual: `thm list -> Proofterm.oracle list`, transitive over dependencies) is
empty, or names only the code generator's oracles when `isabelle.allow_eval` is set. `sorry`
is the `skip_proof` oracle, so it is caught here even if a screen missed it.

Acceptance needs return code 0 and the CHECK's line carrying a second secret that only the
command line holds. A crash, a timeout or an Isabelle that never started is ERROR, not a
rejection: the judge could not decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from environments.isabelle import isar
from environments.isabelle.theory import header
from prover.processes import ManagedProcess, ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy
from prover.types import Theorem, Verdict, VerdictStatus

JUDGE = "isabelle-build"
# The oracles `eval` and `normalization` go through (Code_Generator.holds_by_evaluation for
# `eval`; the normaliser's own for `normalization`); compared by base name.
EVAL_ORACLES = ("holds_by_evaluation", "normalization_by_evaluation")
_OUTPUT_CAP = 8 * 2**20  # bytes of Isabelle's output kept; the rest is read and dropped
_KEYWORD = re.compile(
    r"^\s*(theorem|lemma|corollary|proposition|schematic_goal)\b\s*"
    r"(?:(?P<name>[^\s:\"(\[]+)\s*(?:\[[^\]]*\])?\s*:)?",
)


@dataclass(frozen=True)
class BuildSettings:
    """What the judge needs from `[isabelle]`, fixed once per run."""

    isabelle_path: str  # the local Isabelle2022 directory ("" when there is none)
    imports: tuple[str, ...]
    logic: str = "HOL-Number_Theory"
    timeout: float = 900.0
    memory_limit_bytes: int | None = None
    allow_eval: bool = False
    sandbox: SandboxPolicy | None = None

    @property
    def executable(self) -> Path:
        return Path(self.isabelle_path).expanduser() / "bin" / "isabelle"


class _NotJudged(Exception):
    """The judge cannot run on this input or machine (an ERROR verdict)."""


def theory_text(statement: str, proof: str, imports: tuple[str, ...], name: str, fact: str) -> str:
    """The theory checked: our statement under the name `fact`, a command that ends the
    statement (so proof text cannot extend it with `if`/`and`/`for`), the proof, `end`."""
    body = _proof_body(statement, proof)
    return (
        f"{header(imports, name)}\n\n"
        f"{_named_statement(statement, fact)}\n"
        "print_state\n"
        f"{body}\n\n"
        "end\n"
    )


def _named_statement(statement: str, fact: str) -> str:
    text = isar.strip_comments(statement).strip()
    match = _KEYWORD.match(text)
    if match is None:
        raise _NotJudged("the statement is not a `theorem`/`lemma` command")
    keyword = "schematic_goal" if match.group(1) == "schematic_goal" else "theorem"
    return f"{keyword} {fact}: {text[match.end() :].lstrip()}"


def _proof_body(statement: str, proof: str) -> str:
    """The proof without a leading copy of the statement (strategies may include it)."""
    if not isar.is_statement(proof):
        return proof.strip()
    words, stated = isar.command_word(proof), isar.command_word(statement)
    if words != stated and not words.startswith(stated + " "):
        raise _Refused("the proof text states a different theorem")
    return words[len(stated) :].strip()


class _Refused(Exception):
    """The proof is refused before Isabelle runs (a REJECTED verdict)."""


def check_ml(theory: str, fact: str, secret: str, allow_eval: bool) -> str:
    """The trusted check, as ML for `isabelle process -e`: the theorem exists, has no
    hypotheses, and depends on no oracle (bar the evaluation oracles when allowed)."""
    allowed = ", ".join(f'"{o}"' for o in EVAL_ORACLES) if allow_eval else ""
    return (
        "let\n"
        f'  val name = the (find_first (fn n => Long_Name.base_name n = "{theory}") '
        "(Thy_Info.get_names ()));\n"
        "  val thy = Thy_Info.get_theory name;\n"
        f'  val thm = Global_Theory.get_thm thy "{theory}.{fact}";\n'
        f"  val allowed = [{allowed}];\n"
        "  val bad = filter_out (fn ((n, _), _) => member (op =) allowed (Long_Name.base_name n))\n"
        "    (Thm_Deps.all_oracles [thm]);\n"
        f'  val _ = if null (Thm.hyps_of thm) then () else error "{secret} HYPOTHESES";\n'
        "in\n"
        f'  if null bad then writeln "{secret} ACCEPT"\n'
        f'  else error ("{secret} ORACLES " ^ commas (map (fn ((n, _), _) => n) bad))\n'
        "end"
    )


def argv(settings: BuildSettings, theory_path: Path, check: str, started: str) -> tuple[str, ...]:
    """`isabelle process` as the system manual gives it; `started` is printed first, so a run
    that never reached the theory (no heap, broken install) is told from a refusal."""
    return (
        str(settings.executable),
        "process",
        "-l",
        settings.logic,
        "-o",
        "quick_and_dirty=false",
        "-e",
        f'writeln "{started}"',
        "-T",
        str(theory_path),
        "-e",
        check,
    )


def classify(returncode: int | None, output: str, secret: str, started: str) -> Verdict:
    """The verdict for one finished run (see the module docstring)."""
    # Markers are matched inside lines (Isabelle may decorate its messages); the secrets exist
    # only on our command line, so no proof text can print them.
    lines = output.splitlines()
    if returncode == 0 and f"{secret} ACCEPT" in output:
        return Verdict(
            VerdictStatus.ACCEPTED,
            JUDGE,
            "Isabelle loaded the theory with quick_and_dirty off; the theorem depends on no oracle",
        )
    oracles = next((ln for ln in lines if f"{secret} ORACLES" in ln), None)
    if oracles is not None:
        names = oracles.split(f"{secret} ORACLES", 1)[1].strip()
        return Verdict(VerdictStatus.REJECTED, JUDGE, f"the theorem depends on oracles: {names}")
    if any(f"{secret} HYPOTHESES" in ln for ln in lines):
        return Verdict(VerdictStatus.REJECTED, JUDGE, "the theorem has open hypotheses")
    if returncode == 1 and started in output:
        return Verdict(VerdictStatus.REJECTED, JUDGE, f"Isabelle refused it: {_errors(lines)}")
    if started not in output:
        return Verdict(
            VerdictStatus.ERROR,
            JUDGE,
            f"Isabelle did not start (exit {returncode}): {_tail(lines)}; check "
            "isabelle.isabelle_path and that the isabelle.judge_logic heap is built "
            "(prover doctor)",
        )
    return Verdict(
        VerdictStatus.ERROR, JUDGE, f"Isabelle ended with exit {returncode}: {_tail(lines)}"
    )


def _errors(lines: list[str]) -> str:
    marked = [ln.strip() for ln in lines if ln.lstrip().startswith("***")]
    return " | ".join(marked[:6])[:600] or _tail(lines)


def _tail(lines: list[str], n: int = 4) -> str:
    kept = [ln.strip() for ln in lines if ln.strip()]
    return " | ".join(kept[-n:])[:600] or "(no output)"


def _isabelle_user_dirs() -> list[str]:
    """What Isabelle reads from ~/.isabelle (user heaps, settings, components): shown
    read-only inside the sandbox, where $HOME itself is an empty writable tmpfs."""
    base = Path(os.environ.get("HOME", "~")).expanduser() / ".isabelle"
    found = [str(base / "contrib")]
    if base.is_dir():
        for version in base.iterdir():
            found += [str(version / "heaps"), str(version / "etc")]
    return found


class BuildJudge:
    """Runs one `isabelle process` per proof, one at a time (each is a whole Isabelle)."""

    def __init__(self, settings: BuildSettings, tracker: ProcessTracker) -> None:
        self.settings = settings
        self._tracker = tracker
        self._one_at_a_time = asyncio.Semaphore(1)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        settings = self.settings
        if not settings.isabelle_path or not settings.executable.is_file():
            where = settings.isabelle_path or "(isabelle.isabelle_path is not set)"
            return Verdict(
                VerdictStatus.ERROR,
                JUDGE,
                f"no local Isabelle at {where}; install Isabelle2022 and set "
                'isabelle.isabelle_path, or judge through PISA: --set isabelle.judge="pisa"',
            )
        screened = isar.screen(proof, allow_eval=settings.allow_eval)
        if screened is not None:
            return Verdict(VerdictStatus.REJECTED, JUDGE, screened.message)
        if isar.has_gap_word(proof):  # in batch mode Sledgehammer only prints; it proves nothing
            return Verdict(
                VerdictStatus.REJECTED,
                JUDGE,
                "the proof still holds a hammer step (sledgehammer); record the tactic it found",
            )
        nonce = secrets.token_hex(8)
        name, fact = f"Prover_Check_{nonce}", f"prover_goal_{nonce}"
        secret, started = secrets.token_hex(16), f"PROVER_JUDGE_START_{secrets.token_hex(8)}"
        try:
            text = theory_text(theorem.statement, proof, settings.imports, name, fact)
        except _Refused as exc:
            return Verdict(VerdictStatus.REJECTED, JUDGE, str(exc))
        except _NotJudged as exc:
            return Verdict(VerdictStatus.ERROR, JUDGE, f'{exc}; use isabelle.judge = "pisa"')
        async with self._one_at_a_time:
            scratch = Path(tempfile.mkdtemp(prefix="prover-isabelle-judge-"))
            try:
                (scratch / f"{name}.thy").write_text(text, encoding="utf-8")
                check = check_ml(name, fact, secret, settings.allow_eval)
                return await self._run(
                    argv(settings, scratch / name, check, started), scratch, secret, started
                )
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    async def _run(
        self, command: tuple[str, ...], scratch: Path, secret: str, started: str
    ) -> Verdict:
        settings = self.settings
        sandbox = settings.sandbox
        if sandbox is not None:
            sandbox = sandbox.allowing(
                readable=[settings.isabelle_path, *_isabelle_user_dirs()],
                writable=[str(scratch)],
            )
        spec = ProcessSpec(
            argv=command,
            cwd=str(scratch),
            stdin=False,
            stdout=True,
            stderr_path=str(scratch / "stderr.log"),
            memory_limit_bytes=settings.memory_limit_bytes,
            sandbox=sandbox,
        )
        try:
            process = await self._tracker.start(spec)
        except OSError as exc:
            return Verdict(VerdictStatus.ERROR, JUDGE, f"cannot run {command[0]}: {exc}")
        try:
            output = await asyncio.wait_for(_collect(process), settings.timeout)
        except asyncio.TimeoutError:
            return Verdict(
                VerdictStatus.ERROR,
                JUDGE,
                f"Isabelle did not finish within {settings.timeout:g} s "
                "(raise isabelle.judge_timeout)",
            )
        finally:
            await self._tracker.stop(process)
        with contextlib.suppress(OSError):
            output += (scratch / "stderr.log").read_text(encoding="utf-8", errors="replace")
        return classify(process.returncode, output, secret, started)


async def _collect(process: ManagedProcess) -> str:
    """Everything the process prints (the first `_OUTPUT_CAP` bytes), then its exit."""
    stream = process.proc.stdout
    kept = bytearray()
    if stream is not None:
        while chunk := await stream.read(65536):
            if len(kept) < _OUTPUT_CAP:
                kept += chunk[: _OUTPUT_CAP - len(kept)]
    await process.proc.wait()
    return kept.decode("utf-8", errors="replace")
