"""The ``fer-ros`` command line: one module per subcommand, dispatched by fer_ros.cli.main."""
