"""The ``xpgrad`` command: ``info`` (more subcommands arrive with training and plugins)."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from . import backend as B


def _info(args) -> int:
    print(f"xpgrad {__version__}")
    print(f"current backend: {B.get_backend()}")
    for name in B.BACKENDS:
        try:
            B.resolve(name)
            state = "available"
        except B.BackendError as e:
            state = f"unavailable ({e})"
        print(f"  {name}: {state}")
    print(f"GPU usable: {'yes' if B.gpu_available() else 'no'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpgrad", description="Neural networks on NumPy or CuPy.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="version, backends available here, whether a GPU is usable").set_defaults(run=_info)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        return _info(args)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
