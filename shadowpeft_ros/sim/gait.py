"""Leg kinematics, body poses and the trot gait of the Go2-sized dog (ROS-free, MuJoCo-free).

Frames: the body frame is the trunk (x forward, y left, z up). The *level* frame shares the
trunk's origin and yaw but not its roll and pitch; foot targets are written there so that a
tilted trunk does not drag the feet with it, then rotated into the body frame for the IK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

LEGS = ("FL", "FR", "RL", "RR")
JOINTS_PER_LEG = ("hip", "thigh", "calf")
JOINT_NAMES = tuple(f"{leg}_{j}_joint" for leg in LEGS for j in JOINTS_PER_LEG)

# Geometry of models/go2_like/go2_like.urdf (kept in step by test_sim_model.py).
HIP_X = 0.1934
HIP_Y = 0.0465
THIGH_Y = 0.0955
THIGH_LENGTH = 0.213
CALF_LENGTH = 0.213
FOOT_RADIUS = 0.022
CALF_MIN = -2.7227
CALF_MAX = -0.83776

# Diagonal pairs of a trot: FL+RR step together, half a period before FR+RL.
TROT_OFFSETS = {"FL": 0.0, "RR": 0.0, "FR": 0.5, "RL": 0.5}


def leg_signs(leg: str) -> Tuple[int, int]:
    """Return (front +1 / rear -1, left +1 / right -1) of a leg."""
    return (1 if leg[0] == "F" else -1, 1 if leg[1] == "L" else -1)


def hip_offset(leg: str) -> Tuple[float, float]:
    """Return the abduction joint's (x, y) in the body frame."""
    sx, sy = leg_signs(leg)
    return sx * HIP_X, sy * HIP_Y


def leg_fk(leg: str, q: Sequence[float]) -> Tuple[float, float, float]:
    """Return the foot centre relative to the abduction joint, in the body frame."""
    q0, q1, q2 = q
    _, sy = leg_signs(leg)
    x = -THIGH_LENGTH * math.sin(q1) - CALF_LENGTH * math.sin(q1 + q2)
    z = -THIGH_LENGTH * math.cos(q1) - CALF_LENGTH * math.cos(q1 + q2)
    y = sy * THIGH_Y
    c, s = math.cos(q0), math.sin(q0)
    return x, y * c - z * s, y * s + z * c


def leg_ik(leg: str, p: Sequence[float]) -> Tuple[float, float, float]:
    """Return (abduction, hip, knee) angles that put the foot centre at p (relative to the abduction joint).

    Targets out of reach are pulled onto the reachable shell rather than raising, because a gait
    that asks a few millimetres too far must still produce a sane, continuous joint command.
    """
    px, py, pz = p
    _, sy = leg_signs(leg)
    r2 = py * py + pz * pz
    r2 = max(r2, THIGH_Y * THIGH_Y + 1e-6)
    z_plane = -math.sqrt(r2 - THIGH_Y * THIGH_Y)
    q0 = math.atan2(pz, py) - math.atan2(z_plane, sy * THIGH_Y)
    q0 = (q0 + math.pi) % (2 * math.pi) - math.pi
    length = math.hypot(px, z_plane)
    max_len = THIGH_LENGTH + CALF_LENGTH - 1e-4
    min_len = math.sqrt(THIGH_LENGTH ** 2 + CALF_LENGTH ** 2 + 2 * THIGH_LENGTH * CALF_LENGTH * math.cos(CALF_MIN))
    if length > max_len or length < min_len:
        scale = min(max(length, min_len), max_len) / max(length, 1e-9)
        px, z_plane, length = px * scale, z_plane * scale, min(max(length, min_len), max_len)
    d = (length ** 2 - THIGH_LENGTH ** 2 - CALF_LENGTH ** 2) / (2 * THIGH_LENGTH * CALF_LENGTH)
    q2 = -math.acos(min(1.0, max(-1.0, d)))
    q1 = math.atan2(-px, -z_plane) - math.atan2(CALF_LENGTH * math.sin(q2), THIGH_LENGTH + CALF_LENGTH * math.cos(q2))
    return q0, q1, q2


def rotate_level_to_body(v: Sequence[float], roll: float, pitch: float) -> Tuple[float, float, float]:
    """Express a level-frame vector in the body frame of a trunk tilted by roll and pitch."""
    # body = (Ry(pitch) Rx(roll))^T level = Rx(-roll) Ry(-pitch) level
    x, y, z = v
    cp, sp = math.cos(pitch), math.sin(pitch)
    x, z = cp * x - sp * z, sp * x + cp * z
    cr, sr = math.cos(roll), math.sin(roll)
    y, z = cr * y + sr * z, -sr * y + cr * z
    return x, y, z


@dataclass(frozen=True)
class BodyPose:
    """A whole-body pose: trunk height and tilt, and each foot's offset from its nominal spot."""

    height_m: float
    roll: float = 0.0
    pitch: float = 0.0
    # Level-frame (dx, dy, dz) of each foot from below its hip; legs not named stay at (0, 0, 0).
    feet: Tuple[Tuple[str, Tuple[float, float, float]], ...] = ()

    def foot(self, leg: str) -> Tuple[float, float, float]:
        """Return a leg's level-frame foot offset in this pose."""
        for name, offset in self.feet:
            if name == leg:
                return offset
        return 0.0, 0.0, 0.0


def blend(a: BodyPose, b: BodyPose, s: float) -> BodyPose:
    """Interpolate two poses with a minimum-jerk profile (s from 0 to 1)."""
    s = min(1.0, max(0.0, s))
    w = s * s * s * (10 - 15 * s + 6 * s * s)
    lerp = lambda u, v: u + (v - u) * w  # noqa: E731
    feet = tuple((leg, tuple(lerp(u, v) for u, v in zip(a.foot(leg), b.foot(leg)))) for leg in LEGS)
    return BodyPose(lerp(a.height_m, b.height_m), lerp(a.roll, b.roll), lerp(a.pitch, b.pitch), feet)


# Trunk-centre heights: standing like a Go2; sitting on the haunches (nose up 20 deg, rear of the
# trunk about 10 cm above the floor); lying with the legs folded under.
POSES: Dict[str, BodyPose] = {
    "stand": BodyPose(height_m=0.31),
    # The feet stay where they stood: the trunk pitches up about its centre, so sitting down does not
    # drag the feet or shift the dog's position.
    "sit": BodyPose(height_m=0.22, pitch=-0.35),
    "lie_down": BodyPose(height_m=0.125),
}

# How long a posture change takes, seconds.
POSTURE_TRANSITION_S = 1.2


def pose_joint_targets(pose: BodyPose, roll: float, pitch: float, extra: Optional[Dict[str, Tuple[float, float, float]]] = None,
                       com_x: float = 0.0) -> List[float]:
    """Return the 12 joint targets that realise a pose on a trunk tilted by (roll, pitch).

    ``extra`` adds level-frame foot offsets on top of the pose (the gait's stepping); ``com_x`` centres
    the feet under the centre of mass rather than under the trunk's origin.
    """
    q: List[float] = []
    for leg in LEGS:
        hx, hy = hip_offset(leg)
        _, sy = leg_signs(leg)
        dx, dy, dz = pose.foot(leg)
        if extra is not None:
            ex, ey, ez = extra[leg]
            dx, dy, dz = dx + ex, dy + ey, dz + ez
        # Foot centre relative to the trunk centre in the level frame: the foot's sphere touches the floor.
        foot_level = (hx + com_x + dx, hy + sy * THIGH_Y + dy, -(pose.height_m - FOOT_RADIUS) + dz)
        fx, fy, fz = rotate_level_to_body(foot_level, roll, pitch)
        q.extend(leg_ik(leg, (fx - hx, fy - hy, fz)))
    return q


@dataclass
class GaitParams:
    """Tuning of the trot; the defaults are what the tests and benchmarks measured."""

    period_s: float = field(default=0.4, metadata={"help": "Trot cycle period, s."})
    duty: float = field(default=0.5, metadata={"help": "Fraction of the cycle a foot is on the ground."})
    swing_height_m: float = field(default=0.07, metadata={"help": "Foot lift during swing, m."})
    raibert_gain: float = field(default=0.08, metadata={"help": "Foot placement per m/s of velocity error, s."})
    velocity_kp: float = field(default=0.4, metadata={"help": "Proportional gain on the body velocity error."})
    velocity_ki: float = field(default=0.8, metadata={"help": "Integral gain on the body velocity error, 1/s."})
    max_correction_mps: float = field(default=0.2, metadata={"help": "Largest PI correction of vx, vy, m/s."})
    max_yaw_correction_rps: float = field(default=0.4, metadata={"help": "Largest PI correction of wz, rad/s."})
    attitude_gain: float = field(default=1.0, metadata={"help": "Leg-length correction per rad of roll/pitch error."})
    velocity_filter_s: float = field(default=0.2, metadata={"help": "Low-pass time constant of the measured velocity, s."})
    stop_open_loop: bool = field(default=True, metadata={
        "help": "Drop the velocity PI once the command is zero: its integral, wound up by the braking, walks the dog back."})
    stop_speed_mps: float = field(default=0.15, metadata={"help": "Stepping stops at a touchdown below this speed."})
    settle_s: float = field(default=0.3, metadata={"help": "Time constant of the feet returning to nominal, s."})
    max_yaw_trim_rad: float = field(default=0.08, metadata={"help": "Largest trunk twist over planted feet, rad."})
    yaw_trim_rate: float = field(default=3.0, metadata={"help": "Integral rate of the standing heading trim, 1/s."})

    def __post_init__(self):
        if not 0.0 < self.duty < 1.0:
            raise ValueError(f"GaitParams.duty must be within (0, 1), got {self.duty}")
        for name in ("period_s", "swing_height_m", "velocity_filter_s", "settle_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GaitParams.{name} must be positive, got {getattr(self, name)}")


@dataclass
class GaitState:
    """What the trot remembers between ticks: phase, filters, integrators, feet and heading trim."""

    phase: float = 0.0
    stepping: bool = False
    idle_s: float = 0.0
    vx_f: float = 0.0
    vy_f: float = 0.0
    wz_f: float = 0.0
    ix: float = 0.0
    iy: float = 0.0
    iw: float = 0.0
    feet: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    liftoff: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    yaw_history: List[float] = field(default_factory=list)
    yaw_rate_history: List[float] = field(default_factory=list)
    yaw_target: Optional[float] = None
    trim_delta: float = 0.0


class TrotGait:
    """Foot offsets of a trot that follows (vx, vy, wz), with PI feedback on measured body velocity."""

    def __init__(self, params: Optional[GaitParams] = None):
        self.params = params or GaitParams()
        self.state = GaitState()
        self._last_dt = 0.01

    def reset(self) -> None:
        """Forget the phase, filters and integrators: the dog stands on nominal feet."""
        self.state = GaitState()

    @property
    def stepping(self) -> bool:
        """Say whether the feet are stepping."""
        return self.state.stepping

    def update(self, dt: float, cmd: Tuple[float, float, float], measured: Tuple[float, float, float],
               yaw: Optional[float] = None) -> Dict[str, Tuple[float, float, float]]:
        """Advance the phase clock by dt and return each foot's level-frame offset from nominal.

        ``cmd`` and ``measured`` are (vx, vy, wz) in the heading frame. ``yaw`` (the measured heading)
        lets the gait end a walk facing its mean heading over the last commanded cycles: a trot rocks
        the trunk's yaw by a few degrees each step, and stopping would freeze whatever the rocking and
        the braking steps left.
        """
        p, st = self.params, self.state
        self._last_dt = dt
        if yaw is not None and st.stepping and st.idle_s == 0.0:
            # Only while commanded: the braking steps after a stop swing the heading too.
            st.yaw_history.append(yaw)
            st.yaw_rate_history.append(cmd[2])
            keep = max(1, int(round(2 * p.period_s / dt)))
            del st.yaw_history[:-keep], st.yaw_rate_history[:-keep]
        vx_c, vy_c, wz_c = cmd
        vx_m, vy_m, wz_m = measured
        # Trotting makes the body velocity oscillate at the step rate; feedback sees its mean.
        a = min(1.0, dt / p.velocity_filter_s)
        st.vx_f += a * (vx_m - st.vx_f)
        st.vy_f += a * (vy_m - st.vy_f)
        st.wz_f += a * (wz_m - st.wz_f)
        moving_cmd = abs(vx_c) > 1e-3 or abs(vy_c) > 1e-3 or abs(wz_c) > 1e-3
        if moving_cmd:
            if not st.stepping:
                st.stepping, st.phase, st.yaw_target = True, 0.0, None
            st.idle_s = 0.0
        elif st.stepping:
            st.idle_s += dt
        if st.stepping:
            st.ix = _clip(st.ix + (vx_c - st.vx_f) * dt, p.max_correction_mps / max(p.velocity_ki, 1e-9))
            st.iy = _clip(st.iy + (vy_c - st.vy_f) * dt, p.max_correction_mps / max(p.velocity_ki, 1e-9))
            st.iw = _clip(st.iw + (wz_c - st.wz_f) * dt, p.max_yaw_correction_rps / max(p.velocity_ki, 1e-9))
        else:
            st.ix = st.iy = st.iw = 0.0
        if moving_cmd or not p.stop_open_loop:
            vx = vx_c + _clip(p.velocity_kp * (vx_c - st.vx_f) + p.velocity_ki * st.ix, p.max_correction_mps)
            vy = vy_c + _clip(p.velocity_kp * (vy_c - st.vy_f) + p.velocity_ki * st.iy, p.max_correction_mps)
        else:
            # After a stop the integrators hold what the walk wound up; kept on, they walk the dog back.
            vx = vy = 0.0
            st.ix = st.iy = 0.0
        if moving_cmd:
            wz = wz_c + _clip(p.velocity_kp * (wz_c - st.wz_f) + p.velocity_ki * st.iw, p.max_yaw_correction_rps)
        else:
            # The filtered yaw rate lags a stop by a few tenths of a second; feeding it back would turn
            # the dog back by several degrees after every turn.
            wz, st.iw = 0.0, 0.0
        if not st.stepping:
            return self._settle(dt, yaw)
        previous = st.phase
        st.phase = (st.phase + dt / p.period_s) % 1.0
        # Stop stepping when a diagonal pair lands (every half cycle), once a half cycle has passed with no
        # command: the last swing placed its feet to brake (Raibert), and four feet on the ground stop the
        # body faster than stepping in place would.
        half_boundary = (previous < 0.5 <= st.phase) or st.phase < previous
        settled = math.hypot(st.vx_f, st.vy_f) < p.stop_speed_mps and abs(st.wz_f) < 0.2
        if half_boundary and st.idle_s >= 0.5 * p.period_s and (settled or st.idle_s >= 4 * p.period_s):
            st.stepping = False
            st.ix = st.iy = st.iw = 0.0
            st.liftoff = {}
            st.yaw_target = self._mean_heading()
            st.trim_delta = 0.0
            st.yaw_history, st.yaw_rate_history = [], []
            return self._settle(dt, yaw)
        stance_s = p.period_s * p.duty
        offsets = {}
        cw, sw = math.cos(-wz * dt), math.sin(-wz * dt)
        for leg in LEGS:
            hx, hy = hip_offset(leg)
            _, sy = leg_signs(leg)
            rx, ry = hx, hy + sy * THIGH_Y
            ox, oy = st.feet.get(leg, (0.0, 0.0))
            ph = (st.phase + TROT_OFFSETS[leg]) % 1.0
            if ph < p.duty:
                # A foot on the ground stays put in the world: relative to the body it moves by -(v + w x r).
                px, py = rx + ox, ry + oy
                px, py = cw * px - sw * py - vx * dt, sw * px + cw * py - vy * dt
                ox, oy = _clip(px - rx, 0.15), _clip(py - ry, 0.1)
                st.liftoff.pop(leg, None)
                offsets[leg] = (ox, oy, 0.0)
            else:
                s = (ph - p.duty) / (1.0 - p.duty)
                lx, ly = st.liftoff.setdefault(leg, (ox, oy))
                # Raibert: land ahead of nominal by half a stride plus a term on the velocity error.
                tx = 0.5 * (vx - wz * ry) * stance_s + p.raibert_gain * (st.vx_f - vx_c)
                ty = 0.5 * (vy + wz * rx) * stance_s + p.raibert_gain * (st.vy_f - vy_c)
                w = 0.5 - 0.5 * math.cos(math.pi * s)
                ox, oy = _clip(lx + (tx - lx) * w, 0.15), _clip(ly + (ty - ly) * w, 0.1)
                offsets[leg] = (ox, oy, p.swing_height_m * math.sin(math.pi * s))
            st.feet[leg] = (ox, oy)
        return offsets

    def _mean_heading(self) -> Optional[float]:
        """Return the heading the last commanded cycles ended on, with the trot's rocking averaged out.

        The mean over two whole cycles cancels the rocking; while turning it trails the heading by
        the turn rate times half the window, which the commanded rate puts back.
        """
        st = self.state
        n = len(st.yaw_history)
        if n == 0:
            return None
        ref = st.yaw_history[0]
        mean = sum(_wrap(y - ref) for y in st.yaw_history) / n
        rate = sum(st.yaw_rate_history) / n
        window_s = n * self._last_dt
        return _wrap(ref + mean + rate * window_s / 2)

    def _settle(self, dt: float, yaw: Optional[float]) -> Dict[str, Tuple[float, float, float]]:
        """Bring the feet gently to nominal once stepping has stopped, twisting the trunk over the planted
        feet until it faces the mean heading of the walk (a slow integral servo, at most max_yaw_trim_rad)."""
        p, st = self.params, self.state
        if yaw is not None and st.yaw_target is not None:
            st.trim_delta += p.yaw_trim_rate * _wrap(st.yaw_target - yaw) * dt
            st.trim_delta = max(-p.max_yaw_trim_rad, min(p.max_yaw_trim_rad, st.trim_delta))
        # Turning the trunk by +delta over planted feet moves each foot by -delta about the trunk's centre.
        c, s = math.cos(-st.trim_delta), math.sin(-st.trim_delta)
        decay = min(1.0, dt / p.settle_s)
        feet = {}
        for leg in LEGS:
            hx, hy = hip_offset(leg)
            _, sy = leg_signs(leg)
            rx, ry = hx, hy + sy * THIGH_Y
            tx, ty = c * rx - s * ry - rx, s * rx + c * ry - ry
            ox, oy = st.feet.get(leg, (0.0, 0.0))
            feet[leg] = (ox + (tx - ox) * decay, oy + (ty - oy) * decay)
        st.feet = feet
        return {leg: (*st.feet[leg], 0.0) for leg in LEGS}


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def attitude_offsets(roll_error: float, pitch_error: float, gain: float) -> Dict[str, Tuple[float, float, float]]:
    """Return foot height offsets that push a tilted trunk back to level (low side pushes down)."""
    out = {}
    for leg in LEGS:
        hx, hy = hip_offset(leg)
        _, sy = leg_signs(leg)
        ry = hy + sy * THIGH_Y
        dz = gain * (roll_error * ry - pitch_error * hx)
        out[leg] = (0.0, 0.0, max(-0.04, min(0.04, dz)))
    return out


# -------------------------------------------------------------------------------------------------
# Tricks: short scripted motions, each a function of time since its start returning the pose and a
# body velocity for the gait (None while the feet stay put).

TRICK_DURATIONS_S = {"dance": 4.0, "wave": 4.5, "stretch": 3.5, "spin": 2 * math.pi / 0.7 + 1.5}


def trick_pose(name: str, t: float) -> Tuple[BodyPose, Optional[Tuple[float, float, float]]]:
    """Return the scripted pose (and gait velocity, or None) of a trick t seconds after it started."""
    stand = POSES["stand"]
    if name == "dance":
        # Sway the trunk side to side and bob, twice a second, easing in and out.
        env = min(1.0, t / 0.5, max(0.0, (TRICK_DURATIONS_S[name] - t) / 0.5))
        roll = 0.18 * env * math.sin(2 * math.pi * 1.0 * t)
        height = stand.height_m - 0.03 * env * (1 - math.cos(4 * math.pi * t)) / 2
        return BodyPose(height, roll=roll), None
    if name == "stretch":
        # A play bow: front low and forward, rear high.
        bow = BodyPose(0.25, pitch=0.3, feet=(("FL", (0.08, 0.0, 0.0)), ("FR", (0.08, 0.0, 0.0))))
        if t < 1.0:
            return blend(stand, bow, t / 1.0), None
        if t < 2.5:
            return bow, None
        return blend(bow, stand, (t - 2.5) / 1.0), None
    if name == "wave":
        sit = POSES["sit"]
        if t < 1.0:
            return blend(stand, sit, t), None
        if t < 3.5:
            # Raise the front-right paw and swing it up and down, three times.
            lift = min(1.0, (t - 1.0) / 0.3, max(0.0, (3.5 - t) / 0.3))
            wave = 0.04 * math.sin(2 * math.pi * 1.2 * (t - 1.0))
            feet = dict(sit.feet)
            feet["FR"] = (0.10 * lift, 0.0, (0.12 + wave) * lift)
            return BodyPose(sit.height_m, roll=-0.05 * lift, pitch=sit.pitch, feet=tuple(feet.items())), None
        return blend(sit, stand, (t - 3.5) / 1.0), None
    if name == "spin":
        # One full turn on the spot, with the speed ramped in and out.
        ramp = min(1.0, t / 0.75, max(0.0, (TRICK_DURATIONS_S[name] - t) / 0.75))
        return stand, (0.0, 0.0, 0.7 * ramp)
    raise ValueError(f"unknown trick {name!r}; known are {sorted(TRICK_DURATIONS_S)}")
