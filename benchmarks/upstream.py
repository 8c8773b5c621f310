"""Building our normalised miniF2F JSONL files from the pinned upstream repository archives.

Each builder reads GitHub source archives (`.tar.gz` of one commit) without extracting them and
returns the JSONL text byte for byte as the project pins it: one JSON object per line
(`json.dumps(row, ensure_ascii=False)`), keys in a fixed order, valid split first. Informal
statements and proofs come from facebookresearch/miniF2F `informal/`, joined by name (ignoring
case: one Lean file spells `notEquiv` where the informal file spells `notequiv`).
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prover.errors import InputError

SPLITS = ("valid", "test")

_LEAN_DECL = re.compile(r"^(?:theorem|lemma)\s", re.MULTILINE)
_ISA_THEORY = re.compile(r"\btheory\s+\S+\s+imports\s+(.*?)\s*\bbegin\b", re.DOTALL)
_ISA_DECL = re.compile(r"^\s*(?:theorem|lemma)\b", re.MULTILINE)
# Words that start a proof after an Isabelle statement (outside strings, cartouches, comments).
_ISA_PROOF_START = ("sorry", "oops", "proof", "by", "using", "unfolding", "apply", "including")


def archive_files(archive: Path, prefix: str, suffix: str) -> Iterator[tuple[str, str]]:
    """(path inside the repository, text) of each file under `prefix` ending in `suffix`."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                # GitHub archives hold one top-level directory `<repo>-<commit>/`.
                _, _, inner = member.name.partition("/")
                if not inner.startswith(prefix) or not inner.endswith(suffix):
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                yield inner, handle.read().decode("utf-8")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(
            f"cannot read the downloaded archive {archive} ({exc}); delete it and retry"
        ) from exc


def informal_index(facebook_archive: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(split, lower-cased name) → {informal_statement, informal_proof} from `informal/`."""
    index: dict[tuple[str, str], dict[str, str]] = {}
    for path, text in archive_files(facebook_archive, "informal/", ".json"):
        parts = path.split("/")
        if len(parts) != 3 or parts[1] not in SPLITS:
            continue
        data = json.loads(text)
        name = data.get("problem_name") or Path(parts[2]).stem
        index[(parts[1], name.lower())] = {
            "informal_statement": data.get("informal_statement", ""),
            "informal_proof": data.get("informal_proof", ""),
        }
    return index


def _informal(index: Mapping[tuple[str, str], dict[str, str]], split: str, name: str) -> Any:
    found = index.get((split, name.lower()))
    if found is None:
        raise InputError(f"no informal statement for {split}/{name} in facebookresearch/miniF2F")
    return found


def split_lean_file(text: str) -> tuple[str, str]:
    """(header, statement) of a one-theorem Lean file: everything before `theorem` is header."""
    match = _LEAN_DECL.search(text)
    if match is None:
        raise InputError("no `theorem` declaration in a miniF2F Lean file")
    return text[: match.start()], text[match.start() :]


def _isabelle_proof_start(text: str, start: int) -> tuple[int, str]:
    """Offset and keyword of the first proof command after `start`, skipping strings/comments."""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = text.find('"', i + 1)
            if i < 0:
                break
            i += 1
            continue
        if text.startswith("(*", i):
            end = text.find("*)", i + 2)
            i = n if end < 0 else end + 2
            continue
        if text.startswith("\\<open>", i):
            end = text.find("\\<close>", i)
            i = n if end < 0 else end + len("\\<close>")
            continue
        if ch.isalpha() and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_.'")):
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_'"):
                j += 1
            word = text[i:j]
            if word in _ISA_PROOF_START:
                return i, word
            i = j
            continue
        i += 1
    raise InputError("no proof (or sorry) after the statement in a miniF2F Isabelle theory")


def parse_isabelle_theory(text: str) -> dict[str, Any]:
    """The statement, the imports and whether a human proof is present, from a miniF2F .thy."""
    imports = _ISA_THEORY.search(text)
    decl = _ISA_DECL.search(text, imports.end() if imports else 0)
    if imports is None or decl is None:
        raise InputError("a miniF2F Isabelle theory without `theory … imports … begin … theorem`")
    begin = decl.start() + (len(decl.group(0)) - len(decl.group(0).lstrip()))
    offset, keyword = _isabelle_proof_start(text, begin + len("theorem"))
    return {
        "formal_statement": text[begin:offset].rstrip(),
        "theory_imports": " ".join(imports.group(1).split()),
        "source_has_proof": keyword not in ("sorry", "oops"),
    }


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def build_lean4(lean_archive: Path, facebook_archive: Path) -> str:
    """yangky11/miniF2F-lean4: one file per theorem under MiniF2F/{Valid,Test}/."""
    informal = informal_index(facebook_archive)
    by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for path, text in archive_files(lean_archive, "MiniF2F/", ".lean"):
        parts = path.split("/")
        if len(parts) != 3 or parts[1].lower() not in SPLITS:
            continue
        split = parts[1].lower()
        name = Path(parts[2]).stem
        header, statement = split_lean_file(text)
        by_split[split].append(
            {
                "name": name,
                "split": split,
                "formal_statement": statement,
                "header": header,
                **_informal(informal, split, name),
                "source_path": path,
            }
        )
    return _jsonl([row for split in SPLITS for row in sorted(by_split[split], key=_name)])


def build_lean4_deepseek(deepseek_archive: Path, facebook_archive: Path) -> str:
    """DeepSeek-Prover-V1.5 `datasets/minif2f.jsonl`, in its order, with informal text added.

    The informal statement is DeepSeek's own (their `/-- … -/` prefix without the delimiters,
    which differs from facebookresearch's text for two problems); the informal proof is
    facebookresearch's.
    """
    informal = informal_index(facebook_archive)
    found = [text for path, text in archive_files(deepseek_archive, "datasets/", "minif2f.jsonl")]
    if len(found) != 1:
        raise InputError("datasets/minif2f.jsonl is missing from the DeepSeek-Prover archive")
    rows = []
    for line in found[0].splitlines():
        if not line.strip():
            continue
        src = json.loads(line)
        rows.append(
            {
                "name": src["name"],
                "split": src["split"],
                "formal_statement": src["formal_statement"],
                "header": src["header"],
                "informal_statement": _doc_comment_text(src["informal_prefix"]),
                "informal_proof": _informal(informal, src["split"], src["name"])["informal_proof"],
                "informal_prefix": src["informal_prefix"],
                "goal": src["goal"],
            }
        )
    return _jsonl(rows)


def build_isabelle(facebook_archive: Path) -> str:
    """facebookresearch/miniF2F `isabelle/{valid,test}/*.thy`, statement split from the proof."""
    informal = informal_index(facebook_archive)
    by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for path, text in archive_files(facebook_archive, "isabelle/", ".thy"):
        parts = path.split("/")
        if len(parts) != 3 or parts[1] not in SPLITS:
            continue
        split = parts[1]
        name = Path(parts[2]).stem
        parsed = parse_isabelle_theory(text)
        by_split[split].append(
            {
                "name": name,
                "split": split,
                "formal_statement": parsed["formal_statement"],
                "theory_imports": parsed["theory_imports"],
                "formal_theory": text,
                "source_has_proof": parsed["source_has_proof"],
                **_informal(informal, split, name),
                "source_path": path,
            }
        )
    return _jsonl([row for split in SPLITS for row in sorted(by_split[split], key=_name)])


def _doc_comment_text(prefix: str) -> str:
    text = prefix.strip()
    if text.startswith("/--"):
        text = text[3:]
    if text.endswith("-/"):
        text = text[:-2]
    return text.strip()


def _name(row: Mapping[str, Any]) -> str:
    return str(row["name"])
