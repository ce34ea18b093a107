"""``fer-ros models``: list, install (from a local mirror) and fetch (download) the registry's models."""

from __future__ import annotations

import argparse
import sys

from fer_ros.core.errors import FerRosError
from fer_ros.models import registry


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``models`` and its actions."""
    parser = subparsers.add_parser(
        "models",
        help="list, install or fetch the models fer_ros uses",
        description=f"Manage the model cache (now {registry.model_dir()}; set FER_ROS_MODEL_DIR to move it).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="show every registry model and whether it is installed")
    listing.set_defaults(func=run_list)

    install = actions.add_parser(
        "install",
        help="verify and copy models from a local folder (a mirror: ../shared/models, a USB stick, a cache)",
    )
    install.add_argument("--from", dest="source", required=True, metavar="DIR", help="mirror folder")
    install.add_argument("names", nargs="*", metavar="NAME", help="models to install (default: all)")
    install.set_defaults(func=run_install)

    fetch = actions.add_parser("fetch", help="download models from their public addresses (needs internet)")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="models to fetch (default: all downloadable)")
    fetch.add_argument("--timeout", type=float, default=60.0, metavar="S", help="per-download timeout, s")
    fetch.set_defaults(func=run_fetch)

    path = actions.add_parser("path", help="print the file a model name or path resolves to")
    path.add_argument("name", metavar="NAME_OR_PATH")
    path.set_defaults(func=run_path)
    return parser


def run_list(args: argparse.Namespace) -> int:
    """Print a table of the registry with each model's cache status."""
    print(f"model cache: {registry.model_dir()}")
    print(f"{'NAME':<22} {'STATUS':<10} {'LICENCE':<11} FILE")
    for name, entry in registry.REGISTRY.items():
        print(f"{name:<22} {registry.model_status(name):<10} {entry.license:<11} {entry.file}")
    return 0


def _for_each(names: list[str], action, verb: str) -> int:
    failures = 0
    for name in names:
        try:
            path = action(name)
        except FerRosError as error:
            failures += 1
            print(f"{name}: NOT {verb}: {error}", file=sys.stderr)
        else:
            print(f"{name}: {verb} {path}")
    return 1 if failures else 0


def run_install(args: argparse.Namespace) -> int:
    """Install models from a mirror folder; exit status 1 when any is missing there or corrupt."""
    names = args.names or list(registry.REGISTRY)
    for name in names:
        registry.get_entry(name)
    return _for_each(names, lambda name: registry.install_model(name, args.source), "installed")


def run_fetch(args: argparse.Namespace) -> int:
    """Download models; without names, every model that has a public address."""
    names = args.names or [name for name, entry in registry.REGISTRY.items() if entry.urls]
    for name in names:
        registry.get_entry(name)
    return _for_each(names, lambda name: registry.fetch_model(name, timeout_s=args.timeout), "fetched")


def run_path(args: argparse.Namespace) -> int:
    """Print the resolved file of a model argument."""
    print(registry.resolve_model(args.name))
    return 0
