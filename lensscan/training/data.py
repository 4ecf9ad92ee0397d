"""Training data: source, target pool and validation items read from cutout stores.

People's grades (``grades``) add the graded candidates of a first scan to the labelled
items, repeated to a share of them (:mod:`lensscan.inspect.graded_set`). Items are read
once, normalised with the model's normalisation and kept as tensors on the training device
(a few thousand 3 x 64 x 64 cutouts take tens of MB), so augmentation and batching never
touch the disk. Subsets (``max_source``, ``max_target``, per-epoch evaluation) are seeded
random draws.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensscan.data.normalize import DEFAULT_NORMALISATION, Normalisation, RobustAsinh
from lensscan.data.restyle import restyle
from lensscan.data.store import LENS, NONLENS, CutoutStore
from lensscan.errors import SettingError, UserError
from lensscan.models.registry import check_input_size
from lensscan.pixels import centre_crop
from lensscan.provenance import sha256_file, sha256_tree
from lensscan.training.settings import TrainConfig

#: Stores up to this size are hashed completely; larger ones by metadata, labels and splits.
FULL_HASH_LIMIT = 256 * 1024 * 1024
#: Items normalised per chunk while loading.
_CHUNK = 1024


@dataclass(frozen=True)
class DomainData:
    """Normalised items of one store split.

    Attributes:
        images: (N, C, H, W) normalised images on the training device.
        labels: (N,) float labels on the device, or None for an unlabelled pool.
        path: The store.
        split: The split used (None: all items).
        setting: The setting that named the store (``source``, ``target`` or ``val``).
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    path: Path
    split: str | None
    setting: str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def describe(self) -> dict[str, Any]:
        """Path, split, item count and class counts, for the model card."""
        record: dict[str, Any] = {
            "path": str(self.path.resolve()),
            "split": self.split,
            "items": len(self),
        }
        if self.labels is not None:
            record["lenses"] = int((self.labels == LENS).sum())
            record["non_lenses"] = int((self.labels == NONLENS).sum())
        return record


@dataclass(frozen=True)
class TrainingData:
    """Everything a run trains and evaluates on.

    Attributes:
        source: Labelled source items.
        target: Unlabelled target pool (shuffled), or None.
        val: Labelled target-validation items, or None.
        source_val: The source store's ``val`` split (at most ``max_eval`` items), or None.
        bands: Band names shared by all stores.
        pixel_scale: Pixel scale in arcsec (None if no store says).
        input_size: Side of the square cutouts.
        graded: The graded candidates of ``grades``, each repeated ``repeats`` times, or None.
        graded_record: Database, consensus rule, counts, repeats and share, for the card.
    """

    source: DomainData
    target: DomainData | None
    val: DomainData | None
    source_val: DomainData | None
    bands: tuple[str, ...]
    pixel_scale: float | None
    input_size: int
    graded: DomainData | None = None
    graded_record: dict[str, Any] | None = None

    @cached_property
    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The items a supervised step draws from: the source, then the graded items."""
        assert self.source.labels is not None
        if self.graded is None:
            return self.source.images, self.source.labels
        assert self.graded.labels is not None
        return (
            torch.cat([self.source.images, self.graded.images]),
            torch.cat([self.source.labels, self.graded.labels]),
        )

    @property
    def pos_weight(self) -> float:
        """n_non-lens / n_lens of the labelled items: the weight of lens terms in the loss."""
        labels = self.labelled[1]
        return float((labels == NONLENS).sum()) / float((labels == LENS).sum())


def store_fingerprint(path: Path) -> dict[str, str]:
    """A content hash of a store, cheap enough for large stores.

    Stores up to :data:`FULL_HASH_LIMIT` are hashed file by file (``sha256_tree``). Larger
    stores are hashed over every file except the image chunks: metadata (whose attributes
    carry the generator's provenance and seeds), labels, splits and parameters.
    """
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if sum(f.stat().st_size for f in files) <= FULL_HASH_LIMIT:
        return {"sha256": sha256_tree(path), "hash_scope": "all files"}
    digest = hashlib.sha256()
    for file in files:
        relative = file.relative_to(path).as_posix()
        if relative.startswith("images/c/"):
            continue
        digest.update(relative.encode() + b"\0" + sha256_file(file).encode())
    return {"sha256": digest.hexdigest(), "hash_scope": "metadata, labels, splits, params"}


def _resolve_split(store: CutoutStore, requested: str | None, conventional: str) -> str | None:
    if requested is not None:
        return requested
    return conventional if conventional in store.splits_present() else None


def _subset(indices: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is not None and len(indices) > limit:
        indices = rng.choice(indices, size=limit, replace=False)
    return np.sort(indices)


def _normalised(
    store: CutoutStore,
    indices: np.ndarray,
    norm: Normalisation,
    device: torch.device,
    restyled: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """Items read and normalised in chunks; those flagged in ``restyled`` as display images."""
    chunks = []
    for i in range(0, len(indices), _CHUNK):
        images = store.read_images(indices[i : i + _CHUNK])
        if restyled is not None and rng is not None:
            flagged = restyled[i : i + _CHUNK]
            if flagged.any():
                images[flagged] = restyle(images[flagged], rng)
        chunks.append(norm(torch.from_numpy(images).to(device)))
    return torch.cat(chunks)


def _labels(store: CutoutStore, indices: np.ndarray, setting: str, split: str | None) -> np.ndarray:
    labels = store.labels[indices]
    where = f"`{setting}` {store.path}" + (f" split {split!r}" if split else "")
    if np.any(labels < 0):
        raise UserError(
            f"{where}: {int((labels < 0).sum())} items are unlabelled; labels are needed"
        )
    if not (np.any(labels == LENS) and np.any(labels == NONLENS)):
        raise UserError(f"{where}: needs both lenses and non-lenses")
    return labels


def _labelled_domain(
    store: CutoutStore,
    indices: np.ndarray,
    split: str | None,
    setting: str,
    norm: Normalisation,
    device: torch.device,
    restyle_share: float = 0.0,
    seed: np.random.SeedSequence | None = None,
) -> DomainData:
    """Normalised images and their labels, on the device.

    A seeded ``restyle_share`` of the items is shown as display images (see
    :mod:`lensscan.data.restyle`).
    """
    labels = _labels(store, indices, setting, split)
    restyled, rng = None, None
    if restyle_share > 0:
        rng = np.random.default_rng(seed)
        restyled = rng.uniform(size=len(indices)) < restyle_share
    return DomainData(
        _normalised(store, indices, norm, device, restyled, rng),
        torch.from_numpy(labels.astype(np.float32)).to(device),
        store.path,
        split,
        setting,
    )


def _check_compatible(
    stores: dict[str, CutoutStore], encoder: str
) -> tuple[tuple[str, ...], float | None, int]:
    (first_setting, first), *others = stores.items()
    _, height, width = first.image_shape
    if height != width:
        raise UserError(
            f"`{first_setting}` {first.path}: cutouts are {height}x{width}; "
            "square cutouts are needed"
        )
    for setting, store in others:
        if store.bands != first.bands:
            raise UserError(
                f"`{setting}` {store.path}: bands {','.join(store.bands)} differ from "
                f"`{first_setting}`'s {','.join(first.bands)}"
            )
        if store.image_shape != first.image_shape:
            raise UserError(
                f"`{setting}` {store.path}: cutouts {store.image_shape} differ from "
                f"`{first_setting}`'s {first.image_shape}"
            )
    scales = {setting: s.pixel_scale for setting, s in stores.items() if s.pixel_scale is not None}
    values = list(scales.values())
    if values and any(abs(v - values[0]) > 1e-3 * values[0] for v in values):
        listed = ", ".join(f"`{setting}` {v}" for setting, v in scales.items())
        raise UserError(f"stores have different pixel scales ({listed} arcsec)")
    check_input_size(encoder, height, f"`{first_setting}` {first.path}")
    return first.bands, (values[0] if values else None), height


def labelled_split(
    store: CutoutStore,
    split: str | None,
    max_items: int | None,
    seed: np.random.SeedSequence | int,
    norm: Normalisation,
    device: torch.device,
    option: str = "val",
) -> DomainData:
    """Labelled items of a split (``val`` if present when None), a seeded subset, normalised.

    Args:
        store: The labelled store.
        split: The split to read (None: ``val`` if the store has it, else every item).
        max_items: At most this many items (a seeded random subset).
        seed: Seed of the subset.
        norm: The model's normalisation.
        device: Where the tensors live.
        option: The setting that named the store (``val``), for messages.

    Raises:
        UserError: If items are unlabelled or a class is missing.
    """
    chosen = _resolve_split(store, split, "val")
    indices = _subset(store.split_indices(chosen), max_items, np.random.default_rng(seed))
    return _labelled_domain(store, indices, chosen, option, norm, device)


def pool_data(
    store: CutoutStore,
    split: str | None,
    max_items: int | None,
    seed: np.random.SeedSequence | int,
    norm: Normalisation,
    device: torch.device,
    exclude: np.ndarray | None = None,
) -> DomainData:
    """An unlabelled target pool: a seeded, shuffled subset of a store's split, normalised.

    Args:
        store: The target store (its labels are never read).
        split: The split of the pool (None: every item).
        max_items: At most this many items (a seeded random subset).
        seed: Seed of the subset and the shuffle.
        norm: The model's normalisation.
        device: Where the tensors live.
        exclude: Item indices to leave out (the validation items, when they share a store).

    Raises:
        UserError: If fewer than two items remain.
    """
    pool = store.split_indices(split)
    if exclude is not None:
        pool = np.setdiff1d(pool, exclude)
    if len(pool) < 2:
        raise UserError(f"`target` {store.path}: needs at least 2 pool items, found {len(pool)}")
    rng = np.random.default_rng(seed)
    pool = rng.permutation(_subset(pool, max_items, rng))
    return DomainData(_normalised(store, pool, norm, device), None, store.path, split, "target")


def own_normalisation(config: TrainConfig) -> RobustAsinh:
    """The input normalisation of a model trained from scratch with ``config``.

    Raises:
        SettingError: If ``normalisation`` names an unknown setting or a bad value.
    """
    if not config.normalisation:
        return DEFAULT_NORMALISATION
    try:
        return RobustAsinh(**config.normalisation)
    except (TypeError, ValueError) as exc:
        raise SettingError("normalisation", dict(config.normalisation), str(exc)) from None


def load_training_data(
    config: TrainConfig, norm: Normalisation, device: torch.device
) -> TrainingData:
    """Open, check, subset, read and normalise the stores of a run.

    Raises:
        UserError: If a store is missing, empty, unlabelled where labels are needed, or its
            bands, cutout size or pixel scale do not fit the others or the encoder.
    """
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    # Keyed by setting; the first is the one the others must match.
    stores = {"source": CutoutStore.open(config.source, "source")}
    if config.target is not None:
        stores["target"] = CutoutStore.open(config.target, "target")
    if config.val is not None:
        stores["val"] = CutoutStore.open(config.val, "val")
    bands, pixel_scale, size = _check_compatible(stores, config.encoder)

    source_store = stores["source"]
    source_split = _resolve_split(source_store, config.source_split, "train")
    source_idx = _subset(
        source_store.split_indices(source_split), config.max_source, np.random.default_rng(seeds[0])
    )
    if len(source_idx) < 2:
        raise UserError(
            f"`source` {source_store.path}: needs at least 2 items, found {len(source_idx)}"
        )
    source = _labelled_domain(
        source_store,
        source_idx,
        source_split,
        "source",
        norm,
        device,
        restyle_share=config.restyle,
        seed=seeds[4],
    )

    graded, graded_record = None, None
    if config.grades is not None:
        graded, graded_record = _graded_items(config, source_store, len(source), norm, device)

    val = None
    val_idx = np.zeros(0, np.int64)
    if "val" in stores:
        val_store = stores["val"]
        val_split = _resolve_split(val_store, config.val_split, "val")
        val_idx = _subset(
            val_store.split_indices(val_split), config.max_eval, np.random.default_rng(seeds[1])
        )
        val = _labelled_domain(val_store, val_idx, val_split, "val", norm, device)

    target = None
    if "target" in stores:
        target_store = stores["target"]
        # Never adapt on the items that select the model.
        same = val is not None and val.path.resolve() == target_store.path.resolve()
        target = pool_data(
            target_store,
            config.target_split,
            config.max_target,
            seeds[2],
            norm,
            device,
            exclude=val_idx if same else None,
        )

    source_val = None
    if source_split != "val" and "val" in source_store.splits_present():
        idx = _subset(
            source_store.labelled_indices("val"), config.max_eval, np.random.default_rng(seeds[3])
        )
        source_val = DomainData(
            _normalised(source_store, idx, norm, device),
            torch.from_numpy(source_store.labels[idx].astype(np.float32)).to(device),
            source_store.path,
            "val",
            "source",
        )
        if not (source_val.labels == LENS).any() or not (source_val.labels == NONLENS).any():
            source_val = None
    return TrainingData(
        source, target, val, source_val, bands, pixel_scale, size, graded, graded_record
    )


def _graded_items(
    config: TrainConfig,
    source_store: CutoutStore,
    n_source: int,
    norm: Normalisation,
    device: torch.device,
) -> tuple[DomainData, dict[str, Any]]:
    """The graded candidates of ``grades``, centre-cropped, normalised and repeated.

    They are repeated to about ``grade_share`` of the labelled items, so that a few dozen
    real lenses and false positives count beside thousands of simulated items.

    Raises:
        UserError: If the grades cannot be read, or their stamps' bands or size do not fit
            the source store.
    """
    from lensscan.inspect.graded_set import graded_set, repeats_for_share

    assert config.grades is not None
    size = source_store.image_shape[-1]
    with tempfile.TemporaryDirectory(prefix="lensscan-grades-") as work:
        found = graded_set(
            config.grades,
            Path(work),
            size,
            cutouts=config.grade_cutouts,
            options=("grades", "grade_cutouts"),
        )
        store = CutoutStore.open(found.store)
        if store.bands != source_store.bands:
            raise UserError(
                f"`grades` {config.grades}: stamps in bands {','.join(store.bands)}; "
                f"`source` {source_store.path} has {','.join(source_store.bands)}"
            )
        indices = store.labelled_indices("labelled")
        images = centre_crop(store.read_images(indices), size)
        labels = store.labels[indices]
    images = np.ascontiguousarray(images, np.float32)
    repeats = repeats_for_share(len(indices), n_source, config.grade_share)
    graded = DomainData(
        norm(torch.from_numpy(images).to(device)).repeat(repeats, 1, 1, 1),
        torch.from_numpy(np.tile(labels, repeats).astype(np.float32)).to(device),
        Path(config.grades),
        "labelled",
        "grades",
    )
    record = {
        "path": found.record["database"],
        "sha256": sha256_file(config.grades),
        "hash_scope": "file",
        **found.record,
        "repeats": repeats,
        "share": config.grade_share,
    }
    return graded, record
