"""The README's analysis pictures, from scratch: `layerwise` commands on fresh runs, PNGs copied to docs/images/.

    python scripts/figures_analysis.py            # digits: saliency, attack, dream, misclassified (~30 s)
    python scripts/figures_analysis.py --mnist    # also Glorot and Bengio's figure 2, two MNIST runs (~4 min)

--mnist trains configs/glorot_bengio.yaml as it is ("standard" initialization) and with Glorot's
normalized one; MNIST must be in the cache (or --set data.path in the config).
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from layerwise.analysis.adversarial import plot_attack_accuracy
from layerwise.cli import main

ROOT = Path(__file__).resolve().parents[1]
GLOROT = [f"model.layers.{i}.init=glorot_uniform" for i in (1, 3, 5, 7, 9, 11)]


def layerwise(*argv):
    code = main([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"layerwise {' '.join(map(str, argv))} exited {code}")


def sets(assignments):
    return [x for a in assignments for x in ("--set", a)]


def digits_pictures(tmp, out):
    run = tmp / "digits_mlp"
    layerwise("train", ROOT / "configs/digits_mlp.yaml", "--out", run, "--progress", "off")
    layerwise("saliency", run, "--n", "16")
    layerwise("attack", run, "--eps", "0,0.05,0.1,0.15,0.2,0.3")
    layerwise("attack", run, "--eps", "0,0.05,0.1,0.15,0.2,0.3", "--steps", "10", "--out", run / "pgd")
    layerwise("dream", run)
    curves = {name: {float(k): v for k, v in json.loads((folder / "attack.json").read_text())["accuracy"].items()}
              for name, folder in (("FGSM", run), ("PGD, 10 steps", run / "pgd"))}
    plot_attack_accuracy(curves, out / "attack_accuracy_digits.png", title="digits_mlp: test accuracy under attack")
    for src, dst in (("saliency.png", "saliency_digits.png"), ("attack_examples.png", "attack_examples_digits.png"),
                     ("dream.png", "dream_digits.png"), ("misclassified.png", "misclassified_digits.png")):
        shutil.copy(run / src, out / dst)


def glorot_bengio_pictures(tmp, out):
    for name, init in (("standard", []), ("glorot", GLOROT)):
        run = tmp / f"glorot_bengio_{name}"
        layerwise("train", ROOT / "configs/glorot_bengio.yaml", "--out", run, "--progress", "off", *sets(init))
        shutil.copy(run / "layer_stats.png", out / f"layer_stats_{name}_mnist.png")


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    p.add_argument("--mnist", action="store_true", help="also Glorot and Bengio's figure 2 on MNIST")
    return p.parse_args()


if __name__ == "__main__":
    args = parse()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        digits_pictures(Path(tmp), args.out)
        if args.mnist:
            glorot_bengio_pictures(Path(tmp), args.out)
    print(f"pictures in {args.out}")
