"""Helpers shared by `cdp profiles`, `cdp segments` and `cdp export`: run lock, flow or direct call."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path


def add_flow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-flow", action="store_true",
                        help="call the steps directly instead of through the Prefect flow (no local server start)")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help="seconds to wait for another cdp run holding the home folder (default 600)")


@contextlib.contextmanager
def home_run_lock(home: Path, wait_seconds: float, command: str):
    """Hold the home's run lock when the lock module is installed, so two runs never collide."""
    try:
        from warehouse.lock import home_lock
    except ImportError:  # pragma: no cover - the lock module ships with the warehouse package
        yield
        return
    with home_lock(home, wait_seconds=wait_seconds, command=command):
        yield


def locked_error_exit(exc: Exception, command: str) -> int:
    print(f"cdp {command}: {exc}", file=sys.stderr)
    return 3
