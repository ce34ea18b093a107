"""The ``main()`` of every fer_ros node: init, build, spin, clean up; a start-up error exits with status 1."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException

from fer_ros.core.errors import FerRosError


def run_node(make_node: Callable[[], object], name: str, args: Sequence[str] | None = None) -> int:
    """Spin the node ``make_node()`` builds until SIGINT; returns the process exit status."""
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (FerRosError, ValueError, ParameterException) as error:
        print(f"{name}: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
