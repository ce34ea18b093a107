# The ROS 2 wheels on PyPI export the include directories of their build machine (/opt/python/...) on the
# *__rosidl_generator_py targets. Where such a directory does not exist, point it at this Python and NumPy.
# A regular ROS install exports existing directories and is left unchanged.
#
# Include this file anywhere after project(): the fix runs at the end of the top-level CMakeLists.txt, once
# find_package() has created the imported targets. Another rosidl package (composition_interfaces from
# ../shared/ros-tools) gets it with -DCMAKE_PROJECT_INCLUDE=<this file>.

function(_fer_ros_fix_wheel_include_dirs)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  get_directory_property(_imported_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_target ${_imported_targets})
    if(NOT _target MATCHES "__rosidl_generator_py$")
      continue()
    endif()
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_missing FALSE)
    foreach(_dir ${_dirs})
      if(NOT IS_DIRECTORY "${_dir}")
        set(_missing TRUE)
      endif()
    endforeach()
    if(_missing)
      set_target_properties(${_target} PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _fer_ros_fix_wheel_include_dirs)
