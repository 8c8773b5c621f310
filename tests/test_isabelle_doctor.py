"""`prover doctor --config/--set` checks the Isabelle ports, servers and judge a run would use."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from standins.pisa_setup import fake_isabelle, free_port, pisa_in_thread

from prover.cli import main


def _isabelle_lines(capsys: pytest.CaptureFixture[str], *assignments: str) -> dict[str, dict]:
    args = ["doctor", "--json"]
    for assignment in assignments:
        args += ["--set", assignment]
    main(args)
    rows = json.loads(capsys.readouterr().out)
    return {row["name"]: row for row in rows if row["name"].startswith("isabelle")}


def test_doctor_checks_the_servers_a_run_would_attach_to(tmp_path: Path, capsys):
    home = fake_isabelle(tmp_path)
    silent = free_port()
    with pisa_in_thread() as port:
        lines = _isabelle_lines(
            capsys,
            "isabelle.start=false",
            f"isabelle.ports=[{port},{silent}]",
            f"isabelle.isabelle_path={home}",
            'isabelle.judge="pisa"',
        )
    assert lines[f"isabelle: server :{port}"]["ok"] is True
    assert lines[f"isabelle: server :{silent}"]["ok"] is False
    assert lines["isabelle: judge"]["ok"] and "pisa" in lines["isabelle: judge"]["detail"]


def test_doctor_checks_the_ports_we_would_start_on_and_the_build_judge(tmp_path: Path, capsys):
    config = tmp_path / "run.toml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        free = free_port()
        config.write_text(f"[isabelle]\nports = [{used}, {free}]\n", encoding="utf-8")
        main(["doctor", "--json", "--config", str(config), "--set", "isabelle.isabelle_path="])
        rows = json.loads(capsys.readouterr().out)
    lines = {row["name"]: row for row in rows}
    assert lines[f"isabelle: port {used}"]["ok"] is False
    assert "in use" in lines[f"isabelle: port {used}"]["detail"]
    assert lines[f"isabelle: port {free}"]["ok"] is True
    judge = lines["isabelle: judge"]
    assert judge["ok"] is False and 'isabelle.judge="pisa"' in judge["fix"]


def test_doctor_refuses_a_bad_setting_with_exit_2(capsys):
    assert main(["doctor", "--set", "isabelle.judge=kernel"]) == 2
    assert "isabelle.judge must be 'build' or 'pisa'" in capsys.readouterr().err
