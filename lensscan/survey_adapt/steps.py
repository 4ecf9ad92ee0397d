"""The steps of ``lensscan adapt``, each written once into a work folder and reused.

Every step's output is named by a key: the SHA-256 of the step's settings and of the
content hashes of its inputs (:func:`lensscan.provenance.content_key`). A rerun with the
same inputs and settings finds the output and skips the step; a changed input or setting
gives a new key, so a stale output is never reused. Outputs are written under a temporary
name and renamed (stores, models) so an interrupted step leaves nothing that looks
finished; the fine-tuning itself resumes from its last epoch's checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output
from lensscan.data.store import CutoutStore, ImageBlocks, write_store
from lensscan.errors import UserError
from lensscan.pixels import centre_crop
from lensscan.progress import logger
from lensscan.provenance import content_key, provenance, sha256_file, sha256_tree
from lensscan.survey_adapt.settings import AdaptConfig

#: Items copied per block when a mixture store is written.
_BLOCK = 1024
#: Split names of the mixture store: training items, and the parent's source validation.
MIXTURE_SPLITS = ("train", "val")
#: Split names of the injected store: training backgrounds and held-out backgrounds.
INJECT_SPLITS = ("train", "val")


def fingerprint(path: str | Path) -> str:
    """A content hash of an input: a store (metadata-only above 256 MB), folder or file.

    Raises:
        UserError: If the path does not exist.
    """
    from lensscan.training.data import store_fingerprint

    target = Path(path)
    if not target.exists():
        raise UserError(f"`pool` {target}: no such file or directory")
    if (target / "zarr.json").is_file():
        return store_fingerprint(target)["sha256"]
    if target.is_dir():
        return sha256_tree(target)
    return sha256_file(target)


@dataclass(frozen=True)
class Pool:
    """The survey's own images.

    Attributes:
        paths: Cutout stores, folders or files (a cutout store of the fields first).
        hashes: Content hash of every path.
        size: Number of cutouts.
        field_files: FITS files the field cutouts were cut from (empty without fields).
    """

    paths: tuple[str, ...]
    hashes: tuple[str, ...]
    size: int
    field_files: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """One hash of the whole pool."""
        return hashlib.sha256("".join(self.hashes).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """Paths, hashes and size, for the model card."""
        return {
            "paths": [str(Path(p).resolve()) for p in self.paths],
            "sha256": self.sha256,
            "input_sha256": list(self.hashes),
            "size": self.size,
            "field_files": list(self.field_files),
        }


def field_cutouts(
    fields: Sequence[Any], config: AdaptConfig, parent_folder: Path, work: Path
) -> tuple[Path, tuple[str, ...]]:
    """Cut the preselected galaxies of FITS fields into a store (as ``lensscan cutouts``).

    Args:
        fields: :class:`lensscan.scan.inputs.FieldSpec` of every field.
        config: The run's settings.
        parent_folder: The parent model (its bands, cutout size and pixel scale are cut).
        work: The work folder.

    Returns:
        The store and the field files it was cut from.
    """
    from lensscan.scan.cutouts import make_cutouts
    from lensscan.scan.settings import CutoutsConfig, DetectionSettings

    files: list[Path] = []
    for spec in fields:
        files += [Path(p) for p in ([spec.path] if spec.path else [])]
        files += [Path(p) for p in (spec.band_paths or {}).values()]
    for path in files:
        if not path.is_file():
            raise UserError(f"FIELD {path}: no such file")
    hashes = [sha256_file(p) for p in files]
    settings = {"mag_limit": config.mag_limit, "model": str(parent_folder.resolve())}
    out = work / f"pool-cutouts-{content_key({'files': hashes, **settings})}.zarr"
    if (out / "zarr.json").is_file():
        logger.info("adapt: field cutouts %s exist, kept", out)
    else:
        extra = {} if config.mag_limit is None else {"mag_limit": config.mag_limit}
        detect = DetectionSettings(**extra)
        summary = make_cutouts(
            list(fields), CutoutsConfig(out=str(out), model=str(parent_folder), detect=detect)
        )
        logger.info("adapt: %s", summary)
    # Every file read (an HSC calexp's sibling bands too), as the store recorded them.
    inputs = CutoutStore.open(out).attrs.get("provenance", {}).get("inputs", [])
    read = [str(entry["path"]) for entry in inputs if "sha256" in entry]
    return out, tuple(read or (str(p.resolve()) for p in files))


def open_pool(paths: Sequence[str], config: AdaptConfig, field_files: Sequence[str]) -> Pool:
    """The pool's inputs with their content hashes and size.

    Raises:
        UserError: If there is no input or an input cannot be read as cutouts.
    """
    from lensscan.simulate.inject.backgrounds import open_backgrounds

    if not paths:
        raise UserError("no pool: give FIELD files or `pool` cutout stores or folders")
    hashes = tuple(fingerprint(p) for p in paths)
    with as_pool_errors():
        backgrounds = open_backgrounds(list(paths), pool_bands(config.background_bands))
    return Pool(
        paths=tuple(str(p) for p in paths),
        hashes=hashes,
        size=backgrounds.n,
        field_files=tuple(field_files),
    )


@contextmanager
def as_pool_errors() -> Iterator[None]:
    """Injection's messages about its ``backgrounds`` name this command's ``pool``."""
    try:
        yield
    except UserError as exc:
        raise UserError(str(exc).replace("`backgrounds`", "`pool`")) from None


def pool_bands(text: str | None) -> tuple[str, ...] | None:
    """Band names of pool planes that do not name them (``background_bands``)."""
    from lensscan.bands import parse_band_names

    return parse_band_names(text, "background_bands")


def injection_request(config: AdaptConfig, pool: Pool, bands: Sequence[str], size: int) -> Any:
    """The ``simulate --domain inject`` request of a run: arcs on the pool's own galaxies.

    Returns:
        The :class:`lensscan.simulate.inject.request.InjectionRequest`.
    """
    from lensscan.simulate.inject.request import InjectionRequest

    n = config.n_injected or max(256, 2 * pool.size)
    n = min(n, 8 * pool.size)
    return InjectionRequest(
        backgrounds=pool.paths,
        n=n,
        bands=tuple(bands),
        background_bands=config.background_bands,
        size=size,
        lens_fraction=config.lens_fraction,
        splits=(
            (INJECT_SPLITS[0], 1 - config.val_fraction),
            (INJECT_SPLITS[1], config.val_fraction),
        ),
        seed=config.seed,
        family=config.family,
        pixel_scale=config.pixel_scale,
        zero_point=None if config.zero_point is None else str(config.zero_point),
        psf=config.psf,
        min_arc_snr=config.min_arc_snr,
        max_arc_snr=config.max_arc_snr,
        max_host_mag=config.max_host_mag,
        rotations=True,
    )


def inject(request: Any, pool: Pool, work: Path) -> Path:
    """Write (or reuse) the injected store of a request."""
    from lensscan.simulate.inject.run import inject_arcs

    settings = {k: v for k, v in request.settings().items() if k != "backgrounds"}
    out = work / f"inject-{content_key({'pool': pool.hashes, **settings})}.zarr"
    if (out / "zarr.json").is_file():
        logger.info("adapt: injected store %s exists, kept", out)
        return out
    logger.info("adapt: injecting arcs into %d items of %d backgrounds", request.n, pool.size)
    with as_pool_errors():
        logger.info("adapt: %s", inject_arcs(request, out, overwrite=True))
    return out


def rehearsal(config: AdaptConfig, bands: Sequence[str], n_train: int, work: Path) -> Path | None:
    """Write (or reuse) the parent's own source simulations, balanced.

    Split ``train`` holds ``n_train`` items, split ``val`` ``source_val_items`` more (the
    parent's source validation).

    Returns:
        The store, or None when ``n_train`` is 0.
    """
    if n_train <= 0:
        return None
    from lensscan.simulate.cutouts.request import CutoutRequest
    from lensscan.simulate.cutouts.run import simulate_cutouts

    n = n_train + config.source_val_items
    request = CutoutRequest(
        domain=config.rehearsal_domain,
        n=n,
        bands=tuple(bands),
        lens_fraction=0.5,
        splits=(("train", n_train / n), ("val", config.source_val_items / n)),
        seed=config.seed + 1,
        workers=config.workers,
    )
    key = content_key(
        {
            "domain": request.domain,
            "splits": request.splits,
            "bands": list(bands),
            "seed": request.seed,
        }
    )
    out = work / f"rehearsal-{config.rehearsal_domain}-{key}.zarr"
    if (out / "zarr.json").is_file():
        logger.info("adapt: rehearsal store %s exists, kept", out)
        return out
    logger.info("adapt: simulating %d %s items for rehearsal", n, config.rehearsal_domain)
    logger.info("adapt: %s", simulate_cutouts(request, out, overwrite=True))
    return out


@dataclass(frozen=True)
class MixPart:
    """Items of one store copied into a mixture.

    Attributes:
        store: The source store.
        indices: Items to copy (labelled).
        repeats: Copies of each item.
        split: Split code in the mixture.
        role: ``injected``, ``rehearsal`` or ``graded``, for the record.
    """

    store: CutoutStore
    indices: np.ndarray
    repeats: int
    split: int
    role: str

    def __len__(self) -> int:
        return len(self.indices) * self.repeats


def write_mixture(
    out: Path, parts: Sequence[MixPart], bands: Sequence[str], size: int, pixel_scale: float | None
) -> Path:
    """Write the training mixture: every part's items (repeated), centre-cropped to ``size``.

    Reused when ``out`` exists (its name is the content key of its parts).
    """
    if (out / "zarr.json").is_file():
        logger.info("adapt: training mixture %s exists, kept", out)
        return out
    # Each block of a part is written ``repeats`` times in a row; the loop shuffles anyway.
    orders = [
        np.concatenate(
            [
                np.tile(part.indices[first : first + _BLOCK], part.repeats)
                for first in range(0, len(part.indices), _BLOCK)
            ]
        )
        for part in parts
    ]
    n = sum(len(order) for order in orders)
    labels = np.concatenate(
        [part.store.labels[order] for part, order in zip(parts, orders, strict=True)]
    )
    split = np.concatenate([np.full(len(part), part.split, np.int8) for part in parts])
    role = np.concatenate([np.full(len(part), k, np.int8) for k, part in enumerate(parts)])

    def write(array: Any) -> dict[str, np.ndarray]:
        start = 0
        for part in parts:
            for first in range(0, len(part.indices), _BLOCK):
                chosen = part.indices[first : first + _BLOCK]
                images = centre_crop(part.store.read_images(chosen), size)
                images = np.ascontiguousarray(images, np.float32)
                for _ in range(part.repeats):
                    array[start : start + len(chosen)] = images
                    start += len(chosen)
        return {}

    with atomic_output(out) as tmp:
        write_store(
            tmp,
            images=ImageBlocks((n, len(bands), size, size), write),
            labels=labels,
            split=split,
            split_names=list(MIXTURE_SPLITS),
            bands=tuple(bands),
            pixel_scale=pixel_scale,
            attrs={
                "domain": "adapt-mixture",
                "parts": [
                    {
                        "role": part.role,
                        "store": str(part.store.path),
                        "items": len(part.indices),
                        "repeats": part.repeats,
                    }
                    for part in parts
                ],
                "provenance": provenance(command="adapt", settings={"size": size}),
            },
            params={"part": role},
        )
    return out
