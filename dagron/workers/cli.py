"""Command lines: ``dagron-worker`` (a worker host) and ``dagron keygen`` (CURVE keys).

argparse, from the standard library, is all these two small commands need.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from .._sizes import parse_size

__all__ = ["dagron_main", "worker_main"]


def _size(text: str) -> int:
    """``"2GB"``, ``"512MiB"``, ``"1000000"`` -> bytes."""
    try:
        return parse_size(text, "a size")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4GB, 512MiB)") from None


def worker_main(argv: Optional[list[str]] = None) -> int:
    """``dagron-worker ADDRESS --nprocs N --keys DIR``: run worker processes for a coordinator."""
    parser = argparse.ArgumentParser(
        prog="dagron-worker",
        description="Run dagron worker processes that join the coordinator at ADDRESS.",
    )
    parser.add_argument("address", help="the coordinator, e.g. tcp://10.0.0.5:7878")
    parser.add_argument("--nprocs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--keys", help="directory made by `dagron keygen` (required off-host)")
    parser.add_argument("--name", help="name shown for these workers (default host/pid)")
    parser.add_argument("--memory-limit", type=_size, help="per worker, e.g. 4GB")
    parser.add_argument(
        "--death-timeout",
        type=float,
        default=60.0,
        help="exit when the coordinator is unreachable this long (seconds, default 60)",
    )
    parser.add_argument("--heartbeat", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from .security import is_loopback_endpoint

    if args.keys is None and not is_loopback_endpoint(args.address):
        parser.error(
            f"refusing to connect to {args.address} without --keys: the coordinator would "
            "be unauthenticated (create keys with `dagron keygen DIR`)"
        )
    if args.nprocs < 1:
        parser.error("--nprocs must be at least 1")
    if args.keys is not None:
        from ..errors import SecurityError
        from .security import load_worker_keys

        try:  # here, once: not in every worker process, over and over
            load_worker_keys(args.keys)
        except SecurityError as exc:
            print(f"dagron-worker: {exc}", file=sys.stderr, flush=True)
            return 2
    from .nanny import WorkerNanny

    nanny = WorkerNanny(
        args.address,
        args.nprocs,
        keys=args.keys,
        name=args.name,
        memory_limit=args.memory_limit,
        death_timeout=args.death_timeout,
        heartbeat=args.heartbeat,
    )
    return nanny.run()


def dagron_main(argv: Optional[list[str]] = None) -> int:
    """``dagron keygen DIR``."""
    parser = argparse.ArgumentParser(prog="dagron", description="dagron command-line tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="create CURVE keys for a coordinator and its workers")
    keygen.add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        from .security import generate_keys

        d = generate_keys(args.directory)
        print(f"keys in {d}: coordinator.key(_secret), worker.key(_secret)")
        print("copy the directory to the worker hosts; keep it private (mode 0700)")
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
