"""Every shell block in README.md and docs/ runs as documented, in a fresh PROVER_HOME.

A block is a fenced ```bash or ```sh block. The HTML comment right above it may say how to treat
it, e.g. `<!-- doctest: exit 2; expect "not found" -->`, `<!-- doctest: needs lean -->` (also
`isabelle`, `gpu`: run where the tool is detected, else skipped with the reason), or
`<!-- doctest: skip "why" -->` (commands that install software, start servers, or only illustrate).
Blocks run from the repository root, in document order, sharing one fresh $PROVER_HOME per
document (as a reader pasting them would), and must leave the checkout unchanged: demos write
under $PROVER_HOME or a temporary directory, never into the repository.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*doctest:(.*?)-->\s*$")
_NEEDS = ("lean", "isabelle", "gpu")


@dataclass(frozen=True)
class Block:
    """One documented shell block and what the page says to expect of it."""

    path: Path
    line: int
    code: str
    exit: int = 0
    expect: tuple[str, ...] = ()
    skip: str | None = None
    needs: str | None = None
    timeout: float = 180.0

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def _directives(text: str) -> dict[str, object]:
    out: dict[str, object] = {"expect": []}
    # `;` separates directives, except inside a quoted reason or fragment.
    for part in (p.strip() for p in re.findall(r'(?:[^;"]|"(?:\\.|[^"\\])*")+', text)):
        if not part:
            continue
        word, _, rest = part.partition(" ")
        rest = rest.strip()
        if word == "skip":
            out["skip"] = " ".join(shlex.split(rest)) or "illustration"
        elif word == "needs":
            if rest not in _NEEDS:
                raise ValueError(f"doctest: needs takes one of {_NEEDS}, not {rest!r}")
            out["needs"] = rest
        elif word == "exit":
            out["exit"] = int(rest)
        elif word == "expect":
            out["expect"].append(" ".join(shlex.split(rest)))  # type: ignore[union-attr]
        elif word == "timeout":
            out["timeout"] = float(rest)
        else:
            raise ValueError(f"unknown doctest directive {word!r}")
    out["expect"] = tuple(out["expect"])  # type: ignore[arg-type]
    return out


def blocks(path: Path) -> list[Block]:
    """The shell blocks of one Markdown file, with their directives."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start, lang = i, fence.group(1)
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if lang not in ("bash", "sh"):
            continue
        above = lines[start - 1] if start > 0 else ""
        match = _DIRECTIVE.match(above.strip())
        options = _directives(match.group(1)) if match else {}
        found.append(Block(path, start + 1, "\n".join(body), **options))  # type: ignore[arg-type]
    return found


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]


ALL = [b for doc in _documents() for b in blocks(doc)]


def _checkout_state() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout if done.returncode == 0 else ""


# `needs` becomes the tool's marker: conftest skips it, with the reason, where the tool is absent.
_PARAMS = [
    pytest.param(b, id=b.id, marks=[getattr(pytest.mark, b.needs)] if b.needs else []) for b in ALL
]


@pytest.fixture(scope="session")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """One PROVER_HOME per document, shared by its blocks in order, as a reader pasting them."""
    return {}


@pytest.mark.parametrize("block", _PARAMS)
def test_documented_command(
    block: Block, homes: dict[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    if block.skip:
        pytest.skip(f"documented command not run here: {block.skip}")
    if block.path not in homes:
        homes[block.path] = tmp_path_factory.mktemp("doc-home")
    home = homes[block.path]
    scratch = tmp_path_factory.mktemp("doc-tmp")
    env = {
        **os.environ,
        "PROVER_HOME": str(home),
        "TMPDIR": str(scratch),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
    }
    before = _checkout_state()
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", block.code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=block.timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    where = f"{block.id} exited {done.returncode}, expected {block.exit}:\n{output[-3000:]}"
    assert done.returncode == block.exit, where
    for fragment in block.expect:
        assert fragment in output, f"{block.id}: {fragment!r} not in the output:\n{output[-3000:]}"
    assert _checkout_state() == before, f"{block.id} wrote into the checkout"


def test_directives_are_understood() -> None:
    sample = _directives(' exit 2; expect "not; found"; expect ok; needs lean; timeout 30 ')
    assert sample == {
        "exit": 2,
        "expect": ("not; found", "ok"),
        "needs": "lean",
        "timeout": 30.0,
    }
    with pytest.raises(ValueError, match="unknown doctest directive"):
        _directives("sometimes")


def test_every_document_has_been_read() -> None:
    assert len(ALL) >= 10, "the README and docs should document commands"


def test_configuration_reference_is_generated_from_the_config() -> None:
    from prover.config_docs import render

    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == render(), "regenerate: python -m prover.config_docs > docs/configuration.md"
