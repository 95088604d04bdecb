"""The interpreter: the models of one deployment, loaded once, and the decision policy that uses them.

``Interpreter`` owns the engines: the detached shadow on board (``detached_path``, or the cached
export of ``adapter_path``), and the remote model, which is the offload server when
``OffloadOptions.url`` is set, or, as a debugging option only (``in_process_attached``), the
attached model in this process. Every utterance is decided by ``policy.DecisionPolicy``; the
robot's node, ``shadowpeft interpret``, the demo and the evaluation all come through here.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from ..policy import Decision, DecisionPolicy, InProcessRemote, PolicyOptions
from ..safety import MotionDefaults, SafetyLimits
from .decoding import MAX_NEW_TOKENS
from .engine import PlanEngine

logger = logging.getLogger("shadowpeft_ros")

# What answers remote ([REMOTE]) requests.
REMOTE_OFFLOAD, REMOTE_IN_PROCESS, REMOTE_NONE = "offload", "in-process", "none"


@dataclass
class InterpreterOptions:
    """Which models the interpreter loads; the ROS node maps its parameters onto these fields one to one."""

    detached_path: str = field(
        default="", metadata={"help": "Directory written by `shadowpeft export`; empty means the export of "
                                      "adapter_path in the cache, written there on first use."}
    )
    adapter_path: str = field(
        default="models/adapters/shadow", metadata={"help": "Shadow adapter the detached model is cut from (and "
                                                            "the in-process attached model, when enabled)."}
    )
    backbone: str = field(
        default="", metadata={"help": "Backbone id or path for an in-process attached model ('' = the one it was "
                                      "trained on)."}
    )
    max_new_tokens: int = field(default=MAX_NEW_TOKENS, metadata={
        "range": (4, 512), "help": "Generation budget; an unfinished output is rejected."})
    in_process_attached: bool = field(default=False, metadata={
        "help": "DEBUGGING: without an offload URL, run the attached model (backbone + adapter) in this process. "
                "The robot's deployment runs it only behind an offload server."})

    def __post_init__(self):
        if int(self.max_new_tokens) < 4:
            raise ValueError(f"max_new_tokens must be >= 4, got {self.max_new_tokens!r}")


class Interpreter:
    """Utterance -> ``Decision``, with the engines loaded once (``load``, or lazily on first use)."""

    def __init__(self, options: Optional[InterpreterOptions] = None, policy: Optional[PolicyOptions] = None,
                 limits: Optional[SafetyLimits] = None, defaults: Optional[MotionDefaults] = None,
                 detached: Optional[PlanEngine] = None, attached: Optional[PlanEngine] = None,
                 remote: Any = None, offload: Any = None):
        """``detached``/``attached``/``remote`` inject engines (tests, the evaluation); ``offload`` is OffloadOptions."""
        self.options = options or InterpreterOptions()
        self.policy_options = policy or PolicyOptions()
        self.limits = limits or SafetyLimits()
        self.defaults = defaults or MotionDefaults()
        self.offload = offload
        self._detached = detached
        self._attached = attached
        self._remote = remote
        self._injected = {"detached": detached is not None, "remote": remote is not None}
        self._policy: Optional[DecisionPolicy] = None
        self._load_lock = threading.RLock()

    # ------------------------------------------------------------------------------------------- engines

    @property
    def mode(self) -> str:
        return self.policy_options.mode

    @property
    def detached(self) -> PlanEngine:
        """Return the detached engine, loading the export on first use (raises FileNotFoundError if missing)."""
        with self._load_lock:
            if self._detached is None:
                from .engine import DetachedEngine, warm_up

                self._detached = DetachedEngine.from_export(self.detached_dir(), self.options.max_new_tokens)
                logger.info("detached model warmed up in %.2f s", warm_up(self._detached))
            return self._detached

    def detached_dir(self) -> str:
        """Return the detached export to load: ``detached_path``, or the cached export of ``adapter_path``."""
        if self.options.detached_path:
            return self.options.detached_path
        return str(ensure_detached_export(self.options.adapter_path, self.options.backbone or None))

    def remote_source(self) -> str:
        """Return what answers remote requests: REMOTE_OFFLOAD, REMOTE_IN_PROCESS or REMOTE_NONE."""
        if (self._remote is not None and self._injected["remote"]) or (self.offload is not None and self.offload.enabled):
            return REMOTE_OFFLOAD
        if self._attached is not None or self.options.in_process_attached:
            return REMOTE_IN_PROCESS
        return REMOTE_NONE

    def remote_kind(self) -> str:
        """Describe the remote side for logs and diagnostics: 'offload <url>', 'in-process', or 'none'."""
        source = self.remote_source()
        if source != REMOTE_OFFLOAD:
            return source
        if self._remote is not None and self._injected["remote"]:
            return f"offload {getattr(getattr(self._remote, 'options', None), 'url', '') or 'injected'}"
        return f"offload {self.offload.url}"

    def _build_remote(self):
        if self._remote is not None:
            return self._remote
        source = self.remote_source()
        if source == REMOTE_OFFLOAD:
            from ..offload.client import OffloadClient

            self._remote = OffloadClient(self.offload).start()
        elif source == REMOTE_IN_PROCESS:
            if self._attached is None:
                from .engine import AttachedEngine

                logger.warning("loading the attached model in this process (in_process_attached, a debugging option)")
                self._attached = AttachedEngine.from_adapter(str(resolve_adapter_dir(self.options.adapter_path)),
                                                             self.options.backbone or None, self.options.max_new_tokens)
            self._remote = InProcessRemote(self._attached)
        return self._remote

    def load(self) -> DecisionPolicy:
        """Load what the mode needs and build the policy (a lifecycle node's on_configure); idempotent."""
        with self._load_lock:
            if self._policy is None:
                local = self.detached if self.mode != "attached" else None
                remote = self._build_remote() if self.mode != "detached" else None
                recorded = {"remote": self.remote_kind() if remote is not None else "none"}
                if self.offload is not None:
                    recorded["deadline_s"] = self.offload.deadline_s
                self._policy = DecisionPolicy(local, remote, self.policy_options, self.limits, self.defaults, recorded)
            return self._policy

    @property
    def policy(self) -> DecisionPolicy:
        return self.load()

    def close(self) -> None:
        """Drop what this interpreter loaded (a lifecycle node's on_cleanup); injected engines are kept."""
        with self._load_lock:
            if self._policy is not None:
                if self._injected["remote"]:
                    self._policy.remote = None  # the owner of an injected remote closes it
                self._policy.close()
                self._policy = None
            if not self._injected["remote"]:
                self._remote = None
            if not self._injected["detached"]:
                self._detached = None

    # ---------------------------------------------------------------------------------------- interpret

    def interpret(self, text: str, command_id: str = "", is_stop: bool = False) -> Decision:
        """Decide one utterance: a plan that has passed the schema and the safety limits, or a spoken refusal."""
        return self.load().decide(text, command_id, is_stop)

    def status(self) -> Dict[str, Any]:
        """Return the policy's snapshot (mode, remote state, decision counts); loads nothing."""
        if self._policy is None:
            return {"mode": self.mode, "enabled": False, "url": "", "reachable": None, "breaker": "n/a",
                    "last_rtt_s": None, "decisions": {}, "escalated": 0}
        return self._policy.status()


def resolve_adapter_dir(path: str) -> Path:
    """Return an adapter directory: as given when it exists, else relative to the package's share directory."""
    candidate = Path(path).expanduser()
    if candidate.is_dir() or candidate.is_absolute():
        return candidate
    from ..paths import package_share

    return package_share() / candidate


def ensure_detached_export(adapter_path: str, backbone: Optional[str] = None) -> Path:
    """Return the cached detached export of a shadow adapter, exporting it once if it is not there yet.

    The cache key is the adapter's content hash, so a retrained adapter gets a fresh export.
    """
    import hashlib

    from .backbone import cache_dir
    from .export import export_detached

    adapter = resolve_adapter_dir(adapter_path)
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"shadow adapter weights not found: {weights} (train one with `shadowpeft train "
                                f"--method shadow`, or pass detached_path from `shadowpeft export`)")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    out = cache_dir() / "detached" / f"{adapter.name}-{digest}"
    from .export import META_FILE

    if not (out / META_FILE).is_file():
        logger.warning("exporting the detached shadow of %s to %s (once; later starts load it directly)", adapter, out)
        # Written aside and renamed, so an interrupted export is never taken for a complete one; the folder is
        # this process's own, so two processes starting at once (a node and an evaluation) cannot collide.
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".partial-", dir=out.parent))
        try:
            export_detached(str(adapter), str(tmp), backbone)
            try:
                tmp.rename(out)
            except OSError:
                if not (out / META_FILE).is_file():  # not another process's finished export: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
