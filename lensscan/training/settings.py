"""Settings of ``lensscan train``: one frozen dataclass that checks its own values."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping

from lensscan.config import accepts, type_name
from lensscan.errors import SettingError, UserError
from lensscan.naming import canonical_name

SELECTION_RULES = ("val_auroc", "min_target_entropy", "last")
"""Model-selection rules of ``train`` besides ``auto`` (:mod:`lensscan.training.selection`)."""

_TRAIN_NUMBERS = (
    "grade_share",
    "epochs",
    "batch_size",
    "seed",
    "max_eval",
    "max_source",
    "max_target",
    "lr",
    "weight_decay",
    "restyle",
    "amp",
)
"""The number and flag settings of :class:`TrainConfig` whose types it checks itself."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of ``lensscan train`` (one encoder, one adaptation method, one run).

    Attributes:
        out: Weights folder to write (``weights/NAME``).
        source: Labelled source-domain cutout store (``.zarr``); not needed to adapt an
            ``init_model`` with AdaBN.
        target: Target-domain store whose images form the unlabelled pool (labels unused).
        val: Labelled target-domain store for model selection (target-val AUROC).
        source_split: Source split to train on; None: ``train`` if present, else all items.
        target_split: Target split of the pool; None: all items (minus --val items when the
            validation store is the target store).
        val_split: Validation split; None: ``val`` if present, else all items.
        encoder: Encoder registry name; None: the ``init_model``'s, else ``small_cnn``.
        method: Adaptation method registry name (``-`` and ``_`` alike).
        init_model: A trained model (name, folder, or ``default``) to start from: its
            weights, encoder, bands and normalisation; recorded as the new model's parent.
        epochs: Passes over the source training items.
        batch_size: Source (and target) items per step.
        lr: Learning rate (Adam).
        weight_decay: Decoupled weight decay (AdamW).
        seed: Seed of initialisation, sampling and augmentation.
        device: cpu, cuda, cuda:N or mps; None picks CUDA, MPS, then CPU.
        amp: Mixed precision (bf16, else fp16) on CUDA.
        max_source: Use at most this many source items (a seeded random subset).
        restyle: Share of the source training items shown as display images (a random
            non-linear stretch, clipping, 8-bit quantisation and per-band [0, 1] scaling,
            :mod:`lensscan.data.restyle`), as published lens samples and citizen-science
            cutouts are; 0 shows every item as flux.
        grades: A grade database of ``lensscan inspect``: its consensus lenses become
            positives and the candidates every grader gave 0 hard negatives, mixed into
            the source items (stamps from the fields the graded catalog came from).
        grade_cutouts: Cutout store whose item k is row k of the graded catalog, instead
            of the catalog's fields (needs ``grades``).
        grade_share: Share of the labelled items the graded items are repeated to.
        max_target: Use at most this many target-pool items.
        max_eval: At most this many items for the per-epoch validation and target criteria.
        init_checkpoint: Safetensors file to initialise the encoder from (matched by name).
        normalisation: Settings of the input normalisation of a model trained from
            scratch (fields of :class:`~lensscan.data.normalize.RobustAsinh`: ``border``,
            ``softening``, ``clip``, ``relative_floor``, ``noise``); a model started from
            ``init_model`` keeps its parent's.
        selection: Model-selection rule: auto (val_auroc with --val, else last), val_auroc,
            last or min_target_entropy.
        method_options: Method settings overriding the method's defaults (see its docs).
        resume: Continue an interrupted run of the same settings from its last epoch.
        overwrite: Replace an existing output folder (and discard an interrupted run).
    """

    out: str
    source: str | None = None
    target: str | None = None
    val: str | None = None
    source_split: str | None = None
    target_split: str | None = None
    val_split: str | None = None
    encoder: str | None = None
    method: str = "supervised"
    init_model: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str | None = None
    amp: bool = True
    max_source: int | None = None
    restyle: float = 0.0
    grades: str | None = None
    grade_cutouts: str | None = None
    grade_share: float = 0.1
    max_target: int | None = None
    max_eval: int = 4096
    init_checkpoint: str | None = None
    normalisation: Mapping[str, float | str] = dataclasses.field(default_factory=dict)
    selection: str = "auto"
    method_options: Mapping[str, float] = dataclasses.field(default_factory=dict)
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        # A file's or a variable's values are type-checked by resolve_config; a Python
        # caller's numbers are checked here, before any range check compares them.
        hints = typing.get_type_hints(TrainConfig)
        for name in _TRAIN_NUMBERS:
            value = getattr(self, name)
            if not accepts(hints[name], value):
                raise SettingError(name, value, f"does not fit its type ({type_name(hints[name])})")
        if not isinstance(self.method_options, Mapping):
            raise SettingError(
                "method_options", self.method_options, "expected a table of KEY = number"
            )
        if self.source is None and not (self.init_model and canonical_name(self.method) == "adabn"):
            raise UserError(
                "missing `source` (or set it in `config`); only `method` adabn with "
                "`init_model` adapts without a source store"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise UserError("`batch_size` must be at least 2 (BatchNorm needs two items)")
        if not self.lr > 0:
            raise UserError(f"`lr` must be positive, got {self.lr}")
        if not 0.0 <= self.restyle <= 1.0:
            raise UserError(f"`restyle` must be in [0, 1], got {self.restyle}")
        if not 0.0 < self.grade_share < 1.0:
            raise UserError(f"`grade_share` must be in (0, 1), got {self.grade_share}")
        if self.grade_cutouts is not None and self.grades is None:
            raise UserError(
                "`grade_cutouts`: holds the stamps of graded candidates; give `grades` too"
            )
        if self.grades is not None and self.source is None:
            raise UserError("`grades` are mixed into the source items; give `source` too")
        self._check_selection()

    def _check_selection(self) -> None:
        """The selection rule is known and has the data it compares epochs on."""
        if self.selection != "auto" and self.selection not in SELECTION_RULES:
            raise SettingError(
                "selection",
                self.selection,
                f"unknown rule; choose one of auto, {', '.join(SELECTION_RULES)}",
            )
        if self.selection == "val_auroc" and self.val is None:
            raise UserError("`selection` val_auroc needs labelled target-validation items (`val`)")
        if self.selection == "min_target_entropy" and self.target is None:
            raise UserError("`selection` min_target_entropy needs a target pool (`target`)")
