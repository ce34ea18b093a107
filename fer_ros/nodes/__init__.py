"""Thin rclpy nodes around the core engine; each module has a ``main()`` and a ``PARAMETERS`` table."""
