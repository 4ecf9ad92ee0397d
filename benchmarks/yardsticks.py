"""Every model on every yardstick, and the default chosen by the independent ones.

The yardsticks, each a labelled set a model was never trained on:

* ``own held-out``: the ``hsc-heldout`` family (same renderer as training, other priors
  and PSF family): a sanity check, flattering;
* ``independent val`` / ``independent test``: the ``hsc-galsim`` family (GalSim, another
  code base's PSF, lenses, sources and negatives); the validation split chooses, the test
  split only reports;
* ``real dev``: real lenses from CFHTLS and a deep ground-based survey against real DECaLS
  galaxies (display-stretched; ``../shared/realdata/real_xsurvey_dev``): chooses and
  reports, never trains;
* ``real HSC``: the 10 + 10 real HSC test cutouts of ``hsc_gri_sample40``.

The choice rule (the README states it): among the candidates whose own held-out AUROC is
at least 0.95, the default is the one with the highest mean AUROC over ``independent
val`` and ``real dev``; TPR10 on the same two breaks ties within 0.005. Test figures are
printed beside it but never enter the rule.

Usage::

    lensscan simulate --domain hsc-galsim --n 4200 --lens-fraction 0.047619 --splits val=1 \\
        --seed 1001 --out data/galsim-val.zarr
    lensscan simulate --domain hsc-galsim --n 20200 --splits test=1 --seed 2002 \\
        --out data/galsim-test.zarr
    lensscan simulate --domain hsc-heldout --n 20200 --splits test=1 --seed 202 \\
        --out data/heldout-test-gri.zarr
    python benchmarks/yardsticks.py --models hsc-gri-ecnn-v2 hsc-gri-v2 \\
        --set "own held-out=data/heldout-test-gri.zarr:test" \\
        --set "independent val=data/galsim-val.zarr:val" \\
        --set "independent test=data/galsim-test.zarr:test" \\
        --set "real dev=../shared/realdata/real_xsurvey_dev:test" \\
        --set "real HSC=../shared/realdata/hsc_gri_sample40:test" \\
        --record --out yardsticks.json

``--record`` writes every figure into the models' cards (``lensscan evaluate
--record-as``), under the card labels of :data:`CARD_LABELS`.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from lensscan.recipes import INDEPENDENT_LABEL, OUT_OF_FAMILY_LABEL, REAL_DEV_LABEL, REAL_HSC_LABEL

#: The card label each yardstick is recorded under (the recipes' labels, and the
#: independent family's validation split, which only this script scores).
CARD_LABELS = {
    "own held-out": OUT_OF_FAMILY_LABEL,
    "independent val": "independent val hsc-galsim",
    "independent test": INDEPENDENT_LABEL,
    "real dev": REAL_DEV_LABEL,
    "real HSC": REAL_HSC_LABEL,
}
CHOOSING = ("independent val", "real dev")
SANITY = "own held-out"
SANITY_FLOOR = 0.95
TIE = 0.005


def evaluate(model: str, data: str, split: str, label: str, record: bool) -> dict:
    """One model on one set: AUROC, TPR0, TPR10 and their 95% intervals."""
    from lensscan.evaluate.run import run_evaluation
    from lensscan.evaluate.settings import EvaluateConfig

    with tempfile.TemporaryDirectory() as tmp:
        outcome = run_evaluation(
            EvaluateConfig(
                models=(model,),
                data=data,
                split=split,
                report_dir=str(Path(tmp) / "report"),
                overwrite=True,
                bootstrap=1000,
                montage_size=0,
                record_as=CARD_LABELS[label] if record else None,
            )
        )
    entry = next(iter(outcome.report["models"].values()))
    return {
        key: entry.get(key) for key in ("auroc", "tpr0", "tpr10", "ci95", "n_lenses", "n_nonlenses")
    }


def choose(figures: dict[str, dict[str, dict]]) -> tuple[str | None, dict[str, float]]:
    """The default by the choice rule, and each candidate's choosing score."""
    scores: dict[str, float] = {}
    tiebreak: dict[str, float] = {}
    for model, sets in figures.items():
        sanity = sets.get(SANITY, {}).get("auroc")
        if sanity is not None and sanity < SANITY_FLOOR:
            continue
        if not all(name in sets for name in CHOOSING):
            continue
        scores[model] = sum(sets[name]["auroc"] for name in CHOOSING) / len(CHOOSING)
        tiebreak[model] = sum((sets[name]["tpr10"] or 0.0) for name in CHOOSING)
    if not scores:
        return None, scores
    best = max(scores.values())
    close = [m for m, s in scores.items() if s >= best - TIE]
    return max(close, key=lambda m: tiebreak[m]), scores


def _cell(figure: dict) -> str:
    low, high = (figure.get("ci95") or {}).get("auroc", (math.nan, math.nan))
    tpr10 = figure.get("tpr10")
    return f"{figure['auroc']:.3f} ({low:.3f}-{high:.3f}), TPR10 " + (
        "-" if tpr10 is None else f"{tpr10:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument(
        "--set",
        action="append",
        required=True,
        help="NAME=PATH:SPLIT with NAME one of: " + ", ".join(CARD_LABELS),
    )
    parser.add_argument("--record", action="store_true", help="Write the figures into the cards.")
    parser.add_argument("--out", type=Path, help="Also write every figure as JSON here.")
    args = parser.parse_args()
    sets = {}
    for text in args.set:
        name, _, rest = text.partition("=")
        path, _, split = rest.rpartition(":")
        if name not in CARD_LABELS or not path:
            parser.error(f"--set {text!r}: expected NAME=PATH:SPLIT, NAME in {list(CARD_LABELS)}")
        sets[name] = (path, split)
    figures: dict[str, dict[str, dict]] = {}
    for model in args.models:
        figures[model] = {}
        for name, (path, split) in sets.items():
            figures[model][name] = evaluate(model, path, split, name, args.record)
            print(f"{model:28s} {name:17s} {_cell(figures[model][name])}", flush=True)
    chosen, scores = choose(figures)
    print()
    print("| model | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for model, row in figures.items():
        print(f"| `{model}` | " + " | ".join(_cell(row[name]) for name in sets) + " |")
    print()
    for model, score in sorted(scores.items(), key=lambda item: -item[1]):
        print(f"choosing score {model}: {score:.4f}")
    print(f"default by the choice rule: {chosen}")
    if args.out:
        args.out.write_text(json.dumps({"figures": figures, "chosen": chosen}, indent=1))


if __name__ == "__main__":
    main()
