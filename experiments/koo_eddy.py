"""Koo & Eddy (2019) in both ports: does first-layer max-pooling decide whether the
first-layer filters learn whole motifs?

Koo PK, Eddy SR. Representation learning of genomic sequence motifs with convolutional
neural networks. PLoS Comput Biol 15(12): e1007560 (2019). Their claim: CNNs whose first
layer pools widely (CNN-25, CNN-50) learn whole motifs in their first-layer filters
(localist); CNNs that pool narrowly (CNN-2, CNN-4) and build features deeper learn partial
motifs (distributed). ``dna-tutorial reproduce koo-eddy`` regenerates their data, trains
their CNN variants in both ports and measures what they measured. Where the paper and the
authors' code (github.com/p-koo/learning_sequence_motifs) leave a choice, the choice made
here is written next to it:

- **Data**: 25,000 sequences of 200 nt, uniform background; 1 to 5 motifs per sequence
  with probabilities .50/.25/.17/.05/.03, drawn with replacement from 12 JASPAR 2016 CORE
  vertebrate PWMs and their reverse complements, letters sampled from the PWM, placed
  without overlap in random order (``dna_tutorial.synthetic.planted_motifs``; the gaps
  are a uniformly random split of the free positions, where the authors renormalise
  uniform weights). Labels: which of the 12 TFs a sequence holds, either strand. Split
  70/10/20 at random. Generator seed 33 (the authors' NumPy seed; our generator draws
  differently, so the sequences differ, the distribution does not).
- **Models** (``deep_multilabel``): conv 30 x 19 'same' -> BatchNorm -> ReLU -> max-pool
  P -> dropout 0.1 -> conv 128 x 5 -> BatchNorm -> ReLU -> max-pool 100/P -> dropout 0.1
  -> dense 512 -> BatchNorm -> ReLU -> dropout 0.5 -> 12 logits (sigmoid, binary
  cross-entropy). CNN-P names the first pool size P; every variant hands 2 x 128 features
  to the dense layer.
- **Training**: Adam at a constant 3e-4 (the authors' beta1 is 0.95, ours torch's and
  optax's 0.9; their L2 of 1e-6 is left out), batch 100, early stopping on the validation
  loss. The authors allow 100 epochs with patience 20 and keep the best epoch's weights;
  this run allows ``Setup.epochs`` with patience ``Setup.patience`` and measures the last
  epoch's weights (2 CPU cores: the budget of a CI machine).
- **Filters -> PWMs** (the authors' ``activation_pwm``): for each first-layer filter,
  every test-set position whose activation after the ReLU exceeds half the filter's
  maximum; the 19-nt windows there, averaged with the activations as weights. Clipped to
  the columns from the first to the last with more than 0.5 bits, plus 3 on each side
  (unclipped if no column qualifies).
- **Tomtom**: memelite against all 519 JASPAR 2016 CORE vertebrate matrices, a hit at
  E < 0.1 (E = p x 519), as the authors' ``tomtom -evalue -thresh 0.1``. memelite scores
  columns by Euclidean distance where MEME's Tomtom defaults to Pearson correlation, so
  p-values differ. **match GT**: the share of the 30 filters with a hit among their TF's
  accepted IDs (the authors' lists, ``GROUND_TRUTH``); **match JASPAR**: the share with
  any hit.
- **Classification**: AUROC and AUPR per TF on the test set, averaged over the 12.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dna_tutorial import jaspar, tomtom
from dna_tutorial.checkpoint import load_snapshot, model_dir
from dna_tutorial.config import RunConfig
from dna_tutorial.dataset import TutorialData, planted_task
from dna_tutorial.recipe import Split
from dna_tutorial.sequences import encode_codes
from dna_tutorial.synthetic import Motif

RELEASE = "JASPAR2016"
#: The 12 transcription factors and the JASPAR 2016 matrices planted for them.
TFS = {
    "Arid3a": "MA0151.1",
    "CEBPB": "MA0466.2",
    "FOSL1": "MA0477.1",
    "Gabpa": "MA0062.2",
    "MAFK": "MA0496.1",
    "MAX": "MA0058.3",
    "MEF2A": "MA0052.3",
    "NFYB": "MA0502.1",
    "SP1": "MA0079.3",
    "SRF": "MA0083.3",
    "STAT1": "MA0137.3",
    "YY1": "MA0095.2",
}
#: Matrices accepted as each TF, from the authors' ``helper.match_hits_to_ground_truth``
#: (their STAT1 list also holds MEF2B and MEF2D; kept as they wrote it).
GROUND_TRUTH = {
    "Arid3a": ("MA0151.1", "MA0601.1", "PB0001.1"),
    "CEBPB": ("MA0466.1", "MA0466.2"),
    "FOSL1": ("MA0477.1",),
    "Gabpa": ("MA0062.1", "MA0062.2"),
    "MAFK": ("MA0496.1", "MA0496.2"),
    "MAX": ("MA0058.1", "MA0058.2", "MA0058.3"),
    "MEF2A": ("MA0052.1", "MA0052.2", "MA0052.3"),
    "NFYB": ("MA0502.1", "MA0060.1", "MA0060.2"),
    "SP1": ("MA0079.1", "MA0079.2", "MA0079.3"),
    "SRF": ("MA0083.1", "MA0083.2", "MA0083.3"),
    "STAT1": ("MA0137.1", "MA0137.2", "MA0137.3", "MA0660.1", "MA0773.1"),
    "YY1": ("MA0095.1", "MA0095.2"),
}
SEQ_LEN, DATA_SEED, WIDTH, FILTERS = 200, 33, 19, 30
#: The variants run here, by first-layer pool size: two that pool narrowly, two widely.
VARIANTS = {"CNN-2": 2, "CNN-4": 4, "CNN-25": 25, "CNN-50": 50}
#: The authors' own numbers, from their repository (p-koo/learning_sequence_motifs at
#: 02c89a5, 2019-06: results/synthetic/performance_summary.tsv for AUROC and AUPR, mean
#: over the 12 TFs of one trial; match fractions counted from the Tomtom outputs stored
#: there, one trial). The published article's table could not be read here.
PUBLISHED = {
    "CNN-2": {"auroc": 0.968, "aupr": 0.880, "match_jaspar": 0.300, "match_gt": 0.000},
    "CNN-4": {"auroc": 0.952, "aupr": 0.855, "match_jaspar": 0.567, "match_gt": 0.133},
    "CNN-25": {"auroc": 0.954, "aupr": 0.873, "match_jaspar": 1.000, "match_gt": 1.000},
    "CNN-50": {"auroc": 0.965, "aupr": 0.871, "match_jaspar": 1.000, "match_gt": 0.967},
}
E_THRESHOLD = 0.1


@dataclass(frozen=True)
class Setup:
    """How much to run: the full reproduction, or ``QUICK`` (a minute, for CI)."""

    num_seqs: int = 25_000
    epochs: int = 100
    patience: int = 10
    seeds: tuple[int, ...] = (0,)
    variants: tuple[str, ...] = tuple(VARIANTS)
    frameworks: tuple[str, ...] = ("torch", "jax")


FULL = Setup()
QUICK = Setup(num_seqs=600, epochs=2, patience=2, variants=("CNN-2", "CNN-50"))


def motifs() -> tuple[Motif, ...]:
    """The 12 planted PWMs, named by TF, float64 (w, 4) each."""
    found = jaspar.load_motifs(TFS.values(), release=RELEASE)
    return tuple(Motif(tf, m.pwm) for tf, m in zip(TFS, found))


def koo_split(n: int, seed: int = DATA_SEED) -> Split:
    """A random 70/10/20 split of ``n`` rows, each part sorted."""
    order = np.random.default_rng(seed).permutation(n)
    train, val = int(0.7 * n), int(0.1 * n)
    parts = order[:train], order[train : train + val], order[train + val :]
    return Split(*(np.sort(p).astype(np.int64) for p in parts))


def dataset(num_seqs: int, seed: int = DATA_SEED) -> TutorialData:
    """The synthetic data set: planted JASPAR motifs on either strand, 12 labels."""
    data = planted_task(num_seqs, SEQ_LEN, motifs(), seed, both_strands=True)
    return replace(
        data,
        split=koo_split(num_seqs, seed),
        source=f"Koo & Eddy's synthetic data, regenerated: {num_seqs:,} x {SEQ_LEN} nt, "
        f"12 JASPAR 2016 motifs on either strand (seed {seed})",
    )


def config(variant: str, framework: str, setup: Setup, seed: int) -> RunConfig:
    """The ``deep_multilabel`` run of one variant."""
    pool = VARIANTS[variant]
    return RunConfig(
        frameworks=(framework,),
        models=("deep_multilabel",),
        conv_blocks=((FILTERS, WIDTH, pool), (128, 5, 100 // pool)),
        dense_units=(512,),
        dropout=(0.1, 0.5),
        adamw_lr=3e-4,
        weight_decay=0.0,
        warmup_epochs=0,
        schedule="constant",
        batch_size=100,
        epochs=setup.epochs,
        patience=setup.patience,
        seed=seed,
    )


def activation_pwms(
    acts: np.ndarray, x: np.ndarray, window: int = WIDTH, share: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """First-layer PWMs as the authors make them.

    ``acts``: activations after the ReLU, float32 (N, L, F) ('same' padding: position p
    is the window centred on p); ``x``: one-hot (N, L, 4). Returns (PWMs float64
    (F, window, 4), positions used per filter int64 (F,)).
    """
    half = window // 2
    padded = np.pad(x, ((0, 0), (half, window - half - 1), (0, 0)))
    pwms, used = [], []
    for f in range(acts.shape[-1]):
        a = acts[..., f]
        if a.max() <= 0:  # never active: nothing to average
            pwms.append(np.full((window, 4), 0.25))
            used.append(0)
            continue
        rows, cols = np.nonzero(a > share * a.max())
        windows = padded[rows[:, None], cols[:, None] + np.arange(window)]  # (H, window, 4)
        total = (a[rows, cols][:, None, None] * windows).sum(axis=0)
        sums = total.sum(axis=1, keepdims=True)  # 0 only where every window is padding
        pwms.append(np.where(sums > 0, total / np.where(sums > 0, sums, 1), 0.25))
        used.append(len(rows))
    return np.array(pwms), np.array(used, dtype=np.int64)


def clip(pwm: np.ndarray, bits: float = 0.5, pad: int = 3) -> np.ndarray:
    """The authors' ``clip_filters``: first to last column above ``bits``, +- ``pad``;
    unchanged if no column qualifies."""
    keep = np.flatnonzero(tomtom.information_content(pwm) > bits)
    if not len(keep):
        return pwm
    return pwm[max(keep[0] - pad, 0) : keep[-1] + pad + 1]


def hits(pwms: np.ndarray, database: Sequence[Motif]) -> list[list[str]]:
    """Per filter, the JASPAR IDs it matches at E < 0.1 (Tomtom, both strands)."""
    p = tomtom.run_tomtom([clip(m) for m in pwms], [m.pwm for m in database], rc=True)[0]
    ids = np.array([m.name.split()[0] for m in database])
    return [list(ids[row * len(database) < E_THRESHOLD]) for row in p]


def match_statistics(found: list[list[str]]) -> dict:
    """match JASPAR, match GT (shares of the filters) and the TFs covered."""
    accepted = {i: tf for tf, ids in GROUND_TRUTH.items() for i in ids}
    truths = [{accepted[i] for i in ids if i in accepted} for ids in found]
    return {
        "match_jaspar": float(np.mean([bool(ids) for ids in found])),
        "match_gt": float(np.mean([bool(t) for t in truths])),
        "tfs_covered": sorted(set().union(*truths)),
        "filter_tfs": [sorted(t) for t in truths],
    }


def first_layer(framework: str, snapshot, x: np.ndarray) -> np.ndarray:
    """The trained model's first-layer activations after the ReLU: float32 (N, L, F)."""
    if framework == "torch":
        import torch

        from reference_torch.checkpoint import load_model
        from reference_torch.filters import conv_activations

        model = load_model(snapshot)
        with torch.no_grad():
            acts = torch.cat([conv_activations(model, torch.from_numpy(c)) for c in _chunks(x)])
        return np.maximum(acts.numpy().transpose(0, 2, 1), 0)
    import jax.numpy as jnp

    from jax_impl.checkpoint import load_model
    from jax_impl.filters import conv_activations

    model, variables = load_model(snapshot)
    acts = [np.asarray(conv_activations(model, variables, jnp.asarray(c))) for c in _chunks(x)]
    return np.maximum(np.concatenate(acts), 0)


def _chunks(x: np.ndarray, size: int = 500) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def measure(
    framework: str,
    variant: str,
    data: TutorialData,
    setup: Setup,
    seed: int,
    workdir: Path,
    database: Sequence[Motif],
    progress: bool,
) -> dict:
    """Train one variant in one port and measure it: a JSON-ready row, plus its PWMs."""
    from dna_tutorial.app.pipeline import run_port

    cfg = config(variant, framework, setup, seed)
    start = time.perf_counter()
    result = run_port(framework, data, cfg, progress=progress, checkpoints=workdir)
    seconds = time.perf_counter() - start
    trained = result.models["deep_multilabel"]
    metrics = trained.metrics(len(data.class_names))
    snapshot = load_snapshot(model_dir(workdir, framework, "deep_multilabel"), optimizer=False)
    test = [data.seqs[i] for i in data.split.test]
    x = np.eye(4, dtype=np.float32)[encode_codes(test, allow_unknown=False)]
    pwms, used = activation_pwms(first_layer(framework, snapshot, x), x)
    stats = match_statistics(hits(pwms, database))
    return {
        "framework": framework,
        "variant": variant,
        "seed": seed,
        "auroc": metrics["test_auroc"],
        "aupr": metrics["test_aupr"],
        "match_jaspar": stats["match_jaspar"],
        "match_gt": stats["match_gt"],
        "tfs_covered": stats["tfs_covered"],
        "filter_tfs": stats["filter_tfs"],
        "epochs": metrics["epochs_run"],
        "stopped_early": metrics["stopped_early"],
        "train_seconds": sum(trained.epoch_seconds),
        "seconds": seconds,
        "pwms": pwms.round(4).tolist(),
        "positions_used": used.tolist(),
    }


def summarise(rows: list[dict]) -> list[dict]:
    """Per variant and port: mean and sd over seeds of each measure."""
    out = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        for framework in dict.fromkeys(r["framework"] for r in rows):
            mine = [r for r in rows if r["variant"] == variant and r["framework"] == framework]
            if not mine:
                continue
            entry = {"variant": variant, "framework": framework, "seeds": len(mine)}
            for key in ("auroc", "aupr", "match_jaspar", "match_gt", "epochs", "train_seconds"):
                values = np.array([r[key] for r in mine], dtype=np.float64)
                entry[key] = float(values.mean())
                entry[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else None
            out.append(entry)
    return out


def _cell(entry: dict | None, key: str, digits: int = 3) -> str:
    if entry is None or entry.get(key) is None:
        return "-"
    sd = entry.get(f"{key}_sd")
    return f"{entry[key]:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def markdown(results: dict) -> str:
    """The results page: paper (authors' repository) vs torch vs JAX per variant."""
    setup, summary = results["setup"], results["summary"]
    lines = [
        "# Koo & Eddy (2019) reproduced in both ports",
        "",
        f"`{results['command']}` at commit {results['run']['git_commit']}; "
        f"{results['data']['source']}; split {results['data']['split']}; "
        f"seeds {setup['seeds']}, at most {setup['epochs']} epochs, patience "
        f"{setup['patience']}; {results['machine']}. Wall time {results['seconds'] / 60:.0f} "
        "minutes.",
        "",
        "Columns: test AUROC and AUPR (mean over the 12 TFs); match GT and match JASPAR "
        "(shares of the 30 first-layer filters whose Tomtom hits at E < 0.1 include one of "
        "their TF's matrices, or any matrix); epochs trained; training time. 'paper' is the "
        "authors' own result from their repository (one trial; the article's table could "
        "not be read here).",
        "",
        "| variant | source | AUROC | AUPR | match GT | match JASPAR | epochs | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in setup["variants"]:
        paper = PUBLISHED.get(variant)
        if paper:
            lines.append(
                f"| {variant} | paper | {paper['auroc']:.3f} | {paper['aupr']:.3f} | "
                f"{paper['match_gt']:.3f} | {paper['match_jaspar']:.3f} | ≤100 | - |"
            )
        for fw in setup["frameworks"]:
            e = next((s for s in summary if s["variant"] == variant and s["framework"] == fw), None)
            lines.append(
                f"| {variant} | {fw} | {_cell(e, 'auroc')} | {_cell(e, 'aupr')} | "
                f"{_cell(e, 'match_gt')} | {_cell(e, 'match_jaspar')} | "
                f"{_cell(e, 'epochs', 0)} | {_cell(e, 'train_seconds', 0)} |"
            )
    lines += ["", conclusion(summary), "", "## Per run", ""]
    lines += [
        "| variant | port | seed | TFs matched by a filter | filters on GT |",
        "|---|---|---:|---|---:|",
    ]
    for r in results["runs"]:
        on_gt = sum(bool(t) for t in r["filter_tfs"])
        lines.append(
            f"| {r['variant']} | {r['framework']} | {r['seed']} | "
            f"{', '.join(r['tfs_covered']) or '-'} | {on_gt}/{len(r['filter_tfs'])} |"
        )
    lines += ["", "How it is measured: see the docstring of `experiments/koo_eddy.py`.", ""]
    return "\n".join(lines)


def conclusion(summary: list[dict]) -> str:
    """The claim, checked: narrow first-layer pools (<= 4) against wide ones (>= 25)."""
    narrow = [s for s in summary if VARIANTS[s["variant"]] <= 4]
    wide = [s for s in summary if VARIANTS[s["variant"]] >= 25]
    if not (narrow and wide):
        return "Too few variants to compare narrow and wide pools."
    gt_narrow = max(s["match_gt"] for s in narrow)
    gt_wide = min(s["match_gt"] for s in wide)
    auroc = [s["auroc"] for s in summary]
    holds = gt_wide > 2 * gt_narrow and gt_wide >= 0.5
    return (
        f"**What it shows.** Narrow first-layer pools (CNN-2, CNN-4): at most "
        f"{gt_narrow:.0%} of the filters match a planted motif; wide pools (CNN-25, CNN-50): "
        f"at least {gt_wide:.0%}, in both ports, while AUROC stays between {min(auroc):.3f} "
        f"and {max(auroc):.3f}. "
        + (
            "The paper's conclusion holds: pooling widely in the first layer makes its "
            "filters learn whole motifs (localist); pooling narrowly leaves partial motifs "
            "to be assembled deeper (distributed), with the same classification performance."
            if holds
            else "This run does not show the paper's contrast."
        )
    )


def figure(results: dict, path: Path, shown: int = 10) -> Path:
    """First-layer logos: one row per variant and port, the first ``shown`` filters, each
    captioned with the TF it matches (Tomtom, E < 0.1) or '-'."""
    import logomaker
    import pandas as pd
    from matplotlib.figure import Figure

    runs = [r for r in results["runs"] if r["seed"] == results["setup"]["seeds"][0]]
    fig = Figure(figsize=(1.6 * shown + 1.2, 1.25 * len(runs) + 0.6))
    axes = np.atleast_2d(fig.subplots(len(runs), shown, squeeze=False))
    for row, run in zip(axes, runs):
        row[0].set_ylabel(f"{run['variant']}\n{run['framework']}", fontsize=9)
        for f, ax in enumerate(row):
            pwm = clip(np.asarray(run["pwms"][f]))
            pwm = pwm / pwm.sum(axis=1, keepdims=True)  # stored to 4 decimals
            frame = pd.DataFrame(pwm, columns=list("ACGT"))
            info = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
            logomaker.Logo(info, ax=ax, color_scheme="classic")
            ax.set_ylim(0, 2)
            ax.set_xticks([])
            ax.set_yticks([] if f else [0, 1, 2])
            ax.tick_params(labelsize=6)
            ax.set_xlabel(", ".join(run["filter_tfs"][f]) or "-", fontsize=7)
    fig.suptitle("First-layer filters (activation PWMs, clipped) and the TF each matches")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


NAMES = ("koo_eddy.md", "koo_eddy.json", "koo_eddy_logos.png")


def file_names(setup: Setup) -> tuple[str, ...]:
    """What a run writes: ``NAMES``, or for ``--quick`` ``koo_eddy-quick.*``, so that a
    quick run never replaces the full reproduction's results."""
    if replace(setup, seeds=FULL.seeds) != QUICK:
        return NAMES
    return tuple(n.replace("koo_eddy", "koo_eddy-quick", 1) for n in NAMES)


def run(
    out: Path,
    setup: Setup = FULL,
    progress: bool = True,
    report: Callable[[str], None] = print,
) -> dict:
    """Regenerate the data, train every variant in every port for every seed, measure,
    and write ``NAMES`` into ``out`` (beside what it holds). Returns the results."""
    import tempfile

    from dna_tutorial import provenance
    from dna_tutorial.outputs import json_text, updated_directory

    command = "dna-tutorial reproduce koo-eddy"
    if replace(setup, seeds=FULL.seeds) == QUICK:
        command += " --quick"
    if setup.seeds != FULL.seeds:
        command += " --seeds " + " ".join(map(str, setup.seeds))
    start, info = time.perf_counter(), provenance.run_info()  # the commit as the run starts
    names = file_names(setup)
    with updated_directory(out, names) as stage:  # checked before the minutes of work
        data = dataset(setup.num_seqs)
        database = jaspar.vertebrates(RELEASE)
        rows = []
        for seed in setup.seeds:
            for variant in setup.variants:
                for framework in setup.frameworks:
                    with tempfile.TemporaryDirectory() as work:
                        row = measure(
                            framework, variant, data, setup, seed, Path(work), database, progress
                        )
                    rows.append(row)
                    report(
                        f"{variant} {framework} seed {seed}: AUROC {row['auroc']:.3f}, "
                        f"match GT {row['match_gt']:.2f}, JASPAR {row['match_jaspar']:.2f} "
                        f"({row['epochs']} epochs, {row['train_seconds']:.0f} s)"
                    )
        machine = provenance.machine()
        results = {
            "command": command,
            "setup": {**setup.__dict__, "seeds": list(setup.seeds)},
            "data": data.describe(),
            "run": info,
            "machine": f"{machine['processor']}, {machine['cpu_cores']} CPU cores",
            "published": PUBLISHED,
            "summary": summarise(rows),
            "runs": rows,
            "seconds": time.perf_counter() - start,
        }
        (stage / names[1]).write_text(json_text(results), encoding="utf-8")
        (stage / names[0]).write_text(markdown(results), encoding="utf-8")
        figure(results, stage / names[2])
    return results
