"""The ``main()`` of every fer_ros node: init, build, spin, clean up; a start-up error exits with status 1.

Shutdown is clean however it is asked for: SIGINT to the node alone, SIGINT to the whole process group
(Ctrl-C in a terminal, after which ``ros2 launch`` forwards a second SIGINT), or SIGTERM. rclpy's handlers
turn the first signal into a context shutdown; from then on further SIGINT/SIGTERM are ignored, so that a
second one cannot interrupt the node's own clean-up with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException

from fer_ros.core.errors import FerRosError

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_shutdown_signals() -> None:
    """From now on, SIGINT and SIGTERM do nothing in this process (it is already shutting down)."""
    for signum in SHUTDOWN_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def interrupts_end_quietly() -> Iterator[None]:
    """A KeyboardInterrupt (or rclpy's external shutdown) inside the block ends it without a traceback."""
    try:
        yield
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def run_node(make_node: Callable[[], object], name: str, args: Sequence[str] | None = None) -> int:
    """Spin the node ``make_node()`` builds until SIGINT or SIGTERM; returns the process exit status."""
    node = None
    status = 0
    try:
        with interrupts_end_quietly():
            rclpy.init(args=list(args) if args is not None else sys.argv)
            node = make_node()
            rclpy.spin(node)
    except (FerRosError, ValueError, ParameterException) as error:
        print(f"{name}: error: {error}", file=sys.stderr, flush=True)
        status = 1
    finally:
        ignore_shutdown_signals()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status
