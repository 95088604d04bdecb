"""shadowpeft_ros: voice control of a quadruped robot dog with a ShadowPEFT-adapted language model."""

__version__ = "0.1.0"
