"""Does training on arcs injected into real HSC cutouts help? Fine-tuning with and without.

The backgrounds are the real HSC sample's 10 *training* non-lenses
(``../shared/realdata/hsc_gri_sample40/train_nonlenses``; its test split is never
touched), reused under the 8 flips and rotations with arcs injected into half of the
items (``lensscan simulate --domain inject``). A shipped model is fine-tuned (supervised,
``--init-model``) on two mixtures of equal size:

* ``sims``: labelled ``hsc-train`` simulations only (the control: the effect of more
  training alone);
* ``sims+inject``: the same simulations with the injected real cutouts, repeated to make
  ``--inject-share`` of the mixture.

The parent and both children are evaluated on the real sample's test split (10 lenses,
10 non-lenses; the figure the injection aims at) and on an out-of-family ``hsc-heldout``
test store. The last line printed is one JSON object with every AUROC and TPR10 and their
95% intervals; ``--out`` also writes it to a file.

Usage::

    python benchmarks/inject_finetune.py --heldout data/heldout-test-gri.zarr
    python benchmarks/inject_finetune.py --model hsc-gri-v2 --epochs 2 --out results.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "hsc_gri_sample40"


def run(*args: str) -> None:
    """Run one lensscan command, failing loudly."""
    subprocess.run([sys.executable, "-m", "lensscan", *args], check=True)


def mixture(sims: Path, injected: Path | None, share: float, out: Path, seed: int) -> None:
    """Write the simulations plus (optionally) the injected items repeated to ``share``."""
    from lensscan.data.store import CutoutStore, write_store

    parts = [CutoutStore.open(sims)]
    images = [parts[0].read_images()]
    labels = [parts[0].labels]
    splits = [parts[0].split_codes]
    if injected is not None:
        extra = CutoutStore.open(injected)
        repeats = max(1, round(share * len(images[0]) / ((1 - share) * len(extra))))
        images.append(np.tile(extra.read_images(), (repeats, 1, 1, 1)))
        labels.append(np.tile(extra.labels, repeats))
        # Injected items train only: the real sample's backgrounds never select a model.
        splits.append(np.zeros(len(extra) * repeats, np.int8))
    write_store(
        out,
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        split=np.concatenate(splits),
        split_names=parts[0].split_names,
        bands=parts[0].bands,
        pixel_scale=parts[0].pixel_scale,
        attrs={"domain": "mixture", "seed": seed},
    )


def figures(report: Path) -> dict[str, dict[str, float]]:
    """AUROC and TPR10 with intervals of every model in an evaluation report."""
    models = json.loads((report / "report.json").read_text())["models"]
    return {
        name: {
            "auroc": m["auroc"],
            "auroc_ci95": m["ci95"]["auroc"],
            "tpr10": m["tpr10"],
            "tpr10_ci95": m["ci95"]["tpr10"],
        }
        for name, m in models.items()
    }


def main() -> None:
    """Inject, fine-tune with and without, evaluate, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hsc-gri-v2", help="Model to fine-tune.")
    parser.add_argument("--heldout", type=Path, help="Out-of-family test store (made if absent).")
    parser.add_argument("--n-sims", type=int, default=4000, help="hsc-train items to mix in.")
    parser.add_argument("--inject-share", type=float, default=0.2, help="Injected share.")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, help="Folder to keep the stores and models in.")
    parser.add_argument("--out", type=Path, help="Also write the JSON here.")
    args = parser.parse_args()
    if not REALDATA.is_dir():
        raise SystemExit(f"{REALDATA} is absent: the real HSC sample is needed")
    work = args.work or Path(tempfile.mkdtemp(prefix="inject-finetune-"))
    work.mkdir(parents=True, exist_ok=True)
    seed = str(args.seed)
    injected = work / "inject.zarr"
    if not injected.exists():
        run("simulate", "--domain", "inject", "--backgrounds", str(REALDATA / "train_nonlenses"),
            "--background-bands", "gri", "--pixel-scale", "0.168", "--n", "80", "--rotations",
            "--seed", seed, "--out", str(injected))  # fmt: skip
    sims = work / "sims.zarr"
    if not sims.exists():
        run("simulate", "--domain", "hsc-train", "--n", str(args.n_sims), "--splits",
            "train=0.9,val=0.1", "--seed", seed, "--out", str(sims))  # fmt: skip
    heldout = args.heldout or work / "heldout.zarr"
    if not heldout.exists():
        run("simulate", "--domain", "hsc-heldout", "--n", "20200", "--splits", "test=1",
            "--seed", "202", "--out", str(heldout))  # fmt: skip
    children = {}
    for name, extra in (("sims", None), ("sims+inject", injected)):
        store = work / f"mix-{name}.zarr"
        if not store.exists():
            mixture(sims, extra, args.inject_share, store, args.seed)
        child = work / f"finetuned-{name.replace('+', '-')}"
        if not child.exists():
            run("train", "--init-model", args.model, "--source", str(store), "--method",
                "supervised", "--epochs", str(args.epochs), "--lr", str(args.lr),
                "--seed", seed, "--out", str(child))  # fmt: skip
        children[name] = child
    models = [args.model, *(str(path) for path in children.values())]
    results: dict[str, object] = {"model": args.model, "epochs": args.epochs, "lr": args.lr}
    for label, data, extra in (
        ("real_hsc_test", REALDATA, ["--bands", "g,r,i"]),
        ("heldout_test", heldout, []),
    ):
        report = work / f"report-{label}"
        model_args = [item for model in models for item in ("--model", model)]
        run("evaluate", *model_args, "--data", str(data), "--split", "test",
            "--report-dir", str(report), "--overwrite", *extra)  # fmt: skip
        results[label] = figures(report)
    line = json.dumps(results)
    if args.out:
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
