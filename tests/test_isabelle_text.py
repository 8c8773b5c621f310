"""Isar text helpers, the generated theory, configuration, the committed stubs, and doctor."""

from __future__ import annotations

import filecmp
import re
import zipfile
from pathlib import Path

import pytest
from standins.pisa_setup import fake_isabelle

from environments.isabelle import isar
from environments.isabelle.doctor import checks
from environments.isabelle.settings import DEFAULT_ISABELLE_IMPORTS, IsabelleConfig
from environments.isabelle.theory import (
    THEORY_NAME,
    header,
    import_names,
    missing_imports,
    theory_text,
    write_theory,
)
from prover.config import load_config
from prover.errors import ConfigError, InputError
from prover.types import FailureKind

PROTO_DIR = Path(__file__).resolve().parent.parent / "environments" / "isabelle" / "proto"


def test_strip_comments_handles_nesting_and_keeps_strings():
    text = 'have "a (* not a comment *)" (* one (* two *) one *) by simp'
    # a comment becomes one space, so the words on either side stay apart
    assert isar.strip_comments(text) == 'have "a (* not a comment *)"   by simp'


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("by simp", None),
        ('have "sorry_count = 1" by simp', None),
        ("by simp (* no sorry here *)", None),
        ('have "x = 1" sorry', FailureKind.SORRY),
        ("oops", FailureKind.REJECTED),
        ("ML_val \\<open>()\\<close>", FailureKind.REJECTED),
        ("using [[quick_and_dirty]] by simp", FailureKind.REJECTED),
        ("apply (tactic \\<open>Skip_Proof.cheat_tac @{context} 1\\<close>)", FailureKind.REJECTED),
        ("by (raw_tactic \\<open>all_tac\\<close>)", FailureKind.REJECTED),
        ("by (simp) <apply to top level state> x", FailureKind.REJECTED),
        # found in review: Isabelle's other spelling of sorry, a method named by a string, and a
        # backquoted fact hiding the start of a "string"
        ("\\<proof>", FailureKind.SORRY),
        ("proof -\n  show ?thesis \\<proof>\nqed", FailureKind.SORRY),
        (
            'apply ("tactic" \\<open>Skip_Proof.cheat_tac @{context} 1\\<close>)',
            FailureKind.REJECTED,
        ),
        ('using `"` sorry', FailureKind.SORRY),
        ("by eval", FailureKind.REJECTED),  # the code generator's oracle, off by default
        ("by (normalization)", FailureKind.REJECTED),
    ],
)
def test_screen(text, kind):
    result = isar.screen(text)
    assert (result.kind if result else None) is kind


def test_evaluation_counts_only_when_allowed():
    assert isar.screen("by eval", allow_eval=True) is None
    assert isar.screen('have eval_lemma: "x = x" by simp') is None  # a name, not the method


def test_screen_allows_sorry_for_sketch_gaps_only():
    assert isar.screen("sorry", allow_sorry=True) is None
    assert isar.screen("oops", allow_sorry=True).kind is FailureKind.REJECTED


def test_gaps_and_gap_words():
    assert isar.is_gap("sledgehammer\n  (* the informal step *)\n")
    assert isar.is_gap("  hammer ")
    assert not isar.is_gap("by simp")
    assert isar.is_gap("delhammer x", ("delhammer x",))
    assert isar.with_gap_word('have h: "a" normalhammer\n hammer', "normalhammer") == (
        'have h: "a" sledgehammer\n sledgehammer'
    )


def test_statement_detection_and_comparison():
    assert isar.is_statement('(* c *) theorem t: "a"')
    assert isar.is_statement('lemma foo:\n  shows "a"')
    assert not isar.is_statement('have "a"')
    assert isar.same_statement('theorem t:\n  shows "a"', 'theorem t: (* x *) shows   "a"')
    assert not isar.same_statement('theorem t: shows "a"', 'theorem t: shows "b"')


def test_assemble_one_step_per_line():
    assert isar.assemble(["proof -", "  ", ' have "a" by simp ', "qed"]) == (
        'proof -\nhave "a" by simp\nqed'
    )


def test_import_names_from_headers_and_theory_imports():
    assert import_names('Complex_Main "HOL-Computational_Algebra.Computational_Algebra"') == (
        "Complex_Main",
        "HOL-Computational_Algebra.Computational_Algebra",
    )
    assert import_names(
        'theory X imports\n  Main (* c *) "HOL-Library.Sum_of_Squares"\nbegin\nend'
    ) == (
        "Main",
        "HOL-Library.Sum_of_Squares",
    )
    assert import_names("") == ()


def test_missing_imports_knows_what_complex_main_brings():
    loaded = DEFAULT_ISABELLE_IMPORTS
    assert missing_imports(["Main", "HOL.HOL", '"HOL-Number_Theory.Number_Theory"'], loaded) == []
    assert missing_imports(["HOL-Analysis.Analysis"], loaded) == ["HOL-Analysis.Analysis"]


def test_every_minif2f_header_parses_and_only_afp_or_analysis_is_missing(package_data):
    import json

    rows = [json.loads(line) for line in (package_data / "minif2f" / "isabelle.jsonl").open()]
    missing = {
        m
        for r in rows
        for m in missing_imports(import_names(r["theory_imports"]), DEFAULT_ISABELLE_IMPORTS)
    }
    assert len(rows) == 488
    assert missing == {"Symmetric_Polynomials.Vieta", "HOL-Analysis.Analysis"}


def test_generated_theory_text_and_file(tmp_path):
    text = theory_text(["HOL.HOL", "Complex_Main", "HOL-Library.Sum_of_Squares"])
    assert (
        f'theory {THEORY_NAME} imports HOL.HOL Complex_Main "HOL-Library.Sum_of_Squares" begin'
        in text
    )
    assert text.rstrip().endswith("end")
    path = write_theory(tmp_path, DEFAULT_ISABELLE_IMPORTS)
    assert (
        path.name == f"{THEORY_NAME}.thy" and header(DEFAULT_ISABELLE_IMPORTS) in path.read_text()
    )
    mtime = path.stat().st_mtime_ns
    assert (
        write_theory(tmp_path, DEFAULT_ISABELLE_IMPORTS) == path
        and path.stat().st_mtime_ns == mtime
    )
    write_theory(tmp_path, ("Main",))  # ours: rewritten when the imports change
    assert "imports Main begin" in path.read_text()


def test_generated_theory_never_overwrites_a_users_file(tmp_path):
    (tmp_path / f"{THEORY_NAME}.thy").write_text("theory Prover_Interactive imports Main begin end")
    with pytest.raises(InputError, match="not written by prover"):
        write_theory(tmp_path, DEFAULT_ISABELLE_IMPORTS)


def test_config_paths_default_from_the_environment(monkeypatch):
    monkeypatch.setenv("PISA_JAR", "/opt/pisa.jar")
    monkeypatch.setenv("ISABELLE_PATH", "/opt/Isabelle2022")
    cfg = load_config(None, {}).section("isabelle")
    assert (cfg.jar, cfg.isabelle_path) == ("/opt/pisa.jar", "/opt/Isabelle2022")
    assert load_config(None, {"isabelle.jar": "/x.jar"}).section("isabelle").jar == "/x.jar"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("isabelle.ports", [], "at least one port"),
        ("isabelle.ports", [8000, 8000], "each once"),
        ("isabelle.ports", [70000], "TCP ports"),
        ("isabelle.step_timeout", 0, "step_timeout"),
        ("isabelle.hammer_timeout", float("inf"), "hammer_timeout"),
    ],
)
def test_config_validation(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {key: value})


def _without_versions(text: str) -> str:
    """Generated code minus the toolchain versions it records (they differ between machines)."""
    text = re.sub(r"ValidateProtobufRuntimeVersion\([^)]*\)", "", text)
    return re.sub(r".*(Protobuf Python Version|GRPC_GENERATED_VERSION =).*\n", "", text)


def test_committed_stubs_match_a_fresh_regeneration(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the [dev] extra) regenerates stubs")
    from environments.isabelle.proto.regenerate import regenerate

    for fresh in regenerate(tmp_path):
        committed = PROTO_DIR / fresh.name
        if filecmp.cmp(fresh, committed, shallow=False):
            continue
        # another grpcio-tools version: the code must still be the same
        assert _without_versions(fresh.read_text()) == _without_versions(committed.read_text())


def test_stubs_import_as_a_package_and_carry_pisas_method_paths():
    from environments.isabelle.proto import server_pb2, server_pb2_grpc

    grpc_source = (PROTO_DIR / "server_pb2_grpc.py").read_text()
    assert "from environments.isabelle.proto import server_pb2" in grpc_source
    assert "\nimport server_pb2" not in grpc_source
    service = server_pb2.DESCRIPTOR.services_by_name["Server"]
    assert service.full_name == "server.Server"
    assert [m.name for m in service.methods] == [
        "InitialiseIsabelle",
        "IsabelleContext",
        "IsabelleWorkingDirectory",
        "IsabelleCommand",
        "IsabelleSetSearchWidth",
        "IsabelleSearchIndexCommand",
    ]
    fields = {
        name: [(f.name, f.number) for f in message.fields]
        for name, message in server_pb2.DESCRIPTOR.message_types_by_name.items()
    }
    assert fields == {
        "IsaPath": [("path", 1)],
        "IsaContext": [("context", 1)],
        "IsaMessage": [("message", 1)],
        "IsaCommand": [("command", 1)],
        "IsaState": [("state", 1)],
        "IsaSearchWidth": [("width", 1)],
        "IsaSearchIndexCommand": [("index", 1), ("command", 2)],
    }
    assert hasattr(server_pb2_grpc, "ServerStub")


def _jar(path: Path, ports: list[int]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for port in ports:
            archive.writestr(f"pisa/server/PisaOneStageServer{port}.class", b"")
    return path


def test_doctor_reports_each_missing_piece_with_its_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ISABELLE_HOME_USER", str(tmp_path / "user"))
    cfg = IsabelleConfig(java=str(tmp_path / "no-java"), jar="", isabelle_path="")
    by_name = {c.name: c for c in checks(cfg)}
    assert by_name["isabelle: gRPC stubs"].ok
    assert not by_name["isabelle: java"].ok and "openjdk" in by_name["isabelle: java"].fix
    assert (
        not by_name["isabelle: PISA jar"].ok and "sbt assembly" in by_name["isabelle: PISA jar"].fix
    )
    isabelle = by_name["isabelle: Isabelle"]
    assert not isabelle.ok and "Isabelle2022_linux.tar.gz" in isabelle.fix
    assert not any(c.required for c in by_name.values())


def test_doctor_checks_jar_classes_and_heaps(tmp_path, monkeypatch):
    home = fake_isabelle(tmp_path)
    user = tmp_path / "user"
    monkeypatch.setenv("ISABELLE_HOME_USER", str(user))
    heaps = user / "heaps" / "polyml-5.9_x86_64_32-linux"
    heaps.mkdir(parents=True)
    (heaps / "HOL").write_bytes(b"heap")
    jar = _jar(tmp_path / "PISA-assembly-0.1.jar", [8000, 9000])
    cfg = IsabelleConfig(java="sh", jar=str(jar), isabelle_path=str(home), ports=(8000, 9000))
    by_name = {c.name: c for c in checks(cfg)}
    assert by_name["isabelle: java"].ok and by_name["isabelle: PISA jar"].ok
    assert by_name["isabelle: Isabelle"].ok and by_name["isabelle: heap HOL"].ok
    examples = by_name["isabelle: heap HOL-Examples"]
    assert not examples.ok and f"isabelle build -b -D {home}/src/HOL" in examples.fix
    assert by_name["isabelle: theory file"].ok
    wrong_port = {c.name: c for c in checks(IsabelleConfig(jar=str(jar), ports=(8123,)))}
    assert "no server class for port(s) 8123" in wrong_port["isabelle: PISA jar"].detail


async def test_doctor_in_attach_mode_checks_the_ports(tmp_path):
    from standins.pisa_scripted import serve
    from standins.pisa_setup import free_port

    server, port, _ = await serve()
    try:
        idle = free_port()
        cfg = IsabelleConfig(start=False, isabelle_path="", ports=(port, idle))
        by_name = {c.name: c for c in checks(cfg)}
        assert by_name[f"isabelle: server :{port}"].ok
        assert not by_name[f"isabelle: server :{idle}"].ok
        assert f"PisaOneStageServer{idle}" in by_name[f"isabelle: server :{idle}"].fix
        assert "isabelle: java" not in by_name
    finally:
        await server.stop(None)


def test_doctor_is_registered_as_an_entry_point():
    from prover import registry

    entry = {e.name: e for e in registry.entries("check")}["isabelle"]
    assert entry.load() is checks
