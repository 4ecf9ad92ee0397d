"""``lensscan adapt``: a parent lens finder adapted to a survey's own images, safely.

The steps, each kept in the work folder and skipped on a rerun when its output exists
(:mod:`lensscan.survey_adapt.steps`):

1. **pool**: the survey's own galaxies, cut from FITS fields as ``lensscan cutouts``
   cuts them (detect mode), and/or cutout stores, folders or files;
2. **inject**: simulated arcs painted on half of them (``simulate --domain inject``:
   deflector from the measured light, the pool's pixel scale, zero point and PSF; 8 flips
   and rotations), the other half untouched, split by background into training and
   held-out backgrounds;
3. **check**: refuse injected arcs too faint to learn from, before any training
   (:func:`lensscan.survey_adapt.safety.check_visibility`);
4. **rehearsal**: a share of the parent's own source simulations (``hsc-train``), so
   that fine-tuning does not forget the parent's knowledge; its validation split is the
   parent's source validation;
5. **grades** (optional): the consensus of a grade database as labelled items,
   repeated to a share of the mixture so that a few dozen real examples count;
6. **fine-tune** the parent on the mixture (``lensscan train --init-model``, the one
   training loop), each epoch judged on the held-out injected backgrounds (no label of
   the survey is read), then optionally AdaBN on the pool;
7. **safety**: the parent and the adapted model scored on the same held-out injected
   backgrounds and on the parent's source validation
   (:func:`lensscan.survey_adapt.safety.decide`); the parent stays the answer unless the
   adapted model beats it;
8. **rescore** the pool with the kept model: a ranked candidate catalog and the pool's
   estimated lens fraction (EM prior adjustment; :mod:`lensscan.survey_adapt.rescore`).

The weights folder's card records the parent, the pool, the injection settings, the
estimated lens fraction, the figures of both models and the decision
(``training.adapt``); ``adapt.json`` holds the same record.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.config import config_to_dict
from lensscan.data.store import LENS, CutoutStore
from lensscan.errors import UserError
from lensscan.pixels import centre_crop
from lensscan.progress import logger
from lensscan.provenance import content_key, provenance
from lensscan.survey_adapt import rescore, safety, steps
from lensscan.survey_adapt.settings import AdaptConfig
from lensscan.training.settings import TrainConfig

RECORD_FILE = "adapt.json"
CATALOG_FILE = "pool_candidates.ecsv"
#: At most this many injected training items feed the separability probe.
PROBE_ITEMS = 4000


@dataclass(frozen=True)
class AdaptResult:
    """What a run wrote and decided.

    Attributes:
        out: The weights folder.
        catalog: The rescored pool.
        kept: ``adapted`` or ``parent``.
        reason: The decision, in one line.
        record: Everything the card's ``training.adapt`` holds.
    """

    out: Path
    catalog: Path
    kept: str
    reason: str
    record: dict[str, Any]

    def lines(self) -> list[str]:
        """What to tell the user."""
        figures = self.record["figures"]
        parent = figures["parent"]["injected_val"]
        adapted = figures["adapted"]["injected_val"]
        return [
            self.reason,
            f"held-out injected backgrounds: parent AUROC {parent['auroc']:.4f}, TPR10 "
            f"{parent['tpr10']:.3f}; adapted AUROC {adapted['auroc']:.4f}, TPR10 "
            f"{adapted['tpr10']:.3f}",
            f"wrote {self.out} ({self.kept}); pool rescored in {self.catalog} "
            f"(estimated lens fraction {self.record['pool']['estimated_lens_fraction']:.4f})",
        ]


class _Timer:
    """Wall-clock seconds of each step, logged as each ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        logger.info("adapt: step %s", name)
        start = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - start, 2)
        logger.info("adapt: step %s done in %.1f s", name, self.seconds[name])


def work_folder(config: AdaptConfig) -> Path:
    """The run's work folder (``work``, else ``.<out name>.adapt-work`` beside ``out``)."""
    if config.work:
        return Path(config.work)
    out = Path(config.out)
    return out.with_name(f".{out.name}.adapt-work")


def _binary(store: CutoutStore, indices: np.ndarray) -> np.ndarray:
    return (store.labels[indices] == LENS).astype(np.int8)


def _held_out(injected: CutoutStore) -> tuple[np.ndarray, np.ndarray]:
    """The injected store's training and held-out items.

    Raises:
        UserError: If the held-out backgrounds lack lenses or non-lenses.
    """
    present = injected.splits_present()
    train = injected.labelled_indices("train") if "train" in present else np.zeros(0, int)
    val = injected.labelled_indices("val") if "val" in present else np.zeros(0, int)
    labels = injected.labels[val]
    if not (labels == LENS).any() or (labels == LENS).all() or len(train) < 2:
        raise UserError(
            f"`val_fraction`: the pool's {len(np.unique(injected.params()['background_index']))} "
            "backgrounds leave no held-out lens and non-lens to judge by; give a larger pool "
            "or a larger `val_fraction`"
        )
    return train, val


def _separability(
    injected: CutoutStore, train: np.ndarray, val: np.ndarray, parent: Any, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """How well the parent and the probe tell injected lenses apart; the parent's figures."""
    labels_val = _binary(injected, val)
    parent_scores = safety.score_items(parent.finder, injected, val)
    parent_val = safety.figures(labels_val, parent_scores)
    rng = np.random.default_rng(seed)
    probe_idx = np.sort(rng.choice(train, size=min(len(train), PROBE_ITEMS), replace=False))
    norm = parent.finder.normalisation
    size = parent.card.input_size
    probe = safety.probe_separability(
        (
            safety.probe_features(centre_crop(injected.read_images(probe_idx), size), norm),
            _binary(injected, probe_idx).astype(float),
        ),
        (
            safety.probe_features(centre_crop(injected.read_images(val), size), norm),
            labels_val,
        ),
    )
    return {"parent": parent_val["auroc"], "probe": probe}, parent_scores


def _train(config: AdaptConfig, parent: Any, mixture: Path, injected: Path, work: Path) -> Path:
    """Fine-tune the parent on the mixture (or reuse/resume the run of the same key)."""
    from lensscan.training import train

    key = content_key(
        {
            "mixture": mixture.name,
            "injected": injected.name,
            "parent": parent.card.weights_sha256,
            "epochs": config.epochs,
            "lr": config.lr,
            "batch_size": config.batch_size,
            "seed": config.seed,
        }
    )
    out = work / f"adapted-{key}"
    if (out / "model.json").is_file():
        logger.info("adapt: fine-tuned model %s exists, kept", out)
        return out
    train(
        TrainConfig(
            out=str(out),
            source=str(mixture),
            source_split="train",
            val=str(injected),
            val_split="val",
            method="supervised",
            init_model=str(parent.folder),
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed,
            device=config.device,
            selection="val_auroc",
            resume=True,
        )
    )
    return out


def _adabn(config: AdaptConfig, model: Path, pool: steps.Pool, work: Path) -> Path:
    """AdaBN of the fine-tuned model on the pool (one cutout store)."""
    from lensscan.training import train

    stores = [p for p in pool.paths if (Path(p) / "zarr.json").is_file()]
    if len(stores) != len(pool.paths) or len(stores) != 1:
        raise UserError("`label_free` adabn: needs the pool as one cutout store (or FIELD files)")
    out = work / f"{model.name}-adabn-{content_key({'pool': pool.hashes})}"
    if not (out / "model.json").is_file():
        train(
            TrainConfig(
                out=str(out),
                init_model=str(model),
                target=stores[0],
                method="adabn",
                seed=config.seed,
                device=config.device,
                overwrite=True,
            )
        )
    return out


def _paired(
    parent: Any, adapted: Any, store: CutoutStore, indices: np.ndarray, parent_scores: Any = None
) -> safety.PairedScores:
    """Both models' scores of the same store items (the parent's reused when given)."""
    return safety.PairedScores(
        _binary(store, indices),
        safety.score_items(parent, store, indices) if parent_scores is None else parent_scores,
        safety.score_items(adapted, store, indices),
    )


def run_adapt(fields: Sequence[Any], config: AdaptConfig) -> AdaptResult:
    """Adapt ``init_model`` to a survey's pool; write the kept model, its card and catalog.

    Args:
        fields: :class:`lensscan.scan.inputs.FieldSpec` of FITS fields whose preselected
            galaxies join the pool (may be empty when ``pool`` is given).
        config: The run's settings.

    Returns:
        What was written and decided.

    Raises:
        UserError: For bad inputs or settings;
            :class:`~lensscan.survey_adapt.safety.InvisibleArcsError` when the injected
            arcs are too faint, before any training.
    """
    from lensscan.adapt.prior import em_prior
    from lensscan.catalog.writers import write_catalog
    from lensscan.inspect.graded_set import graded_set, repeats_for_share
    from lensscan.models.weights import CARD_FILE, WEIGHTS_FILE, load_model, write_model_files
    from lensscan.training.parent import load_parent

    out = check_output_path(config.out, overwrite=config.overwrite, option="out")
    if not fields and not config.pool:
        raise UserError("no pool: give FIELD files or `pool` cutout stores or folders")
    parent = load_parent(config.init_model)
    card = parent.card
    work = work_folder(config)
    work.mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    logger.info("adapt: parent %s (%s), work folder %s", card.name, parent.folder, work)

    with timer.step("pool"):
        paths, field_files = list(config.pool), ()
        if fields:
            store, field_files = steps.field_cutouts(fields, config, parent.folder, work)
            paths = [str(store), *paths]
        pool = steps.open_pool(paths, config, field_files)
        logger.info("adapt: pool of %d cutouts", pool.size)
    with timer.step("inject"):
        request = steps.injection_request(config, pool, card.bands, card.input_size)
        injected_path = steps.inject(request, pool, work)
        injected = CutoutStore.open(injected_path)
        train_idx, val_idx = _held_out(injected)
    graded = None
    if config.grades:
        with timer.step("grades"):
            given = [str(spec.path) for spec in fields if spec.path is not None]
            graded = graded_set(config.grades, work, card.input_size, given, config.cutouts)
            logger.info(
                "adapt: %d graded lenses, %d graded non-lenses", graded.lenses, graded.non_lenses
            )
    with timer.step("check"):
        separability, parent_scores = _separability(
            injected, train_idx, val_idx, parent, config.seed
        )
        lenses = injected.labels == LENS
        params = injected.params()
        visibility = safety.check_visibility(params["arc_snr"][lenses], separability, config)
        visibility["deflector_share"] = safety.check_deflectors(
            params["deflector_from_light"][lenses]
        )
        logger.info(
            "adapt: median arc S/N %.1f; held-out AUROC of the parent %.4f, of the probe %.4f",
            visibility["median_arc_snr"],
            separability["parent"],
            separability["probe"],
        )
    with timer.step("rehearsal"):
        share = config.rehearsal_fraction
        n_rehearsal = math.ceil(share / (1 - share) * len(train_idx)) if share else 0
        rehearsal_path = steps.rehearsal(config, card.bands, n_rehearsal, work)
        rehearsal = CutoutStore.open(rehearsal_path) if rehearsal_path else None
    parts = [steps.MixPart(injected, train_idx, 1, 0, "injected")]
    source_val = np.zeros(0, np.int64)
    if rehearsal is not None:
        source_val = rehearsal.labelled_indices("val")
        parts += [
            steps.MixPart(rehearsal, rehearsal.labelled_indices("train"), 1, 0, "rehearsal"),
            steps.MixPart(rehearsal, source_val, 1, 1, "source_val"),
        ]
    grade_repeats = 0
    if graded is not None:
        graded_store = CutoutStore.open(graded.store)
        graded_idx = graded_store.labelled_indices("labelled")
        others = sum(len(part) for part in parts if part.split == 0)
        grade_repeats = repeats_for_share(len(graded_idx), others, config.grade_share)
        parts.append(steps.MixPart(graded_store, graded_idx, grade_repeats, 0, "graded"))
    with timer.step("mixture"):
        key = content_key(
            {
                "parts": [(p.store.path.name, p.role, len(p.indices), p.repeats) for p in parts],
                "size": card.input_size,
            }
        )
        mixture = steps.write_mixture(
            work / f"mixture-{key}.zarr", parts, card.bands, card.input_size, card.pixel_scale
        )
    with timer.step("fine-tune"):
        adapted_path = _train(config, parent, mixture, injected_path, work)
        if config.label_free == "adabn":
            adapted_path = _adabn(config, adapted_path, pool, work)
        adapted = load_model(adapted_path, device=config.device or "cpu")
    with timer.step("safety"):
        paired = {"injected_val": _paired(parent.finder, adapted, injected, val_idx, parent_scores)}
        if len(source_val):
            assert rehearsal is not None
            paired["source_val"] = _paired(parent.finder, adapted, rehearsal, source_val)
        figures: dict[str, Any] = {"parent": {}, "adapted": {}}
        for name, scores in paired.items():
            for model, values in scores.figures().items():
                figures[model][name] = values
        decision = safety.decide(
            paired["injected_val"],
            paired.get("source_val"),
            config.min_gain,
            config.max_source_loss,
        )
        figures["auroc_change"] = decision.changes
        (logger.info if decision.keep_adapted else logger.warning)("adapt: %s", decision.reason)
    kept = adapted if decision.keep_adapted else parent.finder
    with timer.step("rescore"):
        scores = rescore.pool_scores(kept, pool, config)
        lens_fraction = em_prior(scores, train_prior=0.5)
    record: dict[str, Any] = {
        "parent": parent.describe(),
        "pool": {**pool.describe(), "estimated_lens_fraction": lens_fraction},
        "injection": {
            **{k: v for k, v in request.settings().items() if k != "backgrounds"},
            "store": str(injected_path.resolve()),
            "items": len(injected),
            "lenses": int((injected.labels == LENS).sum()),
            "train_items": len(train_idx),
            "held_out_items": len(val_idx),
        },
        "visibility": visibility,
        "rehearsal": {
            "domain": config.rehearsal_domain,
            "fraction": config.rehearsal_fraction,
            "store": str(rehearsal_path.resolve()) if rehearsal_path else None,
            "train_items": len(parts[1]) if rehearsal is not None else 0,
            "source_val_items": len(source_val),
        },
        "grades": None
        if graded is None
        else {**graded.record, "repeats": grade_repeats, "share": config.grade_share},
        "fine_tuning": {
            "model": str(adapted_path.resolve()),
            "epochs": config.epochs,
            "lr": config.lr,
            "batch_size": config.batch_size,
            "seed": config.seed,
            "selection": "val_auroc on the held-out injected backgrounds",
            "selected_epoch": adapted.card.selection.get("epoch"),
            "label_free": config.label_free,
        },
        "figures": figures,
        "rule": {
            "min_gain": config.min_gain,
            "max_source_loss": config.max_source_loss,
            "text": "keep the adapted model only if, at the worse end of the paired 95% "
            "bootstrap interval, its AUROC on held-out injected backgrounds beats the "
            "parent's by more than min_gain and it loses at most max_source_loss AUROC on "
            "the parent's source validation",
        },
        "decision": {
            "kept": "adapted" if decision.keep_adapted else "parent",
            "reason": decision.reason,
        },
        "timings_s": timer.seconds,
        "provenance": provenance(
            command="adapt", settings=config_to_dict(config), seed=config.seed
        ),
    }
    catalog_path = Path(config.catalog) if config.catalog else out / CATALOG_FILE
    record["catalog"] = str(catalog_path.resolve())
    kept_card = kept.card.replace(training={**kept.card.training, "adapt": record}, name=out.name)
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        if decision.keep_adapted:
            written = write_model_files(tmp, kept.network, kept_card)
        else:
            # The parent's own weights file, byte for byte: the answer is the parent.
            shutil.copyfile(parent.folder / WEIGHTS_FILE, tmp / WEIGHTS_FILE)
            written = kept_card
            (tmp / CARD_FILE).write_text(kept_card.to_json())
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
        table = rescore.catalog_table(pool, scores, written, kept, record)
        if config.catalog is None:
            write_catalog(table, tmp / CATALOG_FILE, "ecsv")
    if config.catalog is not None:
        write_catalog(table, catalog_path, "ecsv")
    logger.info(
        "adapt: steps took %s", ", ".join(f"{k} {v:.1f} s" for k, v in timer.seconds.items())
    )
    return AdaptResult(
        out=out,
        catalog=catalog_path,
        kept=record["decision"]["kept"],
        reason=decision.reason,
        record=record,
    )
