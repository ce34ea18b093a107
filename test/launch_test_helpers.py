"""Checks shared by the launch_testing tests (imported after ``pytest.importorskip("launch_testing")``)."""

from __future__ import annotations

import unittest

import launch_testing
import launch_testing.asserts
from ros_tools_helpers import tracebacks


@launch_testing.post_shutdown_test()
class TestCleanShutdown(unittest.TestCase):
    """After launch_testing shut the graph down: every process exited with 0 and printed no traceback."""

    def test_exit_codes(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_no_traceback(self, proc_output) -> None:
        for process in proc_output.processes():
            text = "".join(event.text.decode(errors="replace") for event in proc_output[process])
            self.assertFalse(tracebacks(text), f"{process.process_details['name']}:\n{text[-3000:]}")
