"""The robot-dog system evaluation: case files, metrics, the configurations runner, plots and the summary table.

``shadowpeft eval`` is the entry point; everything here is importable without rclpy.
"""

from .cases import Case, CaseFileError, load_cases
from .configs import CONFIGURATIONS, DEFAULT_CONFIGS, ModelSources
from .metrics import PoseTolerance, plans_equal, score_pose
from .runner import RunOptions, run_evaluation

__all__ = ["CONFIGURATIONS", "DEFAULT_CONFIGS", "Case", "CaseFileError", "ModelSources", "PoseTolerance", "RunOptions",
           "load_cases", "plans_equal", "run_evaluation", "score_pose"]
