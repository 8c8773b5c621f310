"""Theorem locations for LeanDojo: defined in prover/dojo_target.py (benchmarks write them, this
backend reads them), re-exported here for the backend's modules and existing imports."""

from prover.dojo_target import (
    LOCATION_FIELDS,
    METADATA_KEY,
    DojoTarget,
    dojo_theorem,
    target_of,
)

__all__ = ["LOCATION_FIELDS", "METADATA_KEY", "DojoTarget", "dojo_theorem", "target_of"]
