"""`prover doctor` checks for Isabelle: Java, the PISA jar, Isabelle, its heaps, our stubs, the
ports and servers a run would use, and the judge.

They read the run's `[isabelle]` section (`prover doctor --config/--set`), by default the
defaults, i.e. PISA_JAR and ISABELLE_PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import zipfile
from pathlib import Path

from environments.isabelle.server import MAIN_CLASS
from environments.isabelle.settings import IsabelleConfig
from prover.doctor import Check

_PISA_BUILD = (
    "git clone https://github.com/wellecks/Portal-to-ISAbelle && cd Portal-to-ISAbelle && "
    "git checkout aa5a06d217af4b04f4ae573836b52572da0858f6 && sbt compile && sbt assembly && "
    "export PISA_JAR=$PWD/target/scala-2.13/PISA-assembly-0.1.jar"
)
_ISABELLE_GET = (
    "wget https://isabelle.in.tum.de/website-Isabelle2022/dist/Isabelle2022_linux.tar.gz && "
    "tar -xzf Isabelle2022_linux.tar.gz -C ~ && export ISABELLE_PATH=~/Isabelle2022"
)


def checks(config: IsabelleConfig | None = None) -> list[Check]:
    """One line each: stubs, java, jar (with a class per port), Isabelle, heaps, the ports (free
    when we start servers, answering when we attach), the judge."""
    cfg = config or IsabelleConfig()
    out = [_stubs()]
    if cfg.start:
        out += [_java(cfg), _jar(cfg)]
    out += _isabelle(cfg)
    if cfg.start:
        out += [_free(cfg.host, port) for port in cfg.ports]
    else:
        out += [_listening(cfg.host, port) for port in cfg.ports]
    out.append(_judge(cfg))
    return out


def _judge(cfg: IsabelleConfig) -> Check:
    name = "isabelle: judge"
    if cfg.judge == "pisa":
        return Check(name, True, "pisa: proofs are re-run on a fresh PISA state (isabelle-pisa)")
    home = Path(cfg.isabelle_path).expanduser() if cfg.isabelle_path else None
    if home is None or not (home / "bin" / "isabelle").is_file():
        return Check(
            name,
            False,
            "build: no local Isabelle, so every proof would be an error (not judged)",
            f'{_ISABELLE_GET}   # or judge through PISA: --set isabelle.judge="pisa"',
        )
    heap = _heap(home, cfg.judge_logic)
    return Check(
        name,
        heap is not None,
        f"build: isabelle process -l {cfg.judge_logic} ({heap or 'heap not built'})",
        f"{home}/bin/isabelle build -b {cfg.judge_logic}   # or set isabelle.judge_logic",
    )


def _stubs() -> Check:
    try:
        from environments.isabelle.client import load_stubs

        load_stubs()
    except Exception as exc:
        return Check("isabelle: gRPC stubs", False, str(exc), "pip install 'prover[isabelle]'")
    return Check("isabelle: gRPC stubs", True, "environments/isabelle/proto imports")


def _java(cfg: IsabelleConfig) -> Check:
    found = shutil.which(cfg.java)
    return Check(
        "isabelle: java",
        found is not None,
        found or f"'{cfg.java}' not on PATH",
        "apt-get install openjdk-17-jre-headless (PISA needs Java 11+), or set isabelle.java",
    )


def _jar(cfg: IsabelleConfig) -> Check:
    name = "isabelle: PISA jar"
    if not cfg.jar:
        return Check(name, False, "PISA_JAR is not set", _PISA_BUILD)
    jar = Path(cfg.jar).expanduser()
    if not jar.is_file():
        return Check(name, False, f"{jar} not found", _PISA_BUILD)
    try:
        with zipfile.ZipFile(jar) as archive:
            entries = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        return Check(name, False, f"{jar} is not a jar ({exc})", _PISA_BUILD)
    path = MAIN_CLASS.replace(".", "/")
    missing = [p for p in cfg.ports if f"{path}{p}.class" not in entries]
    if missing:
        return Check(
            name,
            False,
            f"{jar} has no server class for port(s) {', '.join(map(str, missing))}",
            "use ports the jar defines (8000-8200, 9000, 10000, 11000, 12000 in PISA) "
            "via --set isabelle.ports=[...]",
        )
    return Check(name, True, f"{jar} (server classes for ports {list(cfg.ports)})")


def _isabelle(cfg: IsabelleConfig) -> list[Check]:
    name = "isabelle: Isabelle"
    if not cfg.isabelle_path:
        return [Check(name, False, "ISABELLE_PATH is not set", _ISABELLE_GET)]
    home = Path(cfg.isabelle_path).expanduser()
    if not (home / "bin" / "isabelle").is_file():
        return [Check(name, False, f"{home} has no bin/isabelle", _ISABELLE_GET)]
    checks = [Check(name, True, f"{home} ({home.name})")]
    workdir = Path(cfg.working_directory or home / "src" / "HOL" / "Examples").expanduser()
    build = f"{home}/bin/isabelle build -b -D {home}/src/HOL -j {os.cpu_count() or 4}"
    for session in ("HOL", _session_of(workdir, home)):
        if session is None:
            continue
        heap = _heap(home, session)
        checks.append(
            Check(
                f"isabelle: heap {session}",
                heap is not None,
                str(heap) if heap else "not built",
                f"{build}   # the HOL heaps take ~8 CPU-hours",
            )
        )
    target = Path(cfg.theory_file).expanduser() if cfg.theory_file else workdir
    writable = target.is_file() if cfg.theory_file else os.access(workdir, os.W_OK)
    checks.append(
        Check(
            "isabelle: theory file",
            writable,
            f"{target}" if writable else f"{target} missing or not writable",
            "make isabelle.working_directory writable or set isabelle.theory_file",
        )
    )
    return checks


def _session_of(workdir: Path, home: Path) -> str | None:
    """The session PISA starts for a working directory inside Isabelle's src/ (HOL/Examples →
    HOL-Examples); None outside it."""
    try:
        relative = workdir.resolve().relative_to((home / "src").resolve())
    except ValueError:
        return None
    return "-".join(relative.parts) or None


def _heap(home: Path, session: str) -> Path | None:
    """The heap file of `session` in the user's or the distribution's heap directory."""
    user = Path(os.environ.get("ISABELLE_HOME_USER", Path.home() / ".isabelle" / home.name))
    for base in (user / "heaps", home / "heaps"):
        for candidate in sorted(base.glob(f"polyml-*/{session}")):
            if candidate.is_file():
                return candidate
    return None


def _free(host: str, port: int) -> Check:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host if host != "localhost" else "127.0.0.1", port))
            ok, detail = True, f"{host}:{port} is free for the PISA server we start"
        except OSError as exc:
            ok, detail = False, f"{host}:{port} is in use ({exc.strerror or exc})"
    return Check(
        f"isabelle: port {port}",
        ok,
        detail,
        "choose free ports (--set isabelle.ports=[...]) or attach: --set isabelle.start=false",
    )


def _listening(host: str, port: int) -> Check:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            ok, detail = True, f"{host}:{port} accepts connections"
    except OSError as exc:
        ok, detail = False, f"{host}:{port}: {exc.strerror or exc}"
    return Check(
        f"isabelle: server :{port}",
        ok,
        detail,
        f"start it: java -cp $PISA_JAR {MAIN_CLASS}{port}  (or set isabelle.start=true)",
    )
