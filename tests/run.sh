#!/usr/bin/env bash
# The test command: builds .venv from scratch, installs the CPU build of torch and the [dev]
# extra, lints, and runs pytest. Extra arguments go to pytest (e.g. tests/test_search.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
# Pin torch first: an unpinned torch pulls a multi-GB CUDA build. TORCH_INDEX_URL lets a machine
# point pip at a CPU wheel index; where pip already has the CPU wheel locally it is not needed.
.venv/bin/pip install --quiet ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==2.13.0"
.venv/bin/pip install --quiet -e ".[dev]"
.venv/bin/python -c 'import torch; print("torch", torch.__version__, "cuda:", torch.version.cuda)'

# bubblewrap sandboxes every proof-assistant process (its tests run the real bwrap); headless
# Chromium renders the HTML report in one test. Install them where we may (Debian, root).
missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # shellcheck disable=SC2086
    (apt-get update -qq && apt-get install -y -qq $missing >/dev/null) \
        || echo "could not install$missing; tests that need them will be skipped" >&2
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the layer contracts in pyproject.toml [tool.importlinter]
# The documentation site builds with no broken link or reference.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet -d "$(mktemp -d)"

# In CI, print the performance figures (simulated Lean workers and GPU; about a minute). They are
# informational here: the virtual-clock figures are exact, the real-clock ones depend on load.
if [ -n "${CI:-}" ]; then
    .venv/bin/python -m benchmarks.perf ci
fi

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$status"
