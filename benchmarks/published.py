"""Published results a report compares runs with, and which benchmark names them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.store import RunInfo

# The one published table shipped: miniF2F-test results. A benchmark names it in `describe()`
# ("published") to have its reports compare with it; other benchmarks' reports show none.
PUBLISHED_TABLE = "minif2f-test"


def published_for(infos: Sequence[RunInfo]) -> dict[str, Any]:
    """The published table every run's benchmark names, else nothing."""
    wanted = {i.versions.get("dataset", {}).get("published") for i in infos}
    return published() if wanted == {PUBLISHED_TABLE} else {}


def published() -> dict[str, Any]:
    """benchmarks/published.json: published miniF2F-test results with their sources."""
    text = resources.files("benchmarks").joinpath("published.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
