"""The gallery: the figures the experiments in ``experiments/`` write, made at build time by small runs.

``mkdocs build`` runs this script (mkdocs-gen-files, ``plugins: - gen-files: scripts:`` in mkdocs.yml): it
runs each experiment script through its ``main(argv)`` with small sizes in a temporary folder, keeps the
figures, and adds ``gallery/index.md`` and the PNGs to the site.  No image is committed.  To look at the
figures and time the runs without building the site:

    python docs/gallery/gen_gallery.py /tmp/gallery                    # every entry
    python docs/gallery/gen_gallery.py /tmp/gallery adaptive_search    # some entries, by script name

``JAXNN_GALLERY=0 mkdocs serve`` skips the runs (the gallery page then says so), for quick previews.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from typing import Callable, NamedTuple, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
log = logging.getLogger("mkdocs.plugins.jaxnn.gallery")


class Entry(NamedTuple):
    """One experiment's section of the gallery.

    Attributes:
      name: the script, ``experiments/<name>.py``.  title: the section's heading.
      argv: the small run's flags (``--out`` is added).  full: the flags of the full-size command ("" = defaults).
      figures: ``(file the script writes, caption)`` pairs.  shows: what the figures show (markdown).
      facts: ``(run folder, main's return value) -> markdown``: numbers of the small run, or None.
      extra: ``(module, run folder, gallery folder) -> [(file, caption)]``: figures drawn here from the run's
        files, or None.
    """

    name: str
    title: str
    argv: tuple
    full: str
    figures: tuple
    shows: str
    facts: Optional[Callable] = None
    extra: Optional[Callable] = None


def load_experiment(name: str):
    """``experiments/<name>.py`` as a module (as the tests load them), so that its ``main(argv)`` can run here."""
    spec = importlib.util.spec_from_file_location(f"gallery_{name}", os.path.join(ROOT, "experiments", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_json(folder: str, name: str) -> dict:
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


# --- the numbers of each small run -----------------------------------------------------------------------------

def sweep_facts(out: str, s: dict) -> str:
    b = s["best"]
    spread = s["hidden_spread_by_scale"]
    return (f"The best cell: scale = {b['scale']:g}, lr = {b['lr']:g}, test accuracy {b['test_accuracy']:.3f} "
            f"(mean over the seeds); {s['n_blew_up']} of {s['n_runs']} runs diverged or saturated.  At scale 0 the "
            f"hidden units' weights never differ (largest spread {spread['0']:g}); at scale "
            f"{max(spread, key=float)} they differ by up to {spread[max(spread, key=float)]:.3g}.")


def autoencoder_facts(out: str, _) -> str:
    r = read_json(out, "metrics.json")["models"][0]
    return (f"{r['m']} patches, {r['steps']} L-BFGS iterations: objective {r['final_objective']:.4f} (from "
            f"{r['initial_objective']:.2f}); mean hidden activation {r['mean_activation']:.4f} for a target rho of "
            f"{r['rho']}; the best-fitting Gabor explains on average {r['edge_mean_r2']:.0%} of a learned filter's "
            f"variance (R²) and {r['edge_init_mean_r2']:.0%} of an untrained one's (`jaxnn.edges`).")


def conv_facts(out: str, meta: dict) -> str:
    rows = "\n".join(f"| {r['method']} | {r['n_features']} | {r['train_acc']:.3f} | {r['test_acc']:.3f} |"
                     for r in meta["results"])
    return (f"{meta['n_train']} training and {meta['n_test']} test crops of {len(meta['classes'])} textures "
            f"({', '.join(meta['classes'])}); a run this small gives noisy accuracies:\n\n"
            f"| features | count | train accuracy | test accuracy |\n|---|---|---|---|\n{rows}")


def adaptive_facts(out: str, s: dict) -> str:
    rows = "\n".join(f"| {r['search']} | {r['trials_started']} | {r['lane_steps_useful']} | {r['val_accuracy']:.4f} "
                     f"| {r['test_accuracy']:.4f} |" for r in s["rows"])
    return ("| search | trials started | lane-steps | best validation accuracy | its test accuracy |\n"
            f"|---|---|---|---|---|\n{rows}")


def random_grid_facts(out: str, s: dict) -> str:
    best = s["best_val_accuracy"]
    rows = "\n".join(f"| {T} | " + " | ".join(f"{best[m]['mean'][j]:.3f}" for m in s["methods"]) + " |"
                     for j, T in enumerate(s["budgets"]))
    return (f"Best validation accuracy, mean over {s['repeats']} repeats ({s['n_runs']} trained runs):\n\n"
            f"| trials | " + " | ".join(s["methods"]) + " |\n|---|" + "---|" * len(s["methods"]) + f"\n{rows}")


def model_based_facts(out: str, s: dict) -> str:
    return s["table"]


def pooled_extra(mod, run: str, gallery: str) -> list:
    sys.path.insert(0, HERE)
    from pooled import pooled_figure

    pooled_figure(os.path.join(gallery, "conv_pool_textures_pooled.png"), mod, run)
    return [("conv_pool_textures_pooled.png", "Convolved and pooled: one test crop per class, the maps of the two "
             "learned features whose pooled values differ most between the classes, and those maps mean- and "
             "max-pooled (drawn by the gallery from the run's features.npz with `jaxnn.conv`).")]


# --- the entries ------------------------------------------------------------------------------------------------

ENTRIES = (
    Entry("sweep_init_lr", "Initialization scale x learning rate (the main job)",
          ("--scales", "0", "0.01", "0.1", "1", "--lrs", "0.3", "1", "3", "10", "30", "100", "--seeds", "2",
           "--steps", "300", "--hidden", "16", "--no-progress"), "",
          (("heatmap_test_accuracy.png", "Test accuracy per (init scale, learning rate) cell, mean over the seeds."),
           ("heatmap_train_loss.png", "Final training loss J per cell (log color scale)."),
           ("curves_by_lr.png", "Training loss per step at the best init scale, one line per learning rate "
            "(mean over seeds, band: min to max)."),
           ("curves_by_scale.png", "Training loss per step at the best learning rate, one line per init scale.")),
          "The lecture's 64-H-10 sigmoid network on scikit-learn's digits (squared error, full-batch gradient "
          "descent from W, b ~ N(0, scale^2)), every (scale, learning rate, seed) trained in one compiled, vmapped "
          "call of [`jaxnn.sweep`][jaxnn.sweep].  A cross marks a cell where every run diverged: went non-finite, "
          "or blew its weights up into saturated outputs (|z| > 10) and ended no better than predicting the class "
          "frequencies; a cell where some runs did gives their fraction.  "
          "Scale 0 never breaks the symmetry between the hidden units; too large a learning rate diverges.  "
          "Figures: [`plot.heatmap`][jaxnn.sweeps.plot.heatmap], "
          "[`plot.learning_curves`][jaxnn.sweeps.plot.learning_curves].", sweep_facts),
    Entry("sparse_autoencoder", "Learned edge filters of a sparse autoencoder",
          ("--models", "ufldl", "--test-patches", "500"), "",
          (("filters_ufldl.png", "The 25 hidden units' max-activation inputs W1_i / ||W1_i||, 8x8 pixels each "
            "(mid-grey is 0)."),),
          "UFLDL's sparse autoencoder exercise: 8x8 patches of 1/f-whitened photographs (shipped with "
          "scikit-image and scikit-learn), 25 sigmoid hidden units, rho = 0.01, lambda = 1e-4, beta = 3, compiled "
          "L-BFGS.  The units learn localized, oriented edges.  The full-size command also trains the lecture's "
          "10x10, 100-hidden model (`filters_lecture.png`).", autoencoder_facts),
    Entry("conv_pool_textures", "Convolved and pooled features",
          ("--n-train", "12", "--n-test", "8", "--n-patches", "10000", "--features", "36", "--ae-steps", "300",
           "--softmax-steps", "100"), "",
          (("features.png", "The learned 8x8 features, in the whitened space they were learned in and with the "
            "preprocessing (patch mean, ZCA) folded in: what is convolved over the raw crops."),
           ("feature_maps.png", "One test crop per texture and the sigmoid feature maps of six learned features.")),
          "UFLDL's convolution-and-pooling pipeline on texture photographs shipped with scikit-image: a sparse "
          "autoencoder with a linear decoder learns features on ZCA-whitened 8x8 patches of training crops, the "
          "features are convolved over every 96x96 crop and pooled over 22x22 regions, and a softmax classifier "
          "tells the textures apart.", conv_facts, pooled_extra),
    Entry("adaptive_search", "Successive halving, Hyperband and PBT", ("--quick", "--no-progress"), "",
          (("rungs_sh.png", "Successive halving: every trial's validation accuracy against the steps it trained; "
            "the trials stopped at a rung fade, the survivors of the last rung in full color."),
           ("rungs_hyperband.png", "Hyperband: the same, one color per bracket."),
           ("pbt_schedules.png", "PBT: every member's learning rate and ridge lambda over the intervals (log axes: "
            "both are sampled log-uniformly), the best member in black, and every member's validation accuracy at "
            "the end of each interval (linear axis).")),
          "A 64-H-10 tanh/softmax network (Adam, `jaxnn.trainable`) on digits, over log-uniform init scale, "
          "learning rate and lambda: a full random sweep, successive halving, Hyperband and population-based "
          "training, each picking the trial with the best validation accuracy.  Figures: "
          "[`plot.rungs`][jaxnn.sweeps.plot.rungs], [`plot.schedules`][jaxnn.sweeps.plot.schedules].", adaptive_facts),
    Entry("random_vs_grid", "Random vs grid search",
          ("--budgets", "3", "9", "27", "--repeats", "3", "--steps", "60", "--hidden", "16", "--no-progress"), "",
          (("best_vs_trials.png", "Best validation accuracy found, and the test accuracy of the trial it picks, "
            "against the trials per search: mean over repeats (line), min to max (band), single repeats (dots)."),),
          "Grid, random and Sobol search over the same log ranges of init scale, learning rate and lambda at equal "
          "trial budgets (Bergstra & Bengio, 2012), on digits; each grid's axes are randomly shifted per repeat.",
          random_grid_facts),
    Entry("model_based_search", "Model-based search: anytime curves",
          ("--quick", "--seeds", "3", "--problems", "3hp", "--methods", "random,hyperband,bohb"), "",
          (("anytime.png", "Best validation accuracy found so far against wall time (left) and lane-steps, the "
            "training steps of all trials (right): mean over seeds, band: min to max."),),
          "Random search, Hyperband and BOHB (Hyperband whose new trials a TPE model proposes) on the adaptive "
          "benchmark's digits problem (3 hyperparameters).  The full-size command adds ASHA with a TPE sampler, "
          "TPE at one budget and Optuna's TPE + HyperbandPruner, a 7-hyperparameter problem and 5 seeds.",
          model_based_facts),
)


# --- running an entry and writing the page ----------------------------------------------------------------------

def run_entry(e: Entry, run: str, gallery: str):
    """Run ``e``'s small run into ``run``, copy its figures into ``gallery``; returns ``(markdown, seconds,
    number of figures)``."""
    mod = load_experiment(e.name)
    said = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            ret = mod.main([*e.argv, "--out", run])
    except BaseException:
        sys.stderr.write(said.getvalue())
        raise
    seconds = time.perf_counter() - t0
    shown = []
    for file, caption in e.figures:
        with open(os.path.join(run, file), "rb") as src, open(os.path.join(gallery, f"{e.name}_{file}"), "wb") as dst:
            dst.write(src.read())
        shown.append((f"{e.name}_{file}", caption))
    if e.extra is not None:
        shown += e.extra(mod, run, gallery)
    return section(e, shown, e.facts(run, ret) if e.facts else "", seconds), seconds, len(shown)


def alt(caption: str) -> str:
    """A figure's alternative text: its caption up to the first colon or full stop."""
    return caption.replace(": ", ". ").split(". ")[0].rstrip(".")


def section(e: Entry, shown: list, facts: str, seconds: float) -> str:
    """The markdown of one entry: what it shows, the figures with their captions, the commands, the numbers."""
    script = f"experiments/{e.name}.py"
    small = shlex.join(["python", script, *e.argv, "--out", "OUT"])
    full = f"python {script}" + (f" {e.full}" if e.full else "")
    figs = "\n\n".join(f"![{alt(cap)}]({file})\n\n*{cap}*" for file, cap in shown)
    return (f"## {e.title}\n\n{e.shows}\n\n{figs}\n\nAt full size (writes to `runs/{e.name}/`):\n\n```bash\n{full}\n"
            f"```\n\nThis page's small run ({seconds:.0f} s when the site was built):\n\n```bash\n{small}\n```\n\n"
            + (f"{facts}\n" if facts else ""))


HEADER = """# Gallery

The figures the experiment scripts in `experiments/` write, each made while this site was built by a small
run of the same script (`docs/gallery/gen_gallery.py`: {n} figures in {seconds:.0f} s).  Every section gives
the command that makes its figures at full size, what they show, the small run's command and its numbers: small
runs are quick and noisy; the full-size runs and their tables are on the [benchmarks](../benchmarks.md) page.

"""


def main(out_dir: str, names=None) -> list:
    """Run the entries (all, or those whose script is in ``names``) and write their figures and ``index.md``
    into ``out_dir``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    entries = [e for e in ENTRIES if names is None or e.name in names]
    unknown = set(names or ()) - {e.name for e in ENTRIES}
    if unknown:
        raise ValueError(f"names: expected some of {[e.name for e in ENTRIES]}, got {sorted(unknown)}")
    os.makedirs(out_dir, exist_ok=True)
    parts, total, n = [], 0.0, 0
    with tempfile.TemporaryDirectory(prefix="jaxnn_gallery_") as tmp:
        for e in entries:
            md, seconds, k = run_entry(e, os.path.join(tmp, e.name), out_dir)
            log.info("gallery: %s in %.1f s", e.name, seconds)
            parts.append(md)
            total, n = total + seconds, n + k
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write(HEADER.format(n=n, seconds=total) + "\n".join(parts))
    return sorted(os.listdir(out_dir))


def skipped(out_dir: str) -> list:
    """The page written instead when ``JAXNN_GALLERY=0``: no runs."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write("# Gallery\n\nThis build skipped the gallery's runs (`JAXNN_GALLERY=0`); build without it to see "
                "the experiments' figures.\n")
    return ["index.md"]


def to_site() -> None:
    """mkdocs-gen-files: make the gallery in a temporary folder and add its files to the site under gallery/."""
    import mkdocs_gen_files

    with tempfile.TemporaryDirectory(prefix="jaxnn_gallery_site_") as tmp:
        off = os.environ.get("JAXNN_GALLERY", "1").lower() in ("0", "false", "off", "no")
        for name in skipped(tmp) if off else main(tmp):
            with open(os.path.join(tmp, name), "rb") as src, mkdocs_gen_files.open(f"gallery/{name}", "wb") as dst:
                dst.write(src.read())


if __name__ == "__main__":
    log.addHandler(logging.StreamHandler(sys.stdout))
    log.setLevel(logging.INFO)
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    t = time.perf_counter()
    files = main(sys.argv[1], sys.argv[2:] or None)
    print(f"wrote {len(files)} files to {sys.argv[1]} in {time.perf_counter() - t:.1f} s")
elif __name__ == "<run_path>":  # mkdocs-gen-files runs the script with runpy.run_path
    to_site()
