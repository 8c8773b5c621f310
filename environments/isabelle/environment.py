"""The `isabelle` environment: miniF2F-style Isabelle statements searched on PISA servers and
judged by Isabelle in batch mode (`isabelle.judge = "build"`) or by a fresh PISA re-run ("pisa")."""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

from environments.isabelle import isar
from environments.isabelle.client import Timeouts
from environments.isabelle.judge import BuildJudge, BuildSettings
from environments.isabelle.pool import ServerPool
from environments.isabelle.server import Launch
from environments.isabelle.session import HammerSettings, IsabelleSession
from environments.isabelle.settings import IsabelleConfig
from environments.isabelle.theory import (
    THEORY_NAME,
    header,
    import_names,
    missing_imports,
    write_theory,
)
from prover.config import Config
from prover.errors import InputError
from prover.sandbox import SandboxPolicy, policy_for
from prover.types import Language, Theorem, Verdict


class IsabelleEnvironment:
    """Owns the server pool; each `open` borrows one server for one theorem."""

    name = "isabelle"

    def __init__(
        self,
        launch: Launch,
        ports: tuple[int, ...],
        imports: tuple[str, ...],
        hammer: HammerSettings,
        *,
        judge: BuildSettings | None = None,
        restart_attempts: int = 5,
    ) -> None:
        self.launch = launch
        self.imports = imports
        self.pool = ServerPool(launch, ports, restart_attempts=restart_attempts)
        # None: judge by a fresh PISA re-run (`isabelle.judge = "pisa"`).
        self.build_judge = BuildJudge(judge, self.pool.tracker) if judge is not None else None
        self._hammer = hammer
        self._ids = itertools.count()
        self.capacity = len(ports)  # one theorem per PISA server at a time

    async def open(self, theorem: Theorem) -> IsabelleSession:
        """Open `theorem` on a free server; InputError if Isabelle cannot take the statement."""
        if theorem.language != Language.ISABELLE:
            raise InputError(
                f"{theorem.name} is a {theorem.language} theorem; the isabelle environment "
                "takes Isabelle statements (use --language isabelle or an Isabelle benchmark)"
            )
        screened = isar.screen(theorem.statement)
        if screened is not None:
            raise InputError(f"the statement of {theorem.name} is not usable: {screened.message}")
        needed = import_names(theorem.header or str(theorem.metadata.get("theory_imports", "")))
        missing = missing_imports(needed, self.imports)
        if missing:
            wanted = ", ".join(f'"{m}"' for m in (*self.imports, *missing))
            raise InputError(
                f"{theorem.name} imports {', '.join(missing)}, which the loaded theory lacks; "
                f"add them: --set 'isabelle.imports=[{wanted}]' (AFP entries need AFP heaps)"
            )
        server = await self.pool.acquire()
        session = IsabelleSession(
            self.pool,
            server,
            theorem,
            header=self.launch.header,
            hammer=self._hammer,
            prefix=f"p{next(self._ids)}",
        )
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """`isabelle-build`: Isabelle in batch mode on a theory with our statement; or, with
        `isabelle.judge = "pisa"`, `isabelle-pisa`: a fresh re-run on its own PISA session."""
        if self.build_judge is not None:
            return await self.build_judge.judge(theorem, proof)
        session = await self.open(theorem)
        try:
            return await session.verify(proof)
        finally:
            await session.close()

    async def close(self) -> None:
        await self.pool.close()


def _launch(
    cfg: IsabelleConfig, log_dir: Path, sandbox: SandboxPolicy | None = None
) -> tuple[Launch, tuple[str, ...]]:
    """Check the paths, write the theory file when we own it, and fix how servers start."""
    if not cfg.isabelle_path:
        raise InputError(
            "isabelle.isabelle_path is not set; install Isabelle2022 and set ISABELLE_PATH "
            "(or --set isabelle.isabelle_path=DIR)"
        )
    isabelle = Path(cfg.isabelle_path).expanduser()
    # An attached server may run elsewhere: the path is then the server's, not ours to check.
    if cfg.start and not (isabelle / "bin" / "isabelle").is_file():
        raise InputError(
            f"{isabelle} is not an Isabelle installation (no bin/isabelle); point ISABELLE_PATH "
            "at the unpacked Isabelle2022 directory"
        )
    if cfg.start:
        if not cfg.jar:
            raise InputError(
                "isabelle.jar is not set; build PISA (sbt assembly) and set PISA_JAR to "
                "target/scala-2.13/PISA-assembly-0.1.jar, or attach with isabelle.start=false"
            )
        if not Path(cfg.jar).expanduser().is_file():
            raise InputError(f"PISA jar {cfg.jar} not found; build it with `sbt assembly`")
    workdir = Path(cfg.working_directory or isabelle / "src" / "HOL" / "Examples").expanduser()
    if cfg.start and not workdir.is_dir():
        raise InputError(f"isabelle.working_directory {workdir} is not a directory")
    if cfg.theory_file:
        theory = Path(cfg.theory_file).expanduser()
        if not theory.is_file():
            raise InputError(f"isabelle.theory_file {theory} not found")
        text = theory.read_text(encoding="utf-8", errors="replace")
        imports = import_names(text)
        start_line = header(imports, theory.stem)
    elif cfg.start or workdir.is_dir():
        imports = cfg.imports
        theory = write_theory(workdir, imports)
        start_line = header(imports, THEORY_NAME)
    else:  # attached, the server's directory is not here: it must hold the file already
        imports = cfg.imports
        theory = workdir / f"{THEORY_NAME}.thy"
        start_line = header(imports, THEORY_NAME)
    launch = Launch(
        start=cfg.start,
        java=cfg.java,
        java_options=cfg.java_options,
        jar=str(Path(cfg.jar).expanduser()) if cfg.jar else "",
        host=cfg.host,
        isabelle_path=str(isabelle),
        working_directory=str(workdir),
        theory_file=str(theory),
        header=start_line,
        timeouts=Timeouts(
            query=cfg.query_timeout,
            step=cfg.step_timeout,
            hammer=cfg.hammer_timeout,
            startup=cfg.startup_timeout,
        ),
        log_dir=log_dir,
        memory_limit_bytes=int(cfg.memory_limit_gb * 2**30) if cfg.memory_limit_gb else None,
        sandbox=_jvm_sandbox(sandbox, cfg, isabelle, workdir, theory) if cfg.start else None,
    )
    return launch, imports


def _jvm_sandbox(
    policy: SandboxPolicy | None, cfg: IsabelleConfig, isabelle: Path, workdir: Path, theory: Path
) -> SandboxPolicy | None:
    """The sandbox of our PISA JVMs: loopback networking (gRPC), the jar and Isabelle readable,
    ~/.isabelle writable (PISA's Isabelle builds and loads its session heaps there)."""
    if policy is None:
        return None
    home = Path(os.environ.get("HOME", "~")).expanduser()
    if policy.kind == "bwrap":
        # Made now so it is bound (and kept): inside the sandbox $HOME is an empty tmpfs, and
        # heaps Isabelle built there would be lost with it.
        with contextlib.suppress(OSError):
            (home / ".isabelle").mkdir(exist_ok=True)
    return policy.allowing(
        readable=[str(isabelle), str(Path(cfg.jar).expanduser()), str(workdir), str(theory.parent)],
        writable=[str(home / ".isabelle")],
        network=True,
    )


def create(config: Config) -> IsabelleEnvironment:
    """Entry point `isabelle`: PISA servers on `isabelle.ports`, started by us or attached to."""
    cfg = config.section("isabelle")
    policy = policy_for(config)
    launch, imports = _launch(cfg, Path(config.store.home).expanduser() / "logs", policy)
    hammer = HammerSettings(
        heuristics=cfg.heuristics, command=cfg.hammer_command, allow_eval=cfg.allow_eval
    )
    judge = None
    if cfg.judge == "build":
        judge = BuildSettings(
            isabelle_path=cfg.isabelle_path,
            imports=imports,
            logic=cfg.judge_logic,
            timeout=cfg.judge_timeout,
            memory_limit_bytes=int(cfg.judge_memory_gb * 2**30) if cfg.judge_memory_gb else None,
            allow_eval=cfg.allow_eval,
            sandbox=policy,
        )
    return IsabelleEnvironment(
        launch, cfg.ports, imports, hammer, judge=judge, restart_attempts=cfg.restart_attempts
    )
