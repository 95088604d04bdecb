"""The MuJoCo dog: physics, the 100 Hz gait and posture controller, and odometry (ROS-free)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Tuple

from ..geometry import yaw_from_quaternion
from .gait import (JOINT_NAMES, LEGS, POSES, POSTURE_TRANSITION_S, TRICK_DURATIONS_S, BodyPose, GaitParams,
                   TrotGait, attitude_offsets, blend, pose_joint_targets, trick_pose)

logger = logging.getLogger("shadowpeft_ros")

POSTURE_NAMES = tuple(POSES)
TRICK_NAMES = tuple(TRICK_DURATIONS_S)
# Above this step the prototype could no longer turn on the spot.
MAX_TIMESTEP_S = 0.0025


@dataclass
class SimOptions:
    """Settings of the MuJoCo dog; defaults are the values it was measured stable with."""

    urdf: str = field(default="", metadata={"help": "Robot URDF; empty means the package's models/go2_like."})
    timestep_s: float = field(default=0.002, metadata={"range": (0.0001, 0.0025), "help": "Physics step, s (at most 0.0025: turning on the spot breaks above)."})
    control_rate_hz: float = field(default=100.0, metadata={"range": (10, 1000), "help": "Gait and posture controller rate, Hz."})
    gait_period_s: float = field(default=0.4, metadata={"range": (0.1, 2), "help": "Trot cycle period, s."})
    swing_height_m: float = field(default=0.07, metadata={"range": (0.0, 0.3), "help": "Foot lift during swing, m."})
    joint_kp: float = field(default=300.0, metadata={"range": (1, 5000), "help": "Position servo stiffness, N m/rad."})
    joint_kv: float = field(default=6.0, metadata={"range": (0, 500), "help": "Position servo damping, N m s/rad."})
    friction: float = field(default=1.0, metadata={"range": (0.01, 5), "help": "Foot-floor sliding friction coefficient."})
    max_linear_speed_mps: float = field(default=0.5, metadata={"range": (0.01, 5), "help": "Largest |vx|, |vy| the gait follows (the stable envelope)."})
    max_angular_speed_rps: float = field(default=0.8, metadata={"range": (0.01, 6), "help": "Largest |wz| the gait follows, rad/s."})
    max_linear_accel_mps2: float = field(default=1.0, metadata={"range": (0.01, 50), "help": "The gait's own ramp on commanded velocity (unramped jumps make it fall)."})
    max_angular_accel_rps2: float = field(default=2.0, metadata={"range": (0.01, 50), "help": "The gait's own ramp on commanded yaw rate."})
    max_linear_decel_mps2: float = field(default=2.0, metadata={"range": (0.01, 50), 
        "help": "The gait's ramp when slowing down: braking harder than it speeds up stops a trot within 1 s."})
    command_timeout_s: float = field(default=0.5, metadata={"range": (0.01, 10), "help": "Velocity commands older than this (sim time) count as zero."})

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "urdf":
                if not isinstance(value, str):
                    raise ValueError(f"SimOptions.urdf must be a path string, got {value!r}")
                continue
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
                raise ValueError(f"SimOptions.{f.name} must be a positive number, got {value!r}")
        if self.timestep_s > MAX_TIMESTEP_S:
            raise ValueError(f"SimOptions.timestep_s {self.timestep_s} is over {MAX_TIMESTEP_S}: turning on the spot breaks")
        steps = 1.0 / (self.control_rate_hz * self.timestep_s)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError("SimOptions.control_rate_hz must divide the physics rate (1/timestep_s) into whole steps")


@dataclass(frozen=True)
class Odometry:
    """Base pose in the odom frame (starts at 0, 0, yaw 0) and twist in the base frame, at sim time t."""

    t: float
    x: float
    y: float
    z: float
    roll: float
    pitch: float
    yaw: float
    vx: float
    vy: float
    vz: float
    wx: float
    wy: float
    wz: float
    qw: float = 1.0
    qx: float = 0.0
    qy: float = 0.0
    qz: float = 0.0

    @property
    def speed(self) -> float:
        """Return the planar speed of the base, m/s."""
        return math.hypot(self.vx, self.vy)


def _quat_to_rpy(w: float, x: float, y: float, z: float) -> Tuple[float, float, float]:
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    return roll, pitch, yaw_from_quaternion(w, x, y, z)


def _ramp(current: float, target: float, step: float, brake_step: float) -> float:
    if abs(target) < abs(current) and target * current >= 0:
        step = brake_step
    return current + max(-step, min(step, target - current))


class DogSim:
    """A Go2-sized dog in MuJoCo that trots after (vx, vy, wz) and takes postures and tricks.

    Call ``set_velocity`` and ``command_posture`` at any time, ``step(seconds)`` to advance.
    """

    def __init__(self, options: Optional[SimOptions] = None):
        import mujoco

        from .model import build_spec

        self.options = options or SimOptions()
        o = self.options
        self._mj = mujoco
        self.spec = build_spec(o.urdf or None, timestep_s=o.timestep_s, kp=o.joint_kp, kv=o.joint_kv,
                               friction=o.friction)
        self.model = self.spec.compile()
        self.data = mujoco.MjData(self.model)
        self._substeps = int(round(1.0 / (o.control_rate_hz * o.timestep_s)))
        self._control_dt = self._substeps * o.timestep_s
        self._qadr = [self.model.joint(n).qposadr[0] for n in JOINT_NAMES]
        self._dadr = [self.model.joint(n).dofadr[0] for n in JOINT_NAMES]
        self._act = [self.model.actuator(n.replace("_joint", "")).id for n in JOINT_NAMES]
        # Feet centred under the centre of mass: a trot in place creeps backwards when they are not.
        mujoco.mj_forward(self.model, self.data)
        base = self.model.body("base").id
        self.com_x = float(self.data.subtree_com[base][0] - self.data.xpos[base][0])
        self.gait = TrotGait(GaitParams(period_s=o.gait_period_s, swing_height_m=o.swing_height_m))
        self.reset()

    # -- state ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Put the dog standing at the origin, let it settle, and zero the odometry there."""
        mj = self._mj
        mj.mj_resetData(self.model, self.data)
        q = pose_joint_targets(POSES["stand"], 0.0, 0.0)
        self.data.qpos[0:3] = [0.0, 0.0, POSES["stand"].height_m + 0.01]
        self.data.qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
        for adr, value in zip(self._qadr, q):
            self.data.qpos[adr] = value
        for act, value in zip(self._act, q):
            self.data.ctrl[act] = value
        mj.mj_forward(self.model, self.data)
        self.gait.reset()
        self._cmd = (0.0, 0.0, 0.0)
        self._cmd_time = -math.inf
        self._ramped = [0.0, 0.0, 0.0]
        self._pose: BodyPose = POSES["stand"]
        self._posture = "stand"
        self._transition: Optional[Tuple[BodyPose, BodyPose, float, str]] = None
        self._pending_posture: Optional[str] = None
        self._trick: Optional[Tuple[str, float]] = None
        self._ignored_logged = False
        self._origin = (0.0, 0.0, 0.0)
        self._sim_t0 = 0.0
        self.step(0.5)
        x, y, yaw = self.data.qpos[0], self.data.qpos[1], self._raw_rpy()[2]
        self._origin = (float(x), float(y), float(yaw))
        self._sim_t0 = float(self.data.time)

    @property
    def time(self) -> float:
        """Return sim time in seconds since the odometry origin was set."""
        return float(self.data.time) - self._sim_t0

    @property
    def control_dt(self) -> float:
        """Return the controller period, s."""
        return self._control_dt

    @property
    def posture_state(self) -> str:
        """Return the achieved posture, the running trick's name, or 'transition' while changing posture."""
        if self._trick is not None:
            return self._trick[0]
        if self._transition is not None or self._pending_posture is not None:
            return "transition"
        return self._posture

    @property
    def posture(self) -> str:
        """Return the posture reached last (or being approached)."""
        if self._pending_posture is not None and self._pending_posture in POSES:
            return self._pending_posture
        if self._pending_posture is not None:
            return "stand"
        return self._transition[3] if self._transition is not None else self._posture

    @property
    def commanded_velocity(self) -> Tuple[float, float, float]:
        """Return the last velocity command as the gait took it (clamped to the stable envelope)."""
        return self._cmd

    # -- commands ---------------------------------------------------------------------------------

    def set_velocity(self, vx: float, vy: float, wz: float) -> None:
        """Command a body velocity (m/s, m/s, rad/s); it holds for command_timeout_s of sim time."""
        values = (vx, vy, wz)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"velocity must be three finite numbers, got {values!r}")
        o = self.options
        lin, ang = o.max_linear_speed_mps, o.max_angular_speed_rps
        clamped = (max(-lin, min(lin, vx)), max(-lin, min(lin, vy)), max(-ang, min(ang, wz)))
        if clamped != tuple(values):
            logger.warning("sim: velocity %s outside the stable envelope, clamped to %s", values, clamped)
        self._cmd = clamped
        self._cmd_time = float(self.data.time)

    def command_posture(self, name: str) -> None:
        """Start a posture change (stand, sit, lie_down) or a trick (dance, wave, stretch, spin)."""
        if name in TRICK_NAMES:
            if self.posture != "stand" or self._transition is not None or self._pending_posture is not None:
                raise ValueError(f"trick {name!r} needs the dog standing, it is {self.posture_state!r}")
            self._pending_posture = name
            return
        if name not in POSES:
            raise ValueError(f"unknown posture {name!r}; known are {list(POSTURE_NAMES) + list(TRICK_NAMES)}")
        if self._trick is not None:
            raise ValueError(f"posture {name!r} while trick {self._trick[0]!r} runs; wait for it to finish")
        if name == self.posture and self._pending_posture is None:
            return
        # The change starts once the feet have stopped stepping (see _control).
        self._pending_posture = name

    # -- stepping ---------------------------------------------------------------------------------

    def step(self, seconds: float) -> None:
        """Advance the simulation by about ``seconds`` (whole controller periods)."""
        n = max(1, int(round(seconds / self._control_dt)))
        for _ in range(n):
            self._control()
            self._mj.mj_step(self.model, self.data, nstep=self._substeps)

    def _raw_rpy(self) -> Tuple[float, float, float]:
        w, x, y, z = self.data.qpos[3:7]
        return _quat_to_rpy(w, x, y, z)

    def _body_velocity(self) -> Tuple[float, float, float]:
        roll, pitch, yaw = self._raw_rpy()
        vwx, vwy = self.data.qvel[0], self.data.qvel[1]
        c, s = math.cos(yaw), math.sin(yaw)
        # Heading-frame velocity: what the gait is asked to follow, free of trunk tilt.
        return c * vwx + s * vwy, -s * vwx + c * vwy, self._yaw_rate()

    def _yaw_rate(self) -> float:
        roll, pitch, _ = self._raw_rpy()
        wx, wy, wz = self.data.qvel[3:6]
        # Body rates to the world z rate (ZYX Euler).
        return (math.sin(roll) * wy + math.cos(roll) * wz) / max(math.cos(pitch), 1e-3)

    def _control(self) -> None:
        dt = self._control_dt
        now = float(self.data.time)
        o = self.options
        target_cmd = self._cmd if now - self._cmd_time <= o.command_timeout_s else (0.0, 0.0, 0.0)
        if self._pending_posture is not None and not self.gait.stepping and self._trick is None:
            name, self._pending_posture = self._pending_posture, None
            if name in TRICK_NAMES:
                self._trick = (name, now)
            elif self._transition is not None or name != self._posture:
                # From wherever the body is now, even half-way through another change.
                self._transition = (self._pose, POSES[name], now, name)
        pose = self._pose
        trick_velocity = None
        if self._trick is not None:
            name, start = self._trick
            elapsed = now - start
            if elapsed >= TRICK_DURATIONS_S[name]:
                self._trick = None
                pose = POSES["stand"]
            else:
                pose, trick_velocity = trick_pose(name, elapsed)
        elif self._transition is not None:
            start_pose, end_pose, start, name = self._transition
            s = (now - start) / POSTURE_TRANSITION_S
            pose = blend(start_pose, end_pose, s)
            if s >= 1.0:
                self._transition = None
                self._posture = name
        self._pose = pose

        standing = (self._trick is None and self._transition is None and self._posture == "stand"
                    and self._pending_posture is None)
        if trick_velocity is not None:
            target_cmd = trick_velocity
        elif not standing:
            if any(abs(v) > 1e-3 for v in target_cmd) and not self._ignored_logged:
                logger.warning("sim: velocity ignored while %s (the dog walks only when standing)", self.posture_state)
                self._ignored_logged = True
            target_cmd = (0.0, 0.0, 0.0)
        if standing and any(abs(v) > 1e-3 for v in self._cmd):
            self._ignored_logged = False
        lin, brake, ang = o.max_linear_accel_mps2 * dt, o.max_linear_decel_mps2 * dt, o.max_angular_accel_rps2 * dt
        self._ramped[0] = _ramp(self._ramped[0], target_cmd[0], lin, brake)
        self._ramped[1] = _ramp(self._ramped[1], target_cmd[1], lin, brake)
        self._ramped[2] = _ramp(self._ramped[2], target_cmd[2], ang, ang)

        roll, pitch, _ = self._raw_rpy()
        offsets = self.gait.update(dt, tuple(self._ramped), self._body_velocity(), self._raw_rpy()[2])
        if standing or trick_velocity is not None or self.gait.stepping:
            att = attitude_offsets(roll - pose.roll, pitch - pose.pitch, self.gait.params.attitude_gain)
            offsets = {leg: tuple(a + b for a, b in zip(offsets[leg], att[leg])) for leg in LEGS}
        q = pose_joint_targets(pose, pose.roll, pose.pitch, offsets, self.com_x)
        for act, value in zip(self._act, q):
            self.data.ctrl[act] = value

    # -- readings ---------------------------------------------------------------------------------

    def odometry(self) -> Odometry:
        """Return the true base pose and twist, relative to where the dog stood after reset."""
        x0, y0, yaw0 = self._origin
        qw, qx, qy, qz = (float(v) for v in self.data.qpos[3:7])
        roll, pitch, yaw = _quat_to_rpy(qw, qx, qy, qz)
        c0, s0 = math.cos(yaw0), math.sin(yaw0)
        dx, dy = float(self.data.qpos[0]) - x0, float(self.data.qpos[1]) - y0
        # Rotate the orientation by -yaw0 about z so that odom starts with yaw 0.
        hw, hz = math.cos(-yaw0 / 2), math.sin(-yaw0 / 2)
        ow, ox, oy, oz = (hw * qw - hz * qz, hw * qx - hz * qy, hw * qy + hz * qx, hw * qz + hz * qw)
        rel_yaw = (yaw - yaw0 + math.pi) % (2 * math.pi) - math.pi
        # MuJoCo's free joint: linear velocity in the world frame, angular in the body frame.
        vw = [float(v) for v in self.data.qvel[0:3]]
        wb = [float(v) for v in self.data.qvel[3:6]]
        vb = self._world_to_body(vw, qw, qx, qy, qz)
        return Odometry(t=self.time, x=c0 * dx + s0 * dy, y=-s0 * dx + c0 * dy, z=float(self.data.qpos[2]),
                        roll=roll, pitch=pitch, yaw=rel_yaw, vx=vb[0], vy=vb[1], vz=vb[2],
                        wx=wb[0], wy=wb[1], wz=wb[2], qw=ow, qx=ox, qy=oy, qz=oz)

    @staticmethod
    def _world_to_body(v: List[float], w: float, x: float, y: float, z: float) -> Tuple[float, float, float]:
        # v_body = R^T v_world with R from the unit quaternion (w, x, y, z).
        r00, r01, r02 = 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)
        r10, r11, r12 = 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)
        r20, r21, r22 = 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
        return (r00 * v[0] + r10 * v[1] + r20 * v[2], r01 * v[0] + r11 * v[1] + r21 * v[2],
                r02 * v[0] + r12 * v[1] + r22 * v[2])

    def joint_state(self) -> Tuple[Tuple[str, ...], List[float], List[float], List[float]]:
        """Return joint names, positions (rad), velocities (rad/s) and actuator efforts (N m)."""
        pos = [float(self.data.qpos[a]) for a in self._qadr]
        vel = [float(self.data.qvel[a]) for a in self._dadr]
        eff = [float(self.data.actuator_force[a]) for a in self._act]
        return JOINT_NAMES, pos, vel, eff

    def fallen(self, min_height_m: float = 0.15, max_tilt_deg: float = 30.0) -> bool:
        """Say whether the trunk is below min_height_m or tilted past max_tilt_deg."""
        roll, pitch, _ = self._raw_rpy()
        return (float(self.data.qpos[2]) < min_height_m
                or abs(math.degrees(roll)) > max_tilt_deg or abs(math.degrees(pitch)) > max_tilt_deg)

    def warnings(self) -> Dict[str, int]:
        """Return MuJoCo's warning counters that are non-zero (a healthy scene has none)."""
        out = {}
        for i, w in enumerate(self.data.warning):
            if w.number:
                out[self._mj.mjtWarning(i).name] = int(w.number)
        return out
