"""AdaBN of a trained model to a survey's unlabelled images, without a source store.

``lensscan train --init-model NAME --target POOL.zarr --method adabn --out weights/NEW``
takes seconds: no weight is trained; every BatchNorm layer of the parent model (each
member of an ensemble) re-estimates its statistics on the pool. The new card keeps the
parent's encoder, bands and normalisation, records the parent (name, weights SHA-256) and
the pool (path, content hash), and holds label-free diagnostics of the change: the pool's
estimated lens fraction (EM, Saerens et al. 2002) and the fraction scored above 0.5,
before and after. With ``--val`` it also records the labelled AUROC before and after.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensscan import __version__
from lensscan.adapt.adabn import AdaBN, adapt_batchnorm
from lensscan.adapt.prior import em_prior
from lensscan.atomic import atomic_output, check_output_path
from lensscan.data.store import CutoutStore
from lensscan.errors import UserError
from lensscan.models.finder import select_device
from lensscan.models.weights import write_model_files
from lensscan.progress import logger
from lensscan.training import report
from lensscan.training.data import DomainData, labelled_split, pool_data, store_fingerprint
from lensscan.training.parent import ParentModel, check_parent_inputs, load_parent
from lensscan.training.selection import domain_auroc, predict
from lensscan.training.settings import TrainConfig


def _pool_figures(probs: np.ndarray) -> dict[str, float]:
    return {
        "target_lens_fraction": float(np.mean(probs > 0.5)),
        "target_prior_em": em_prior(probs),
    }


def _figures(network: torch.nn.Module, pool: DomainData, val: DomainData | None) -> dict:
    """Label-free pool figures, and the labelled AUROC when there are validation items."""
    figures: dict[str, Any] = _pool_figures(predict(network, pool.images, nullcontext))
    figures["val_auroc"] = domain_auroc(val, network, nullcontext) if val else None
    return figures


def _load_val(config: TrainConfig, parent: ParentModel, device: torch.device) -> DomainData | None:
    if config.val is None:
        return None
    return labelled_split(
        CutoutStore.open(config.val, "val"),
        config.val_split,
        config.max_eval,
        config.seed,
        parent.finder.normalisation,
        device,
    )


def adapt_batchnorm_only(config: TrainConfig) -> Path:
    """Write ``config.out``: the parent model with BatchNorm statistics from the pool.

    Args:
        config: Validated settings with ``init_model``, ``target`` and method ``adabn``.

    Returns:
        The weights folder written.

    Raises:
        UserError: If the pool is missing, too small, or its bands or cutout size differ
            from the parent's.
    """
    assert config.init_model is not None
    if config.target is None:
        raise UserError("`method` adabn needs an unlabelled target store (`target`)")
    out = Path(config.out)
    check_output_path(out, overwrite=config.overwrite, option="out")
    device = select_device(config.device)
    parent = load_parent(config.init_model)
    store = CutoutStore.open(config.target, "target")
    check_parent_inputs(parent, store.bands, store.image_shape[-1])
    limit = int(config.method_options.get("images", AdaBN.defaults["images"]))
    max_items = min(limit, config.max_target) if config.max_target else limit
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        pool = pool_data(
            store,
            config.target_split,
            max_items,
            config.seed,
            parent.finder.normalisation,
            device,
        )
        val = _load_val(config, parent, device)
        network = parent.network_copy(need_single=False, method="adabn").to(device)
        before = _figures(network, pool, val)
        adapted = adapt_batchnorm(network, pool.images).eval()
        after = _figures(adapted, pool, val)
    settings = report.run_settings(config)
    card = _child_card(config, out, parent, pool, val, before, after, settings)
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        write_model_files(tmp, adapted.cpu(), card)
        report.write_settings(tmp, settings)
    logger.info(
        "adabn: %d pool images; estimated lens fraction %.4f -> %.4f",
        len(pool),
        before["target_prior_em"],
        after["target_prior_em"],
    )
    return out


def _child_card(
    config: TrainConfig,
    out: Path,
    parent: ParentModel,
    pool: DomainData,
    val: DomainData | None,
    before: dict[str, Any],
    after: dict[str, Any],
    settings: dict[str, Any],
) -> Any:
    stores = {"target": {**pool.describe(), **store_fingerprint(pool.path)}}
    if val is not None:
        stores["val"] = {**val.describe(), **store_fingerprint(val.path)}
    record = report.run_provenance(config, settings, stores, parent)
    return parent.card.replace(
        name=out.name,
        method="adabn",
        selection={
            "rule": "none",
            "description": "no training: BatchNorm statistics re-estimated on the target pool",
            "epoch": 0,
            "value": None,
        },
        metrics={"before_adaptation": before, "after_adaptation": after},
        training={
            "stores": stores,
            "seed": config.seed,
            "epochs": 0,
            "method_options": {"images": float(len(pool))},
            "parent": parent.describe(),
            "settings": settings,
        },
        provenance=record,
        lensscan_version=__version__,
        weights_sha256=None,
    )
