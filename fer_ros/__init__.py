"""fer_ros: facial expression recognition for robots, as a ROS 2 package.

The message classes generated from msg/ (``fer_ros.msg``) are installed by CMake beside these sources on a
colcon install, but into the venv's site-packages in the development setup, where these sources are installed
editable. ``extend_path`` joins every ``fer_ros`` directory on ``sys.path`` into this one package.
"""

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
