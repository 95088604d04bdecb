"""Build the MuJoCo scene from the one URDF: floor, light, actuators and foot sites are added here, in code.

Menagerie keeps a scene.xml beside each robot; we keep the robot as a URDF (so Gazebo loads the
same file) and let ``MjSpec`` add what a URDF cannot say.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from .gait import JOINT_NAMES, LEGS

logger = logging.getLogger("shadowpeft_ros")

MODEL_NAME = "go2_like"


def default_urdf() -> Path:
    """Return the path of the package's Go2-sized URDF."""
    from ..paths import package_share

    return package_share() / "models" / MODEL_NAME / f"{MODEL_NAME}.urdf"


def build_spec(urdf: Optional[Path] = None, *, timestep_s: float = 0.002, kp: float = 300.0, kv: float = 6.0,
               friction: float = 1.0):
    """Load the URDF into an MjSpec and add the free base, floor, light, position actuators and foot sites."""
    import mujoco

    path = Path(urdf) if urdf else default_urdf()
    if not path.is_file():
        raise FileNotFoundError(f"robot description not found: {path} (expected models/{MODEL_NAME}/{MODEL_NAME}.urdf)")
    spec = mujoco.MjSpec.from_file(str(path))
    spec.option.timestep = timestep_s
    # implicitfast keeps stiff position servos stable at 2 ms without shrinking the step.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC

    base = spec.body("base")
    if base is None:
        raise ValueError(f"{path}: no link named 'base'")
    base.add_freejoint(name="root")

    # Only the robot against the floor: legs brushing each other in a trot are not worth the contacts.
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = 1, 0
        geom.friction = [friction, 0.02, 0.01]
    floor = spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05])
    floor.contype, floor.conaffinity = 0, 1
    floor.friction = [friction, 0.02, 0.01]
    floor.rgba = [0.35, 0.4, 0.45, 1]
    spec.worldbody.add_light(name="sun", pos=[0, 0, 3], dir=[0, 0, -1])

    for leg in LEGS:
        calf = spec.body(f"{leg}_calf")
        foot_geom = spec.geom(f"{leg}_foot")
        site = calf.add_site(name=f"{leg}_foot", pos=list(foot_geom.pos), size=[0.023, 0, 0])
        site.rgba = [1, 0.4, 0.1, 1]
    for name in JOINT_NAMES:
        joint = spec.joint(name)
        # Rotor inertia seen at the joint (gear ratio squared): without it the servos ring at 2 ms steps.
        joint.armature = 0.01
        act = spec.add_actuator(name=name.replace("_joint", ""), target=name,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp, kv=kv)
        act.ctrlrange = list(joint.range)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    spec.add_sensor(name="base_imu_gyro", type=mujoco.mjtSensor.mjSENS_GYRO,
                    objtype=mujoco.mjtObj.mjOBJ_SITE, objname=_add_imu_site(spec, base))
    return spec


def _add_imu_site(spec, base) -> str:
    base.add_site(name="imu", pos=[0, 0, 0])
    return "imu"


def build_model(urdf: Optional[Path] = None, **kwargs):
    """Compile the scene and return the MjModel."""
    return build_spec(urdf, **kwargs).compile()
