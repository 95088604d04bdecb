"""The ROS-free MuJoCo dog: a Go2-sized URDF, a trot gait, postures, tricks and odometry.

Import ``shadowpeft_ros.sim.dog`` for ``DogSim``; this package imports nothing heavy itself.
"""
