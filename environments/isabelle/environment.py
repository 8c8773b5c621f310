"""The `isabelle` environment: miniF2F-style Isabelle statements checked by PISA servers."""

from __future__ import annotations

import itertools
from pathlib import Path

from environments.isabelle import isar
from environments.isabelle.client import Timeouts
from environments.isabelle.pool import ServerPool
from environments.isabelle.server import Launch
from environments.isabelle.session import HammerSettings, IsabelleSession
from environments.isabelle.theory import (
    THEORY_NAME,
    header,
    import_names,
    missing_imports,
    write_theory,
)
from prover.config import Config, IsabelleConfig
from prover.errors import InputError
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
    ) -> None:
        self.launch = launch
        self.imports = imports
        self.pool = ServerPool(launch, ports)
        self._hammer = hammer
        self._ids = itertools.count()
        self.capacity = len(ports)  # one theorem per PISA server at a time

    async def open(self, theorem: Theorem) -> IsabelleSession:
        """Open `theorem` on a free server; InputError if Isabelle cannot take the statement."""
        if theorem.language is not Language.ISABELLE:
            raise InputError(
                f"{theorem.name} is a {theorem.language.value} theorem; the isabelle environment "
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
        """A fresh re-run of the statement and the whole proof on its own session."""
        session = await self.open(theorem)
        try:
            return await session.verify(proof)
        finally:
            await session.close()

    async def close(self) -> None:
        await self.pool.close()


def _launch(cfg: IsabelleConfig, log_dir: Path) -> tuple[Launch, tuple[str, ...]]:
    """Check the paths, write the theory file when we own it, and fix how servers start."""
    if not cfg.isabelle_path:
        raise InputError(
            "isabelle.isabelle_path is not set; install Isabelle2022 and set ISABELLE_PATH "
            "(or --set isabelle.isabelle_path=DIR)"
        )
    isabelle = Path(cfg.isabelle_path).expanduser()
    if not (isabelle / "bin" / "isabelle").is_file():
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
    if not workdir.is_dir():
        raise InputError(f"isabelle.working_directory {workdir} is not a directory")
    if cfg.theory_file:
        theory = Path(cfg.theory_file).expanduser()
        if not theory.is_file():
            raise InputError(f"isabelle.theory_file {theory} not found")
        text = theory.read_text(encoding="utf-8", errors="replace")
        imports = import_names(text)
        start_line = header(imports, theory.stem)
    else:
        imports = cfg.imports
        theory = write_theory(workdir, imports)
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
    )
    return launch, imports


def create(config: Config) -> IsabelleEnvironment:
    """Entry point `isabelle`: PISA servers on `isabelle.ports`, started by us or attached to."""
    cfg = config.isabelle
    launch, imports = _launch(cfg, Path(config.store.home).expanduser() / "logs")
    hammer = HammerSettings(
        heuristics=cfg.heuristics, command=cfg.hammer_command, allow_eval=cfg.allow_eval
    )
    return IsabelleEnvironment(launch, cfg.ports, imports, hammer)
