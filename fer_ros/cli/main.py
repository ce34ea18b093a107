"""``fer-ros``: a small argparse dispatcher; each subcommand lives in its own module of fer_ros.cli.

To add a subcommand, write ``fer_ros/cli/<name>.py`` with

    def add_parser(subparsers) -> argparse.ArgumentParser  # creates the parser, sets func=run
    def run(args: argparse.Namespace) -> int                 # returns the exit status

and add its module name to SUBCOMMANDS. Keep the module's top-level imports light (numpy at most): every
module is imported to build ``fer-ros --help``; import heavy or optional packages (torch, rclpy) inside run().
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from fer_ros import __version__
from fer_ros.core.errors import FerRosError

SUBCOMMANDS: tuple[str, ...] = ("models", "image", "video", "eval", "bench", "train", "run", "bench-ros", "bag")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="fer-ros", description="Facial expression recognition for robots: models, images, videos, ROS 2."
    )
    parser.add_argument("--version", action="version", version=f"fer_ros {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"fer_ros.cli.{name.replace('-', '_')}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fer-ros`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except FerRosError as error:
        print(f"fer-ros {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # standard output closed early (piped into `head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
