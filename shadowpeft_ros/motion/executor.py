"""The plan executor: the last layer between a language model's plan and the motors (ROS-free).

The node feeds it plans, odometry, posture reports and a clock, and publishes what ``tick``
returns. Everything that leaves goes through ``clamp_twist`` with the hard limits, so no plan,
bug or ramp overshoot can emit a velocity over ``SafetyLimits``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, List, Optional, Tuple

from ..plan import Move, Plan, Posture, Stop, Trick, Turn, Wait
from ..safety import MotionDefaults, SafetyLimits, check_limits, resolve_defaults
from .options import ExecutorOptions

logger = logging.getLogger("shadowpeft_ros")

ZERO = (0.0, 0.0, 0.0)
_MOVE_UNITS = {"forward": (1.0, 0.0), "backward": (-1.0, 0.0), "left": (0.0, 1.0), "right": (0.0, -1.0)}


@dataclass(frozen=True)
class Pose2D:
    """Planar odometry: position (m), heading (rad) and body-frame speeds, stamped with the receive time.

    ``measured`` is the robot's own stamp of the reading (the message header), when it has one. Freshness
    is judged by arrival, but time between readings by ``measured``: after the node stalls, the readings
    queued meanwhile arrive in one burst, and only their own stamps still say how far apart they were taken.
    """

    stamp: float
    x: float
    y: float
    yaw: float
    vx: float = 0.0
    vy: float = 0.0
    wz: float = 0.0
    measured: Optional[float] = None

    @property
    def speed(self) -> float:
        """Return the planar speed, m/s."""
        return math.hypot(self.vx, self.vy)


@dataclass(frozen=True)
class Event:
    """An outcome to publish: accepted, done, stopped, refused or failed, with the reason (and words to say)."""

    command_id: str
    outcome: str
    reason: str = ""
    say: str = ""


@dataclass
class TickResult:
    """What one control tick produced: the twist to publish, a posture to command, outcomes, the mode."""

    twist: Tuple[float, float, float] = ZERO
    posture: Optional[str] = None
    events: List[Event] = field(default_factory=list)
    mode: str = "idle"


def clamp_twist(twist: Tuple[float, float, float], limits: SafetyLimits) -> Tuple[float, float, float]:
    """Return the twist inside the hard limits (non-finite values become zero): the last line of defence."""
    vx, vy, wz = (v if isinstance(v, (int, float)) and math.isfinite(v) else 0.0 for v in twist)
    lin = limits.max_linear_speed_mps
    ang = math.radians(limits.max_angular_speed_dps)
    speed = math.hypot(vx, vy)
    if speed > lin:
        vx, vy = vx * lin / speed, vy * lin / speed
    vx, vy = max(-lin, min(lin, vx)), max(-lin, min(lin, vy))
    return float(vx), float(vy), float(max(-ang, min(ang, wz)))


def _reading_interval(previous: Optional[Pose2D], pose: Pose2D) -> float:
    """Seconds between two odometry readings: by the robot's stamps where both have them, else by arrival."""
    if previous is None:
        return 0.0
    if pose.measured is not None and previous.measured is not None and pose.measured >= previous.measured:
        return pose.measured - previous.measured
    return max(0.0, pose.stamp - previous.stamp)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


@dataclass
class _Running:
    command_id: str
    plan: Plan
    actions: Deque
    action: Optional[object] = None
    started: float = 0.0
    mode: str = ""
    # Closed-loop state of a move or turn.
    start_pose: Optional[Pose2D] = None
    turned: float = 0.0
    last_yaw: float = 0.0
    # Time-based progress: distance (m) or angle (rad) covered by what was emitted.
    dead_reckoned: float = 0.0
    posture_seen_start: bool = False
    heading_error: float = 0.0
    aligning_s: float = 0.0
    heading_integral: float = 0.0
    # The heading the plan means to hold now (odom frame), carried from action to action so that a
    # turn's last degree or a posture's shuffle is corrected by the next move instead of accumulating.
    plan_heading: Optional[float] = None
    # Signed angle (rad) this turn must cover to end at the plan's heading.
    turn_goal: float = 0.0


class MotionExecutor:
    """Run plans one action at a time, with ramping, stop, e-stop, watchdog and outcome reports."""

    def __init__(self, options: Optional[ExecutorOptions] = None, limits: Optional[SafetyLimits] = None,
                 defaults: Optional[MotionDefaults] = None):
        self.options = options or ExecutorOptions()
        self.limits = limits or SafetyLimits()
        self.defaults = defaults or MotionDefaults()
        self._running: Optional[_Running] = None
        self._queue: Deque[Tuple[str, Plan]] = deque()
        self._estopped = False
        self._odom: Optional[Pose2D] = None
        self._posture_state: Optional[str] = None
        self._posture_state_stamp: Optional[float] = None
        self._commanded_posture = "stand"
        self._output = ZERO
        self._last_tick: Optional[float] = None
        self._pending: List[Event] = []
        self._stalled = False

    # -- inputs -----------------------------------------------------------------------------------

    @property
    def estopped(self) -> bool:
        """Say whether the e-stop is latched."""
        return self._estopped

    @property
    def busy(self) -> bool:
        """Say whether a plan runs or waits."""
        return self._running is not None or bool(self._queue)

    @property
    def output(self) -> Tuple[float, float, float]:
        """Return the twist emitted last (after ramping and clamping)."""
        return self._output

    def update_odometry(self, pose: Pose2D) -> None:
        """Record an odometry reading (stamped with the time it arrived, on the executor's clock)."""
        run = self._running
        if run is not None and run.start_pose is not None and isinstance(run.action, Turn):
            run.turned += _wrap(pose.yaw - run.last_yaw)
            run.last_yaw = pose.yaw
        if run is not None and run.start_pose is not None and isinstance(run.action, Move):
            # A trot rocks the heading by a few degrees each step; hold the mean, not every wiggle.
            a = min(1.0, _reading_interval(self._odom, pose) / self.options.heading_filter_s)
            run.heading_error += a * (_wrap(run.plan_heading - pose.yaw) - run.heading_error)
        self._odom = pose

    def update_posture_state(self, state: str, now: float) -> None:
        """Record the posture (or running trick) the dog reports."""
        self._posture_state = state
        self._posture_state_stamp = now

    def odom_fresh(self, now: float) -> bool:
        """Say whether the last odometry is recent enough to close a loop on."""
        return self._odom is not None and now - self._odom.stamp <= self.options.odom_timeout_s

    def submit(self, command_id: str, plan: Plan, now: float) -> List[Event]:
        """Take a parsed plan: check it against the limits, then start, queue or refuse it."""
        if self._estopped:
            reason = "the e-stop is latched; call the e-stop reset service first"
            return [Event(command_id, "refused", reason, say="I can't move: the emergency stop is on.")]
        checked = check_limits(resolve_defaults(plan, self.defaults), self.limits, self.defaults)
        if checked.refused:
            logger.warning("plan %s refused: %s", command_id, checked.reason)
            return [Event(command_id, "refused", checked.reason, say=checked.say)]
        events: List[Event] = []
        if checked.violations:
            logger.warning("plan %s clamped: %s", command_id, checked.reason)
        accepted_reason = f"clamped: {checked.reason}" if checked.violations else ""
        if checked.plan.has_stop:
            events += self._preempt(now, f"stopped by command {command_id}")
        elif self._running is not None and self.options.on_new_plan == "replace":
            events += self._preempt(now, f"replaced by command {command_id}")
        elif self._running is not None and len(self._queue) >= self.options.max_queued:
            return [Event(command_id, "refused", f"{len(self._queue)} plans are already queued",
                          say="I'm still busy with earlier commands.")]
        events.append(Event(command_id, "accepted", accepted_reason,
                            say=checked.say if checked.violations else ""))
        if self._running is None:
            self._start_plan(command_id, checked.plan, now)
        else:
            self._queue.append((command_id, checked.plan))
        return events + self._take_pending()

    def stop(self, now: float, reason: str = "stop requested") -> List[Event]:
        """Preempt at once: zero output, the running plan stopped and the queue cleared."""
        return self._preempt(now, reason)

    def estop(self, now: float) -> List[Event]:
        """Latch an emergency stop: like stop, and every plan is refused until ``reset_estop``."""
        self._estopped = True
        logger.warning("e-stop latched")
        return self._preempt(now, "e-stop")

    def reset_estop(self) -> bool:
        """Release the e-stop latch; return whether it was latched."""
        was = self._estopped
        self._estopped = False
        if was:
            logger.info("e-stop reset")
        return was

    # -- ticking ----------------------------------------------------------------------------------

    def watchdog(self, now: float) -> bool:
        """Say whether the output must be forced to zero now (ticks stalled, or odometry stale mid-action)."""
        stalled = self._last_tick is not None and now - self._last_tick > self.options.tick_stall_s
        run = self._running
        stale = (run is not None and run.mode == "closed-loop" and not self.odom_fresh(now))
        if stalled and not self._stalled:
            logger.warning("watchdog: no control tick for %.2f s, output zeroed", now - self._last_tick)
        self._stalled = stalled
        if stalled or stale or self._estopped:
            self._output = ZERO
            return True
        return False

    def tick(self, now: float) -> TickResult:
        """Advance the running action by one control period and return what to publish."""
        # A clock that jumps back (a simulator restarted under use_sim_time) must not run the ramps backwards.
        dt = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        result = TickResult()
        if dt > self.options.tick_stall_s:
            logger.warning("control ticks stalled for %.2f s: ramping up again from zero", dt)
            self._output = ZERO
            dt = 1.0 / self.options.rate_hz
        self._stalled = False
        run = self._running
        desired = ZERO
        if self._estopped:
            run = None
        while run is not None:
            if run.action is None:
                if not run.actions:
                    self._finish(Event(run.command_id, "done"))
                    run = self._running
                    continue
                self._begin_action(run, run.actions.popleft(), now, result)
            step = self._step_action(run, now, dt, result)
            if step is None:  # action finished: start the next one in the same tick
                run.action = None
                if self._running is not run:
                    run = self._running
                continue
            desired = step
            result.mode = run.mode
            break
        if self._running is None:
            result.mode = "idle"
        self._output = self._ramp(desired, dt)
        result.twist = self._output
        result.events = self._take_pending()
        return result

    # -- internals --------------------------------------------------------------------------------

    def _take_pending(self) -> List[Event]:
        events, self._pending = self._pending, []
        return events

    def _preempt(self, now: float, reason: str) -> List[Event]:
        events = []
        if self._running is not None:
            events.append(Event(self._running.command_id, "stopped", reason))
            self._running = None
        while self._queue:
            command_id, _ = self._queue.popleft()
            events.append(Event(command_id, "stopped", f"{reason} (was queued)"))
        self._output = ZERO
        return events + self._take_pending()

    def _finish(self, event: Event) -> None:
        self._pending.append(event)
        self._running = None
        if self._queue:
            command_id, plan = self._queue.popleft()
            self._start_plan(command_id, plan, self._last_tick or 0.0)

    def _fail(self, run: _Running, reason: str) -> None:
        logger.error("plan %s failed: %s", run.command_id, reason)
        self._output = ZERO
        self._finish(Event(run.command_id, "failed", reason, say=f"I had to stop: {reason}."))

    def _start_plan(self, command_id: str, plan: Plan, now: float) -> None:
        self._running = _Running(command_id=command_id, plan=plan, actions=deque(plan.actions), started=now)

    def _current_posture(self) -> str:
        if self._posture_state in ("stand", "sit", "lie_down"):
            return self._posture_state
        return self._commanded_posture

    def _begin_action(self, run: _Running, action, now: float, result: TickResult) -> None:
        if (isinstance(action, (Move, Turn, Trick)) and self.options.auto_stand and self._current_posture() != "stand"):
            # Walking or a trick from a sit would drag the dog; stand up first, then do what was asked.
            run.actions.appendleft(action)
            action = Posture("stand")
        run.action, run.started, run.dead_reckoned, run.turned = action, now, 0.0, 0.0
        run.start_pose, run.posture_seen_start, run.heading_error, run.aligning_s = None, False, 0.0, 0.0
        run.heading_integral = 0.0
        if isinstance(action, (Move, Turn)):
            if self.options.closed_loop and self.odom_fresh(now):
                run.mode, run.start_pose, run.last_yaw = "closed-loop", self._odom, self._odom.yaw
                self._aim(run, action)
            else:
                run.mode = "time-based"
                # Without odometry the heading the plan reached is unknown: the next closed-loop action starts afresh.
                run.plan_heading = None
            logger.info("plan %s: %s %s (%s)", run.command_id, action.type, action.direction, run.mode)
        elif isinstance(action, (Posture, Trick)):
            run.mode = "posture"
            self._commanded_posture = action.name if isinstance(action, Posture) else self._commanded_posture
            result.posture = action.name
            logger.info("plan %s: %s %s", run.command_id, action.type, action.name)
        else:
            run.mode = action.type

    def _aim(self, run: _Running, action) -> None:
        yaw = self._odom.yaw
        off = _wrap(yaw - run.plan_heading) if run.plan_heading is not None else 0.0
        if abs(off) > math.radians(self.options.max_heading_carry_deg):
            # Far off the plan's heading (pushed, or slipped): steering back would surprise; hold what is.
            logger.warning("plan %s: %.1f deg off the plan's heading; holding the present one", run.command_id,
                           math.degrees(off))
            off, run.plan_heading = 0.0, yaw
        if run.plan_heading is None:
            run.plan_heading = yaw
        if isinstance(action, Turn):
            sign = 1.0 if action.direction == "left" else -1.0
            run.turn_goal = sign * math.radians(action.angle_deg) - off
            run.plan_heading = _wrap(run.plan_heading + sign * math.radians(action.angle_deg))
        else:
            run.heading_error = _wrap(run.plan_heading - yaw)

    def _step_action(self, run: _Running, now: float, dt: float, result: TickResult):
        action = run.action
        if isinstance(action, Stop):
            self._output = ZERO
            return None
        if isinstance(action, Wait):
            return None if now - run.started >= action.duration_s else ZERO
        if isinstance(action, Posture):
            return self._step_posture(run, now, action.name, self.options.posture_duration_s)
        if isinstance(action, Trick):
            return self._step_posture(run, now, action.name, self.options.trick_duration_s)
        if run.mode == "closed-loop" and not self.odom_fresh(now):
            age = now - self._odom.stamp if self._odom else float("inf")
            self._fail(run, f"odometry went stale ({age:.2f} s old) during a closed-loop {action.type}")
            return ZERO
        if isinstance(action, Move):
            return self._step_move(run, action, dt)
        return self._step_turn(run, action, dt)

    def _step_posture(self, run: _Running, now: float, name: str, nominal_s: float):
        elapsed = now - run.started
        has_feedback = self._posture_state_stamp is not None
        if not has_feedback:
            return None if elapsed >= nominal_s else ZERO
        state = self._posture_state
        if name in ("stand", "sit", "lie_down"):
            # A report from before the command may still say the old posture: wait for the change.
            if state == name and (self._posture_state_stamp >= run.started or elapsed >= 0.2):
                return None
        else:
            if state == name:
                run.posture_seen_start = True
            elif run.posture_seen_start and state == "stand":
                return None
        if elapsed >= self.options.posture_timeout_s:
            self._fail(run, f"the dog did not confirm {name} within {self.options.posture_timeout_s:g} s")
            return ZERO
        return ZERO

    def _speed_profile(self, remaining: float, cruise: float, accel: float, floor: float, tolerance: float) -> float:
        if remaining <= tolerance:
            return 0.0
        brake = math.sqrt(2.0 * accel * remaining)
        return max(floor, min(cruise, brake, self.options.approach_gain * remaining))

    def _step_move(self, run: _Running, action: Move, dt: float):
        o = self.options
        ux, uy = _MOVE_UNITS[action.direction]
        speed_cap = min(action.speed_mps, self.limits.max_linear_speed_mps)
        accel = self.limits.max_linear_accel_mps2
        if run.mode == "time-based":
            run.dead_reckoned += math.hypot(self._output[0], self._output[1]) * dt
            remaining = action.distance_m - run.dead_reckoned
            speed = 0.0 if remaining <= 1e-4 else max(min(speed_cap, math.sqrt(2 * accel * remaining)), 0.02)
            if speed == 0.0:
                return None
            return ux * speed, uy * speed, 0.0
        start, pose = run.start_pose, self._odom
        c0, s0 = math.cos(run.plan_heading), math.sin(run.plan_heading)
        # Unit vector of the move and its left normal, in the odom frame, along the plan's heading.
        wx, wy = c0 * ux - s0 * uy, s0 * ux + c0 * uy
        dx, dy = pose.x - start.x, pose.y - start.y
        progress = dx * wx + dy * wy
        cross = -dx * wy + dy * wx
        remaining = action.distance_m - progress
        speed = self._speed_profile(remaining, speed_cap, accel, o.min_speed_mps, o.position_tolerance_m)
        if speed == 0.0:
            # At the goal: square up to the plan's heading before calling it done.
            error = run.heading_error
            if abs(error) > math.radians(o.heading_tolerance_deg) and run.aligning_s < o.max_align_s:
                run.aligning_s += dt
                rate = max(abs(o.heading_gain * error), math.radians(o.min_turn_rate_dps) / 2)
                return 0.0, 0.0, math.copysign(min(rate, math.radians(o.max_heading_correction_dps)), error)
            logger.info("plan %s: move done, %.3f m of %.3f m, heading off by %.1f deg", run.command_id, progress,
                        action.distance_m, math.degrees(_wrap(run.plan_heading - pose.yaw)))
            return None
        corr = _clip(-o.position_hold_gain * cross, o.max_correction_mps)
        # World-frame velocity: along the move, plus a pull back onto the line.
        vwx, vwy = speed * wx - corr * wy, speed * wy + corr * wx
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        # PI on the heading: a trot that veers steadily to one side leaves a P-only hold a degree or two off.
        limit = math.radians(o.max_heading_correction_dps)
        run.heading_integral = _clip(run.heading_integral + run.heading_error * dt, limit / max(o.heading_ki, 1e-9))
        wz = _clip(o.heading_gain * run.heading_error + o.heading_ki * run.heading_integral, limit)
        return c * vwx + s * vwy, -s * vwx + c * vwy, wz

    def _step_turn(self, run: _Running, action: Turn, dt: float):
        o = self.options
        sign = 1.0 if action.direction == "left" else -1.0
        target = math.radians(action.angle_deg)
        rate_cap = math.radians(min(self.defaults.turn_rate_dps, self.limits.max_angular_speed_dps))
        accel = math.radians(self.limits.max_angular_accel_dps2)
        if run.mode == "time-based":
            run.dead_reckoned += abs(self._output[2]) * dt
            remaining = target - run.dead_reckoned
            rate = 0.0 if remaining <= 1e-4 else max(min(rate_cap, math.sqrt(2 * accel * remaining)), math.radians(1.0))
            if rate == 0.0:
                return None
            return 0.0, 0.0, sign * rate
        remaining = sign * (run.turn_goal - run.turned)
        rate = self._speed_profile(remaining, rate_cap, accel, math.radians(o.min_turn_rate_dps),
                                   math.radians(o.angle_tolerance_deg))
        if rate == 0.0:
            logger.info("plan %s: turn done, %.1f deg of %.1f deg (%.1f deg to reach the plan's heading)",
                        run.command_id, math.degrees(sign * run.turned), action.angle_deg,
                        math.degrees(sign * run.turn_goal))
            return None
        start, pose = run.start_pose, self._odom
        # Turning on the spot: pull the body back to where the turn began.
        ex, ey = start.x - pose.x, start.y - pose.y
        vwx = _clip(o.position_hold_gain * ex, o.max_correction_mps)
        vwy = _clip(o.position_hold_gain * ey, o.max_correction_mps)
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        return c * vwx + s * vwy, -s * vwx + c * vwy, sign * rate

    def _ramp(self, desired: Tuple[float, float, float], dt: float) -> Tuple[float, float, float]:
        if desired == ZERO and self._running is None:
            # Idle or just stopped: no reason to creep down, zero is always safe.
            return ZERO
        lin = self.limits.max_linear_accel_mps2 * dt
        ang = math.radians(self.limits.max_angular_accel_dps2) * dt
        cur = self._output
        out = (cur[0] + _clip(desired[0] - cur[0], lin), cur[1] + _clip(desired[1] - cur[1], lin),
               cur[2] + _clip(desired[2] - cur[2], ang))
        return clamp_twist(out, self.limits)
