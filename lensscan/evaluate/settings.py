"""Settings of ``lensscan evaluate``: one frozen dataclass that checks its own values."""

from __future__ import annotations

import dataclasses
import math
import re

from lensscan.catalog.crossmatch import MATCH_RADIUS_ARCSEC
from lensscan.errors import SettingError, UserError, check_ranges

RESCALINGS = ("none", "minmax")
"""What an evaluation's ``rescale`` setting accepts."""

_RECORD_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/+-]*$")


def check_rescaling(how: str) -> None:
    """Refuse a ``rescale`` that is not one of :data:`RESCALINGS`.

    Raises:
        SettingError: ```rescale` <how>: choose one of none, minmax``.
    """
    if how not in RESCALINGS:
        raise SettingError("rescale", how, f"choose one of {', '.join(RESCALINGS)}")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Settings of ``lensscan evaluate`` (labelled cutouts, or a field catalog against truth).

    Attributes:
        models: Model names or weight folders; empty means the default model.
        data: Cutout store (``.zarr``) or labelled folder (DeepLense layout) to evaluate on.
        split: The split to evaluate (store split name or folder prefix).
        bands: Band names of a folder's channels (default g,r,i for 3 channels, i for 1).
        report_dir: Output folder; None means ``reports/evaluate-<UTC time>``.
        overwrite: Replace an existing report folder.
        threshold: Score at or above which an item counts as a predicted lens.
        bootstrap: Stratified bootstrap replicates for the 95% intervals (0 turns them off).
        seed: Seed of the bootstrap.
        batch_size: Cutouts per forward pass.
        device: Where to run the models (None: CUDA, MPS, then CPU).
        montage_size: Cutouts in each montage of the worst-ranked items.
        catalog: Candidate catalog (ECSV from ``lensscan scan``) for field evaluation.
        truth: Truth catalog (ECSV from ``lensscan simulate-field``) for field evaluation.
        match_radius: Largest candidate-truth separation of a match, arcsec.
        area_deg2: Field area for false positives per square degree (else from metadata).
        record_as: Also write each model's metrics into its card under this label.
        headline: Make the recorded metrics the card's headline metrics.
        rescale: ``none``, or ``minmax`` to score per-band min-max-normalised copies of the
            cutouts (the format of many published cutout sets), a check that a model's
            normalisation makes it indifferent to the flux scale.
    """

    models: tuple[str, ...] = ()
    data: str | None = None
    split: str = "test"
    bands: tuple[str, ...] | None = None
    report_dir: str | None = None
    overwrite: bool = False
    threshold: float = 0.5
    bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 256
    device: str | None = None
    montage_size: int = 16
    catalog: str | None = None
    truth: str | None = None
    match_radius: float = MATCH_RADIUS_ARCSEC
    area_deg2: float | None = None
    record_as: str | None = None
    headline: bool = False
    rescale: str = "none"

    def __post_init__(self) -> None:
        check_ranges(
            [
                ("bootstrap", self.bootstrap, self.bootstrap >= 0),
                ("threshold", self.threshold, math.isfinite(self.threshold)),
                ("batch_size", self.batch_size, self.batch_size >= 1),
                ("montage_size", self.montage_size, self.montage_size >= 0),
                (
                    "match_radius",
                    self.match_radius,
                    math.isfinite(self.match_radius) and self.match_radius > 0,
                ),
            ]
        )
        check_rescaling(self.rescale)
        if self.headline and self.record_as is None:
            raise UserError("`headline`: needs `record_as` LABEL (the name of the measurement)")
        if self.record_as is not None and not _RECORD_LABEL.match(self.record_as):
            raise SettingError(
                "record_as",
                self.record_as,
                "use letters, digits, spaces and ._:/+- (e.g. 'hsc test')",
            )
        self._check_kind()

    def _check_kind(self) -> None:
        """One kind of evaluation, with what it needs: a field's catalogs, or cutouts."""
        if self.catalog is None and self.truth is None:
            if self.data is None:
                raise UserError("`data`: give a cutout store or labelled folder to evaluate on")
            return
        if self.models or self.data is not None:
            raise UserError(
                "`catalog`/`truth` evaluate a field catalog; `model`/`data` evaluate cutouts: "
                "give one kind"
            )
        if self.record_as is not None:
            raise UserError("`record_as`: records cutout metrics in model cards; not for `catalog`")
        if self.truth is None or self.catalog is None:
            raise UserError("`catalog` and `truth`: a field evaluation needs both catalogs")
