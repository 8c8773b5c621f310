"""Regenerate server_pb2.py and server_pb2_grpc.py from server.proto with grpcio-tools.

Run from anywhere: `python -m environments.isabelle.proto.regenerate [--out DIR]`. The .proto is
compiled with the repository root as include path, so the generated gRPC stub imports its messages
as `environments.isabelle.proto.server_pb2` (a package import, not PISA's top-level `server_pb2`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO = Path(__file__).resolve().parent / "server.proto"
ROOT = PROTO.parents[3]  # the directory that holds the `environments` package


def regenerate(out: Path = ROOT) -> list[Path]:
    """Compile server.proto into `out` (the repository root by default); returns the files."""
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise SystemExit("grpcio-tools is missing; fix: pip install 'prover[dev]'") from exc
    out.mkdir(parents=True, exist_ok=True)
    relative = PROTO.relative_to(ROOT).as_posix()
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            relative,
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code} on {relative}")
    target = out / PROTO.parent.relative_to(ROOT)
    return [target / "server_pb2.py", target / "server_pb2_grpc.py"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repo)")
    args = parser.parse_args(argv)
    for path in regenerate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
