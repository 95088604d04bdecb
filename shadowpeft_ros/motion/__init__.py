"""The ROS-free motion layer: plan execution with ramping, stop, e-stop and watchdog."""

from .executor import Event, MotionExecutor, Pose2D, TickResult, clamp_twist
from .options import ExecutorOptions

__all__ = ["Event", "ExecutorOptions", "MotionExecutor", "Pose2D", "TickResult", "clamp_twist"]
