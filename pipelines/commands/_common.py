"""Arguments shared by every command."""
from __future__ import annotations

import argparse
from pathlib import Path

from config import default_home


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="folder holding the warehouse and its state (default: $CDP_HOME, else ./cdp_home)",
    )


def resolve_home(args: argparse.Namespace) -> Path:
    return Path(args.home) if getattr(args, "home", None) else default_home()
