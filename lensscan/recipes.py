"""Recipes: how each shipped model is made, from simulation to the figures in its card.

A recipe is data (:class:`Recipe`); :func:`run_recipe` carries it out with the library's
own steps, each skipped when its output already exists, so an interrupted run continues
where it stopped:

1. simulate the labelled, balanced training store from the domain-randomised
   ``hsc-train`` family (with a validation split for model selection);
2. train one network per member seed (supervised, each epoch kept by its in-family
   validation AUROC), and combine the members into one model (mean of their logits);
3. simulate an in-family test store (``hsc-train``, other seed), an out-of-family one
   (``hsc-heldout``: another PSF family, noise correlation, priors and half of the real
   galaxy shapes; never used for training, tuning or selection) and an independent one
   (``hsc-galsim``: another code base's rendering, PSF, lenses, sources and negatives),
   each with one lens per hundred galaxies;
4. evaluate the model on each, raw and as per-band min-max-normalised copies, and on the
   real labelled folders given (``real_sets``: e.g. the real cross-survey dev set),
   recording every figure with its 95% bootstrap interval in the model's card; the
   out-of-family figures are the card's headline.

``lensscan recipe NAME --work DIR --out weights/NAME`` runs one; ``--scale`` shrinks every
data size (a quick look, or a test).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lensscan.atomic import atomic_output, remove_path
from lensscan.errors import UserError
from lensscan.evaluate.settings import EvaluateConfig
from lensscan.progress import logger
from lensscan.training.settings import TrainConfig

#: Card labels of the recorded evaluations, by test store and rescaling.
IN_FAMILY_LABEL = "in-family test hsc-train"
OUT_OF_FAMILY_LABEL = "out-of-family test hsc-heldout"
INDEPENDENT_LABEL = "independent test hsc-galsim"
REAL_DEV_LABEL = "real cross-survey dev"
REAL_HSC_LABEL = "real HSC sample40 test"
MINMAX_SUFFIX = " min-max"


@dataclass(frozen=True)
class Recipe:
    """Every setting and data size of one shipped model.

    Attributes:
        name: The recipe's name (``lensscan recipe NAME``).
        description: One line for help and the README.
        bands: Bands of every store.
        n_train: Labelled training-family cutouts (half lenses).
        val_fraction: Fraction of them kept for model selection.
        train_seed: Seed of the training store.
        encoder: Encoder of every member.
        member_seeds: One member network per seed.
        epochs: Training epochs of every member.
        batch_size: Items per step.
        lr: Learning rate.
        restyle: Share of training items shown as display images (``TrainConfig.restyle``).
        parent: A model every member starts from (``TrainConfig.init_model``); None
            trains from scratch.
        max_source: Train each member on at most this many items (a seeded subset).
        n_test: Items of each test store.
        test_lens_fraction: Lens fraction of the test stores.
        in_family_seed: Seed of the in-family test store.
        out_of_family_seed: Seed of the out-of-family test store.
        independent_seed: Seed of the independent (``hsc-galsim``) test store.
        bootstrap: Bootstrap replicates of the recorded intervals.
        combine: Shipped models whose mean logit the model is (``lensscan models
            ensemble``), instead of training members; empty for a trained model.
    """

    name: str
    description: str
    bands: str
    train_seed: int
    in_family_seed: int
    out_of_family_seed: int
    independent_seed: int = 2002
    n_train: int = 30_000
    val_fraction: float = 0.1
    encoder: str = "small_cnn"
    member_seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    restyle: float = 0.0
    parent: str | None = None
    max_source: int | None = None
    n_test: int = 20_200
    test_lens_fraction: float = 1.0 / 101.0
    bootstrap: int = 1000
    combine: tuple[str, ...] = ()

    def scaled(self, factor: float) -> Recipe:
        """The same recipe with every data size multiplied by ``factor`` (at least 64)."""
        if not 0 < factor <= 1:
            raise UserError(f"`scale` {factor:g}: must be in (0, 1]")
        if factor == 1:
            return self
        return dataclasses.replace(
            self,
            n_train=max(64, math.ceil(self.n_train * factor)),
            max_source=(
                None if self.max_source is None else max(32, math.ceil(self.max_source * factor))
            ),
            n_test=max(202, math.ceil(self.n_test * factor)),
            bootstrap=min(self.bootstrap, 200),
        )


RECIPES: Mapping[str, Recipe] = MappingProxyType(
    {
        "hsc-gri": Recipe(
            name="hsc-gri",
            description="gri ensemble of three small_cnn, supervised on the hsc-train family",
            bands="gri",
            train_seed=101,
            in_family_seed=303,
            out_of_family_seed=202,
        ),
        "hsc-gri-ecnn": Recipe(
            name="hsc-gri-ecnn",
            description="gri D4-equivariant CNN, supervised on the hsc-train family",
            bands="gri",
            train_seed=101,
            in_family_seed=303,
            out_of_family_seed=202,
            encoder="ecnn",
            member_seeds=(0,),
            epochs=4,
        ),
        "hsc-gri-ecnn-restyled": Recipe(
            name="hsc-gri-ecnn-restyled",
            description="hsc-gri-ecnn-v2 fine-tuned one epoch on 9,000 hsc-train items, a "
            "third of them shown as 8-bit display images",
            bands="gri",
            train_seed=101,
            in_family_seed=303,
            out_of_family_seed=202,
            encoder="ecnn",
            member_seeds=(0,),
            parent="hsc-gri-ecnn-v2",
            max_source=9000,
            epochs=1,
            lr=2e-4,
            restyle=0.33,
        ),
        "hsc-gri-restyled": Recipe(
            name="hsc-gri-restyled",
            description="hsc-gri-v2's three small_cnn members fine-tuned three epochs on "
            "9,000 hsc-train items, a third of them shown as 8-bit display images",
            bands="gri",
            train_seed=101,
            in_family_seed=303,
            out_of_family_seed=202,
            member_seeds=(0,),
            parent="hsc-gri-v2",
            max_source=9000,
            epochs=3,
            lr=2e-4,
            restyle=0.33,
        ),
        "hsc-gri-mixed": Recipe(
            name="hsc-gri-mixed",
            description="mean logit of hsc-gri-ecnn-v3 (one D4-equivariant CNN) and hsc-gri-v3 "
            "(three small_cnn), two encoders that fail differently",
            bands="gri",
            train_seed=101,
            in_family_seed=303,
            out_of_family_seed=202,
            combine=("hsc-gri-ecnn-v3", "hsc-gri-v3"),
        ),
        "hsc-i": Recipe(
            name="hsc-i",
            description="i-band ensemble of three small_cnn, supervised on the hsc-train family",
            bands="i",
            train_seed=111,
            in_family_seed=313,
            out_of_family_seed=212,
        ),
    }
)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        UserError: If there is none.
    """
    if name not in RECIPES:
        raise UserError(f"recipe {name!r}: unknown; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def _simulate(
    path: Path,
    domain: str,
    n: int,
    bands: str,
    seed: int,
    workers: int,
    lens_fraction: float | None,
    splits: str,
) -> None:
    if (path / "zarr.json").exists():
        logger.info("recipe: %s exists, kept", path)
        return
    from lensscan.simulate.cutouts.request import CutoutRequest
    from lensscan.simulate.cutouts.run import simulate_cutouts

    request = CutoutRequest(
        domain=domain,
        n=n,
        bands=bands,
        lens_fraction=lens_fraction,
        splits=splits,
        seed=seed,
        workers=workers,
    )
    logger.info("recipe: %s", simulate_cutouts(request, path, overwrite=True))


def _train_member(recipe: Recipe, store: Path, out: Path, seed: int, device: str | None) -> None:
    if (out / "model.json").exists():
        logger.info("recipe: %s exists, kept", out)
        return
    from lensscan.training import train

    train(
        TrainConfig(
            out=str(out),
            source=str(store),
            source_split="train",
            val=str(store),
            val_split="val",
            encoder=recipe.encoder,
            method="supervised",
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            lr=recipe.lr,
            restyle=recipe.restyle,
            init_model=recipe.parent,
            max_source=recipe.max_source,
            seed=seed,
            device=device,
            resume=True,
        )
    )


def _evaluate(
    recipe: Recipe,
    model: Path,
    store: Path,
    report: Path,
    label: str,
    rescale: str,
    device: str | None,
    headline: bool,
) -> dict[str, Any]:
    from lensscan.evaluate.run import run_evaluation

    outcome = run_evaluation(
        EvaluateConfig(
            models=(str(model),),
            data=str(store),
            split="test",
            report_dir=str(report),
            overwrite=True,
            bootstrap=recipe.bootstrap,
            device=device,
            record_as=label,
            headline=headline,
            rescale=rescale,
        )
    )
    return outcome.report


def _train_members(
    recipe: Recipe, data: Path, work: Path, staged: Path, workers: int, device: str | None
) -> None:
    """Simulate the training store, train every member and write the model to ``staged``."""
    # Named by its seed: recipes that fine-tune on fresh items share a work folder safely.
    train_store = data / f"train-{recipe.bands}-s{recipe.train_seed}.zarr"
    splits = f"train={1 - recipe.val_fraction:g},val={recipe.val_fraction:g}"
    _simulate(
        train_store,
        "hsc-train",
        recipe.n_train,
        recipe.bands,
        recipe.train_seed,
        workers,
        0.5,
        splits,
    )
    members = [work / "members" / f"{recipe.name}-s{seed}" for seed in recipe.member_seeds]
    for member, seed in zip(members, recipe.member_seeds, strict=True):
        _train_member(recipe, train_store, member, seed, device)
    if len(members) > 1:
        from lensscan.models.ensemble import make_ensemble

        make_ensemble([str(m) for m in members], staged)
    else:
        from lensscan.models.weights import load_model, save_model

        save_model(load_model(members[0], device="cpu"), staged)


def run_recipe(
    recipe: Recipe,
    work: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    device: str | None = None,
    overwrite: bool = False,
    real_sets: Mapping[str, str | Path] | None = None,
) -> dict[str, dict[str, float]]:
    """Make the recipe's model in ``out`` and record its figures in its card.

    Args:
        recipe: The recipe (possibly :meth:`Recipe.scaled`).
        work: Folder of the data sets, members and evaluation reports (reused on reruns).
        out: The model folder to write (``weights/NAME``).
        workers: Simulation processes.
        device: Where to train and evaluate (None: best available).
        overwrite: Replace an existing ``out``.
        real_sets: Card label -> labelled folder of real cutouts (DeepLense layout, split
            ``test``), each evaluated as it is (they are display images already).

    Returns:
        Per evaluation label, its AUROC, TPR0 and TPR10.

    Raises:
        UserError: If ``out`` exists without ``overwrite``.
    """
    work, out = Path(work), Path(out)
    if out.exists() and not overwrite:
        raise UserError(f"`out` {out}: already exists (pass `overwrite` to replace it)")
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    # The model is made and evaluated beside the work, and moved to --out only when done.
    staged = work / "model" / out.name
    if staged.exists():
        shutil.rmtree(staged)
    if recipe.combine:
        from lensscan.models.ensemble import make_ensemble

        make_ensemble(list(recipe.combine), staged)
    else:
        _train_members(recipe, data, work, staged, workers, device)
    tests = {
        IN_FAMILY_LABEL: ("hsc-train", recipe.in_family_seed, "infamily"),
        OUT_OF_FAMILY_LABEL: ("hsc-heldout", recipe.out_of_family_seed, "heldout"),
        INDEPENDENT_LABEL: ("hsc-galsim", recipe.independent_seed, "galsim"),
    }
    figures: dict[str, dict[str, float]] = {}
    for label, (domain, seed, stem) in tests.items():
        store = data / f"{stem}-test-{recipe.bands}.zarr"
        _simulate(
            store,
            domain,
            recipe.n_test,
            recipe.bands,
            seed,
            workers,
            recipe.test_lens_fraction,
            "test=1",
        )
        for rescale, suffix in (("minmax", MINMAX_SUFFIX), ("none", "")):
            report = _evaluate(
                recipe,
                staged,
                store,
                work / "reports" / recipe.name / f"{stem}-{rescale}",
                label + suffix,
                rescale,
                device,
                headline=label == OUT_OF_FAMILY_LABEL and rescale == "none",
            )
            entry = next(iter(report["models"].values()))
            figures[label + suffix] = {k: entry[k] for k in ("auroc", "tpr0", "tpr10")}
    for label, folder in (real_sets or {}).items():
        report = _evaluate(
            recipe,
            staged,
            Path(folder),
            work / "reports" / recipe.name / label.replace(" ", "-"),
            label,
            "none",
            device,
            headline=False,
        )
        entry = next(iter(report["models"].values()))
        figures[label] = {k: entry[k] for k in ("auroc", "tpr0", "tpr10")}
    if out.exists():
        remove_path(out)
    with atomic_output(out) as tmp:
        shutil.copytree(staged, tmp)
    return figures
