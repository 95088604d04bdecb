"""Training configuration and the PEFT adapter configs it builds (ShadowPEFT, LoRA, DoRA)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import List, Optional

METHODS = ("shadow", "lora", "dora")
STAGES = ("joint", "detached")
SCHEDULES = ("cosine", "linear", "constant_with_warmup")


@dataclass
class TrainConfig:
    """Everything that determines a training run; saved next to the adapter so a run can be repeated."""

    method: str = field(default="shadow", metadata={"help": "Adapter method: 'shadow', 'lora' or 'dora'."})
    backbone: str = field(
        default="smollm2-135m",
        metadata={"help": "Hugging Face causal LM id or directory; 'smollm2-135m' is the converted SmolLM2 GGUF."},
    )
    out_dir: str = field(default="models/adapters/shadow", metadata={"help": "Where the adapter and metrics go."})
    run_dir: Optional[str] = field(
        default=None, metadata={"help": "Checkpoints for resuming (default: runs/<method>); keep it out of git."}
    )
    steps: int = field(default=150, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step."})
    learning_rate: Optional[float] = field(
        default=None, metadata={"help": "Peak learning rate (default: 1e-3 for shadow, 5e-4 for lora/dora)."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of steps spent warming up the learning rate."})
    schedule: str = field(default="cosine", metadata={"help": f"Learning-rate schedule after warmup: {SCHEDULES}."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    seed: int = field(default=0, metadata={"help": "Seed for data, initialisation and dropout."})
    n_train: Optional[int] = field(
        default=None, metadata={"help": "Training examples (default: steps * batch_size, one pass without repeats)."}
    )
    n_dev: int = field(default=64, metadata={"help": (
        "Dev examples for the final teacher-forced dev loss: the same examples in every run, whatever the seed, "
        "so runs compare; also reported by kind.")})
    max_prompt_tokens: int = field(default=64, metadata={"help": "Longer utterances are cut to this many tokens."})
    save_every: int = field(default=25, metadata={"help": "Write a resumable checkpoint every N steps (0: never)."})
    log_every: int = field(default=5, metadata={"help": "Record the running loss every N steps."})
    resume: bool = field(default=False, metadata={"help": "Continue from the latest checkpoint in run_dir."})
    save_dtype: str = field(
        default="float32",
        metadata={"help": "Dtype of the saved adapter: 'float32' reloads bit-identically; 'float16' halves its size "
                          "(the committed adapters) and is loaded back into float32."},
    )
    init_adapter: Optional[str] = field(
        default=None,
        metadata={"help": "Start from this trained adapter's weights (a second stage on fresh data, new schedule)."},
    )
    stage: str = field(
        default="joint",
        metadata={"help": "'joint' trains the attached path (and, for shadow, the detached loss beside it); 'detached' "
                          "trains the shadow alone without running the backbone (shadow pretraining, 3-5x cheaper a "
                          "step); continue with a joint stage from it through init_adapter."},
    )
    asr_cache: Optional[str] = field(
        default=None,
        metadata={"help": "Real Whisper transcripts of spoken training sentences (`shadowpeft data asr`): a cache file "
                          "or its directory. They replace as many generated examples, so n_train stays the total."},
    )
    kind_weights: Optional[List[float]] = field(
        default=None,
        metadata={"help": "Weights of the generated kinds (command, multi-step, out of scope, refusal) in the training "
                          "data (default: the generator's KIND_WEIGHTS); the dev examples keep the defaults."},
    )
    step_weights: Optional[List[float]] = field(
        default=None,
        metadata={"help": "Weights of 2, 3 and 4 actions in generated multi-step training examples (default: the "
                          "generator's STEP_WEIGHTS)."},
    )
    phrasings: str = field(
        default="train",
        metadata={"help": "Which phrasings generated training examples draw from: train (the dev split's stay held "
                          "out), or all, for a final model once a recipe is chosen on the dev split, whose figures "
                          "then measure no held-out phrasings."},
    )
    # ShadowPEFT
    shadow_r: int = field(default=16, metadata={"help": "ShadowConfig.r: rank of the injection bottleneck."})
    shadow_update_hidden: Optional[int] = field(
        default=None,
        metadata={"help": "ShadowConfig.update_hidden_size: width of the per-layer shadow-state update MLPs (default: "
                          "shadow_r). Keeping it at 16 while shadow_r grows spends the parameters on the injection, "
                          "the attached path's only way to change the backbone."})
    shadow_layers: int = field(default=1, metadata={"help": "ShadowConfig.shadow_num_hidden_layers."})
    shadow_alpha: float = field(default=0.1, metadata={"help": "ShadowConfig.shadow_alpha: injection strength."})
    shadow_dropout: float = field(default=0.05, metadata={"help": "ShadowConfig.shadow_dropout."})
    shadow_aux_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the detached (shadow-only) loss; high because the detached model must stand alone."},
    )
    shadow_injection_lr_scale: float = field(
        default=1.0,
        metadata={"help": "Learning-rate multiplier of the injection bottleneck (shadow_down / shadow_up), LoRA+-style. "
                          "The injection is the attached path's only way to change the backbone, and shadow_alpha "
                          "(0.1) scales its output. Measured once (2026-12-02): 50 joint steps from the generation-3 adapter at x10 "
                          "raised the attached dev loss from 0.355 (x1) to 0.375, so 1 stays the default."},
    )
    shadow_warm_start: bool = field(
        default=True,
        metadata={"help": "Start the mirror shadow backbone from the backbone's first layers and final norm."},
    )
    # LoRA / DoRA
    lora_r: int = field(
        default=48,
        metadata={"help": "LoRA rank; 48 on q/k/v/o of SmolLM2-135M is within 7 percent of the shadow's trainable size."},
    )
    lora_alpha: int = field(default=96, metadata={"help": "LoRA alpha (scaling alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_targets: List[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "Module names LoRA/DoRA adapt."},
    )

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.save_dtype not in ("float32", "float16"):
            raise ValueError(f"save_dtype must be 'float32' or 'float16', got {self.save_dtype!r}")
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.stage == "detached" and self.method != "shadow":
            raise ValueError("stage 'detached' trains a shadow alone: it needs method 'shadow'")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.shadow_update_hidden is not None and int(self.shadow_update_hidden) < 1:
            raise ValueError(f"shadow_update_hidden must be >= 1, got {self.shadow_update_hidden!r}")
        for name in ("steps", "batch_size", "shadow_r", "shadow_layers", "lora_r", "lora_alpha", "max_prompt_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.learning_rate is None:
            self.learning_rate = 1e-3 if self.method == "shadow" else 5e-4
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not (self.shadow_injection_lr_scale > 0 and math.isfinite(self.shadow_injection_lr_scale)):
            raise ValueError(f"shadow_injection_lr_scale must be positive, got {self.shadow_injection_lr_scale}")
        if self.shadow_aux_weight < 0:
            raise ValueError(f"shadow_aux_weight must be >= 0, got {self.shadow_aux_weight}")
        from .data import KINDS, STEP_COUNTS, TRAINING_SPLITS, check_weights

        if self.phrasings not in TRAINING_SPLITS:
            raise ValueError(f"phrasings must be one of {TRAINING_SPLITS}, got {self.phrasings!r}")

        if self.kind_weights is not None:
            self.kind_weights = list(check_weights("kind_weights", self.kind_weights, len(KINDS)))
        if self.step_weights is not None:
            self.step_weights = list(check_weights("step_weights", self.step_weights, len(STEP_COUNTS)))
        if self.n_train is None:
            self.n_train = self.steps * self.batch_size
        if self.run_dir is None:
            self.run_dir = f"runs/{self.method}"

    def to_dict(self) -> dict:
        return asdict(self)


def build_peft_config(config: TrainConfig):
    """Return the PEFT config for the run's method (ShadowConfig, or LoraConfig with or without DoRA)."""
    from peft import LoraConfig, ShadowConfig, TaskType

    if config.method == "shadow":
        return ShadowConfig(
            task_type=TaskType.CAUSAL_LM,
            r=config.shadow_r,
            shadow_alpha=config.shadow_alpha,
            shadow_dropout=config.shadow_dropout,
            shadow_num_hidden_layers=config.shadow_layers,
            update_hidden_size=config.shadow_update_hidden,
            # The detached loss is added by our loop with the right targets (see train.py), not by PEFT's forward.
            auxiliary_loss_weight=config.shadow_aux_weight,
        )
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_targets),
        use_dora=config.method == "dora",
    )
