"""``/diagnostics`` for the nodes: a :class:`~fer_ros.core.health.HealthReport` as a DiagnosticStatus."""

from __future__ import annotations

from fer_ros.core.health import HealthReport


def to_diagnostic_status(report: HealthReport, name: str, hardware_id: str = ""):
    """A diagnostic_msgs/DiagnosticStatus carrying the report."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    status = DiagnosticStatus()
    status.level = bytes([report.level])
    status.name = name
    status.message = report.message
    status.hardware_id = hardware_id
    status.values = [KeyValue(key=key, value=str(value)) for key, value in report.values.items()]
    return status
