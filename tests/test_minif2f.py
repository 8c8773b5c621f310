"""miniF2F loaders: counts, pinned checksums, one Theorem form, cache, download, toolchain check."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchmarks.data
from benchmarks import minif2f, upstream
from benchmarks.categories import CATEGORIES, category
from prover import registry
from prover.cli import main
from prover.config import Config, load_config
from prover.errors import InputError
from prover.types import Language

VARIANTS = ("minif2f-lean4", "minif2f-lean4-deepseek", "minif2f-isabelle")


def _config(**overrides: object) -> Config:
    return load_config(None, {k: v for k, v in overrides.items()})


@pytest.fixture(scope="module")
def data(package_data: Path) -> Path:
    return package_data / "minif2f"


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_has_244_theorems_per_split(name: str, data: Path) -> None:
    bench = registry.load("benchmark", name)(_config(**{"bench.data": str(data)}))
    assert bench.name == name and bench.splits == ("valid", "test")
    for split in bench.splits:
        theorems = bench.theorems(split)
        assert len(theorems) == 244
        assert len({t.name for t in theorems}) == 244
        assert all(t.split == split for t in theorems)
        assert all(category(t.name) in CATEGORIES for t in theorems)
    described = bench.describe()
    assert described["sha256"] == described["pinned_sha256"]
    assert all(len(s["commit"]) == 40 for s in described["sources"])
    with pytest.raises(InputError, match="unknown split 'train'"):
        bench.theorems("train")


def test_the_two_lean_variants_load_into_the_same_theorem_form(data: Path) -> None:
    config = _config(**{"bench.data": str(data)})
    v424 = minif2f.lean4(config)
    v49 = minif2f.lean4_deepseek(config)
    assert (v424.toolchain, v49.toolchain) == ("v4.24.0", "v4.9.0-rc1")
    for split in ("valid", "test"):
        a = {t.name.lower(): t for t in v424.theorems(split)}
        b = {t.name.lower(): t for t in v49.theorems(split)}
        assert set(a) == set(b)  # same problems (one name differs only in case)
        for key in a:
            x, y = a[key], b[key]
            for t in (x, y):
                assert t.language == Language.LEAN4
                assert t.statement.startswith(f"theorem {t.name}")
                assert t.statement.endswith(":= by") and "sorry" not in t.statement
                assert t.header.startswith("import Mathlib")
                assert t.informal_statement and t.informal_proof
                assert t.split == split
            assert set(x.metadata) == set(y.metadata)
            assert x.metadata["category"] == y.metadata["category"]
            assert x.informal_proof == y.informal_proof
            assert x.source.startswith("yangky11/miniF2F-lean4@5746b7d6c478:MiniF2F/")
            assert y.source.startswith("deepseek-ai/DeepSeek-Prover-V1.5@2c4ba9119eef:")
    # The statements themselves differ (v4.24 corrects and re-formats many of DeepSeek's).
    differing = sum(
        " ".join(x.statement.split()) != " ".join(y.statement.split())
        for split in ("valid", "test")
        for x, y in zip(
            sorted(v424.theorems(split), key=lambda t: t.name.lower()),
            sorted(v49.theorems(split), key=lambda t: t.name.lower()),
            strict=True,
        )
    )
    assert differing == 219


def test_isabelle_statements_never_carry_the_shipped_proofs(data: Path) -> None:
    bench = minif2f.isabelle(_config(**{"bench.data": str(data)}))
    theorems = bench.theorems("valid") + bench.theorems("test")
    assert all(t.language == Language.ISABELLE for t in theorems)
    assert all(t.statement.startswith(f"theorem {t.name}") for t in theorems)
    assert all("shows" in t.statement or ":" in t.statement for t in theorems)
    assert not any(t.statement.rstrip().endswith(("sorry", "qed")) for t in theorems)
    assert all("Complex_Main" in t.header or "HOL" in t.header for t in theorems)
    # facebookresearch/miniF2F's isabelle/: 76 valid and 71 test theories ship with a human proof.
    with_proof = Counter(t.split for t in theorems if t.metadata["source_has_proof"])
    assert with_proof == {"valid": 76, "test": 71}


def test_isabelle_parser_reproduces_every_shipped_statement(data: Path) -> None:
    rows = [json.loads(line) for line in (data / "isabelle.jsonl").open(encoding="utf-8")]
    for row in rows:
        parsed = upstream.parse_isabelle_theory(row["formal_theory"])
        assert parsed == {
            "formal_statement": row["formal_statement"],
            "theory_imports": row["theory_imports"],
            "source_has_proof": row["source_has_proof"],
        }, row["name"]


def test_a_checksum_mismatch_is_a_clear_error(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (data / "lean4_v4.24.jsonl").read_text(encoding="utf-8")
    (tmp_path / "lean4_v4.24.jsonl").write_text(text.replace("theorem", "lemma", 1), "utf-8")
    with pytest.raises(InputError) as err:
        minif2f.lean4(_config(**{"bench.data": str(tmp_path)}))
    message = str(err.value)
    assert "checksum mismatch" in message and str(tmp_path / "lean4_v4.24.jsonl") in message
    assert "95cc14cccd4d5537" in message and "yangky11/miniF2F-lean4@5746b7d6" in message
    assert "bench.verify_data=false" in message and "\n" not in message
    # Through the CLI: exit 2 with that one line.
    code = main(["bench", "minif2f-lean4", "--data", str(tmp_path), "--env", "replay", "--list"])
    assert code == 2
    assert "checksum mismatch" in capsys.readouterr().err
    # Opting out loads the modified file and reports its real checksum.
    bench = minif2f.lean4(_config(**{"bench.data": str(tmp_path), "bench.verify_data": False}))
    actual = hashlib.sha256((tmp_path / "lean4_v4.24.jsonl").read_bytes()).hexdigest()
    assert bench.describe()["sha256"] == actual != bench.describe()["pinned_sha256"]


def test_data_path_may_be_the_file_or_a_directory_above_it(data: Path, tmp_path: Path) -> None:
    for given in (data / "isabelle.jsonl", data, data.parent):
        bench = minif2f.isabelle(_config(**{"bench.data": str(given)}))
        assert bench.path == data / "isabelle.jsonl"
    with pytest.raises(InputError, match=r"no isabelle\.jsonl there"):
        minif2f.isabelle(_config(**{"bench.data": str(tmp_path)}))


@pytest.fixture
def no_package_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hide the packaged copies, as for a pin the package does not carry."""
    empty = tmp_path / "no-package-data"
    monkeypatch.setattr(benchmarks.data, "package_data", lambda: empty)
    return empty


def test_the_cache_is_used_before_any_download(
    data: Path, tmp_path: Path, no_package_data: Path
) -> None:
    cache = tmp_path / "data" / "minif2f"
    cache.mkdir(parents=True)
    shutil.copy(data / "isabelle.jsonl", cache / "isabelle.jsonl")
    # An unreachable mirror proves no download is attempted.
    config = _config(**{"store.home": str(tmp_path), "bench.mirror": "http://127.0.0.1:9"})
    bench = minif2f.isabelle(config)
    assert bench.path == cache / "isabelle.jsonl"
    assert len(bench.theorems("test")) == 244


@pytest.mark.parametrize("name", VARIANTS)
def test_the_packaged_copy_is_used_offline_with_nothing_cached(
    name: str, package_data: Path, tmp_path: Path
) -> None:
    # An unreachable mirror proves no download is attempted; the empty home, that no cache is.
    home = tmp_path / "home"
    config = _config(**{"store.home": str(home), "bench.mirror": "http://127.0.0.1:9"})
    bench = registry.load("benchmark", name)(config)
    pinned = minif2f.VARIANTS[name].pinned
    assert bench.path == package_data / "minif2f" / pinned.file
    assert bench.sha256 == pinned.sha256
    assert len(bench.theorems("test")) == 244
    assert not home.exists()


def test_a_packaged_copy_of_another_pin_is_skipped_for_the_cache(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "pkg" / "minif2f"
    other.mkdir(parents=True)
    (other / "isabelle.jsonl").write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(benchmarks.data, "package_data", lambda: other.parent)
    cache = tmp_path / "home" / "data" / "minif2f"
    cache.mkdir(parents=True)
    shutil.copy(data / "isabelle.jsonl", cache / "isabelle.jsonl")
    config = _config(**{"store.home": str(tmp_path / "home"), "bench.mirror": "http://127.0.0.1:9"})
    assert minif2f.isabelle(config).path == cache / "isabelle.jsonl"


def test_the_package_carries_provenance_and_licences_beside_its_data(package_data: Path) -> None:
    for subdir in ("minif2f", "llemma_formal2formal"):
        folder = package_data / subdir
        provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
        licences = sorted(folder.glob("LICENSE*"))
        assert licences, f"no licence beside {folder}"
        for data_file in [*folder.glob("*.jsonl"), *folder.glob("*.json")]:
            if data_file.suffix == ".jsonl":
                assert data_file.name in provenance, f"{data_file.name} has no provenance"
    for pinned in (v.pinned for v in minif2f.VARIANTS.values()):
        assert hashlib.sha256(
            (package_data / "minif2f" / pinned.file).read_bytes()
        ).hexdigest() == (pinned.sha256)


def _tar(path: Path, top: str, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            raw = text.encode("utf-8")
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def _upstream_archives(data: Path, out: Path) -> dict[str, Path]:
    """GitHub-style archives of the three upstream repositories, rebuilt from the packaged data.

    The layouts are the upstream ones: one .lean file per theorem (header + statement), DeepSeek's
    minif2f.jsonl with its own keys, and facebookresearch's isabelle/*.thy and informal/*.json.
    """
    rows = {
        f: [json.loads(line) for line in (data / f).open(encoding="utf-8")]
        for f in ("isabelle.jsonl", "lean4_v4.24.jsonl", "lean4_deepseek_v4.9.jsonl")
    }
    facebook: dict[str, str] = {}
    for r in rows["isabelle.jsonl"]:
        facebook[r["source_path"]] = r["formal_theory"]
        facebook[f"informal/{r['split']}/{r['name']}.json"] = json.dumps(
            {
                "problem_name": r["name"],
                "informal_statement": r["informal_statement"],
                "informal_proof": r["informal_proof"],
            }
        )
    keys = ("name", "split", "informal_prefix", "formal_statement", "goal", "header")
    deepseek = "".join(
        json.dumps({k: r[k] for k in keys}, ensure_ascii=False) + "\n"
        for r in rows["lean4_deepseek_v4.9.jsonl"]
    )
    archives = {
        minif2f.FACEBOOK.repository: ("miniF2F", facebook),
        minif2f.YANGKY11.repository: (
            "miniF2F-lean4",
            {
                r["source_path"]: r["header"] + r["formal_statement"]
                for r in rows["lean4_v4.24.jsonl"]
            },
        ),
        minif2f.DEEPSEEK.repository: (
            "DeepSeek-Prover-V1.5",
            {"datasets/minif2f.jsonl": deepseek, "README.md": "not a dataset\n"},
        ),
    }
    paths = {}
    for repo, (top, files) in archives.items():
        path = out / f"{top}.tar.gz"
        _tar(path, top + "-main", files)
        paths[repo] = path
    return paths


@pytest.fixture
def mirror(data: Path, tmp_path: Path) -> Iterator[tuple[str, dict[str, Path], list[str]]]:
    """A local HTTP server answering /<owner>/<repo>/archive/<commit>.tar.gz like GitHub."""
    archives = _upstream_archives(data, tmp_path)
    commits = {
        s.repository: s.commit for s in (minif2f.FACEBOOK, minif2f.YANGKY11, minif2f.DEEPSEEK)
    }
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            for repo, path in archives.items():
                if self.path == f"/{repo}/archive/{commits[repo]}.tar.gz":
                    body = path.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", archives, served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("name", VARIANTS)
def test_first_use_downloads_and_builds_the_pinned_file(
    name: str,
    mirror: tuple[str, dict[str, Path], list[str]],
    tmp_path: Path,
    no_package_data: Path,
) -> None:
    url, _, served = mirror
    home = tmp_path / "home"
    config = _config(**{"store.home": str(home), "bench.mirror": url, "bench.display": "none"})
    bench = registry.load("benchmark", name)(config)
    pinned = minif2f.VARIANTS[name].pinned
    cached = home / "data" / "minif2f" / pinned.file
    assert bench.path == cached
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == pinned.sha256
    assert len(bench.theorems("valid")) == len(bench.theorems("test")) == 244
    assert served == [s.archive_url()[len("https://github.com") :] for s in pinned.sources]
    served.clear()
    registry.load("benchmark", name)(config)  # second use: from the cache, no request
    assert served == []


def test_download_failures_are_clear_errors(
    mirror: tuple[str, dict[str, Path], list[str]], tmp_path: Path, no_package_data: Path
) -> None:
    url, archives, _ = mirror
    config = _config(**{"store.home": str(tmp_path / "a"), "bench.mirror": url + "/nothing-here"})
    with pytest.raises(InputError, match=r"cannot download .*HTTP 404.*--data PATH"):
        minif2f.isabelle(config)
    # Upstream content that does not match the pin is refused, and nothing is cached.
    _tar(
        archives[minif2f.FACEBOOK.repository],
        "miniF2F-main",
        {
            "isabelle/valid/x.thy": (
                'theory x imports Complex_Main\nbegin\ntheorem x: "True"\n  sorry\nend'
            ),
            "informal/valid/x.json": json.dumps({"problem_name": "x"}),
        },
    )
    home = tmp_path / "b"
    config = _config(**{"store.home": str(home), "bench.mirror": url, "bench.display": "none"})
    with pytest.raises(InputError, match="not the pinned"):
        minif2f.isabelle(config)
    assert not (home / "data" / "minif2f" / "isabelle.jsonl").exists()


def test_a_lean_project_on_another_toolchain_is_refused(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "lean424"
    project.mkdir()
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.24.0\n", encoding="utf-8")
    config = _config(
        **{"bench.data": str(data), "environment": "lean-repl", "lean.project": str(project)}
    )
    minif2f.lean4(config).check_project(config)  # matching toolchain: accepted
    with pytest.raises(InputError) as err:
        minif2f.lean4_deepseek(config).check_project(config)
    message = str(err.value)
    assert "v4.9.0-rc1" in message and "leanprover/lean4:v4.24.0" in message
    assert "lean.project" in message and "minif2f-lean4 which targets it" in message
    # The CLI refuses before building anything (no Lean on this machine), exit 2, one line.
    args = ["bench", "minif2f-lean4-deepseek", "--data", str(data), "--limit", "1"]
    args += ["--env", "lean-repl", "--set", f"lean.project={project}", "--model", "scripted:x"]
    assert main([*args, "--store", str(tmp_path / "home")]) == 2
    err_text = capsys.readouterr().err
    assert "written for Lean v4.9.0-rc1" in err_text and len(err_text.strip().splitlines()) == 1
    # A project without lean-toolchain is refused with the fix, too.
    empty = tmp_path / "empty"
    empty.mkdir()
    no_file = _config(**{"environment": "lean-repl", "lean.project": str(empty)})
    with pytest.raises(InputError, match="no lean-toolchain file"):
        minif2f.lean4(_config(**{"bench.data": str(data)})).check_project(no_file)
    # Environments that do not run in lean.project are not checked.
    replay = _config(**{"environment": "replay", "lean.project": str(empty)})
    minif2f.lean4_deepseek(_config(**{"bench.data": str(data)})).check_project(replay)


def test_list_shows_what_would_run(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bench", "minif2f-isabelle", "--data", str(data), "--split", "valid", "--limit", "3"]
    assert main([*args, "--env", "replay", "--store", str(tmp_path), "--list"]) == 0
    out = capsys.readouterr().out
    assert "facebookresearch/miniF2F@e4f11309" in out
    assert "bb85296083c8f30b2cf1bbeab8f32f18b250ba29535e2846e0dcd8b1373575f5" in out
    listed = [line for line in out.splitlines() if line.startswith("  ") and "[" in line]
    assert len(listed) == 3 and "3 attempt(s) to run" in out


def test_pyproject_ships_every_data_file_in_the_wheel(package_data: Path) -> None:
    # A wheel built from pyproject.toml holds what these globs match (checked once by building
    # one: all 23 files of benchmarks/data/ were in it); here, that no file falls outside them.
    import fnmatch

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    pyproject = tomllib.loads((package_data.parents[1] / "pyproject.toml").read_text("utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["benchmarks"]
    files = [p for p in package_data.rglob("*") if p.is_file()]
    assert len(files) >= 23
    for path in files:
        relative = path.relative_to(package_data.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{relative} would not ship"
