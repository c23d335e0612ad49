"""Every figure of the tutorial, drawn from plain arrays so both ports share one drawing.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state,
no display needed) and saved as PNG; the interactive chart is Altair, saved as one
self-contained HTML file that works offline (Vega's JavaScript is inlined).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import altair as alt
import logomaker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dna_tutorial.sequences import count_motif
from dna_tutorial.spec import ALPHABET, CLASS_EDGES, MOTIF_BONUSES

_DPI = 110
_MODEL_COLOURS = {"linear": "tab:blue", "cnn": "tab:orange", "cnn2d": "tab:green"}
#: Every figure stays bounded in size and drawing time, whatever the data: scatter plots
#: show at most this many points (a random sample, said in the title) ...
MAX_SCATTER_POINTS = 20_000
#: ... filter grids at most this many filters (the first ones, said in the title) ...
MAX_FILTER_PANELS = 64
#: ... attribution figures at most this many positions of a sequence (those around its
#: largest effect, said in the title) ...
MAX_POSITIONS_SHOWN = 100
#: ... and a confusion matrix writes its counts only up to this many classes.
MAX_LABELLED_CLASSES = 12


def _save(fig: Figure, path: str | Path, tight: bool = True) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight" if tight else None)
    return path


def _filter_grid(num_filters: int, num_cols: int, cell: float) -> tuple[Figure, np.ndarray]:
    """A grid of one small panel per filter, axes switched off until drawn on.

    The margins are fixed rather than computed (constrained layout, tight bounding box):
    with dozens of panels, layout solving took most of a report's drawing time.
    """
    num_cols = min(num_cols, num_filters)
    rows = math.ceil(num_filters / num_cols)
    height = cell * rows + 0.5  # room for the title
    fig = Figure(figsize=(cell * num_cols, height))
    fig.subplots_adjust(
        left=0.45 / (cell * num_cols),
        right=0.99,
        bottom=0.1 / height,
        top=1 - 0.6 / height,
        wspace=0.35,
        hspace=0.45,
    )
    axes = np.atleast_1d(fig.subplots(rows, num_cols)).ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes


def _shown(num_filters: int) -> str:
    if num_filters <= MAX_FILTER_PANELS:
        return ""
    return f"; the first {MAX_FILTER_PANELS} of {num_filters} filters"


def score_histogram(scores: np.ndarray, path: str | Path) -> Path:
    """Step 1: the distribution of scores, with the three motif groups marked."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.hist(scores, bins=60, color="tab:gray")
    for edge in CLASS_EDGES:
        ax.axvline(edge, color="tab:red", linestyle=":", linewidth=1)
    top = ax.get_ylim()[1]
    for x, label in [(5, "GCG (-10)"), (15, "no motif"), (25, "TAT (+10)")]:
        ax.text(x, top * 0.92, label, ha="center", fontsize=9)
    ax.set(xlabel="score", ylabel="sequences", title=f"Scores of {len(scores):,} sequences")
    return _save(fig, path)


#: The loss each task trains with, for the axis labels.
LOSS_NAMES = {"regress": "MSE", "classify": "cross-entropy", "multilabel": "binary cross-entropy"}


def loss_curves(histories: Mapping[str, Mapping], path: str | Path) -> Path:
    """Step 5: train (solid) and validation (dashed) loss per epoch, one colour per model.

    ``histories`` maps a model to ``{"train", "val", "task"}``. Models of one task share a
    panel, since different losses are on different scales.
    """
    tasks = list(dict.fromkeys(h["task"] for h in histories.values()))
    fig = Figure(figsize=(6.5 * len(tasks), 4))
    for ax, task in zip(np.atleast_1d(fig.subplots(1, len(tasks))), tasks):
        for name, hist in histories.items():
            if hist["task"] != task:
                continue
            colour = _MODEL_COLOURS.get(name, "tab:purple")
            epochs = np.arange(len(hist["train"]))
            ax.plot(epochs, hist["train"], color=colour, label=f"{name} train")
            ax.plot(epochs, hist["val"], color=colour, linestyle="--", label=f"{name} val")
        ax.set(xlabel="epoch", ylabel=f"{LOSS_NAMES[task]} loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle("Loss per epoch")
    return _save(fig, path)


def label_scores(model_name: str, labels: Sequence[str], auroc, aupr, path: str | Path) -> Path:
    """A multi-label model's test AUROC and AUPR per label, as paired bars."""
    shown = min(len(labels), MAX_FILTER_PANELS)
    fig = Figure(figsize=(max(5.0, 0.5 * shown + 2), 3.8))
    ax = fig.subplots()
    x = np.arange(shown)
    ax.bar(x - 0.2, np.asarray(auroc[:shown], float), 0.4, label="AUROC", color="tab:blue")
    ax.bar(x + 0.2, np.asarray(aupr[:shown], float), 0.4, label="AUPR", color="tab:orange")
    ax.set_xticks(x, list(labels[:shown]), rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="test", title=f"{model_name}: per label")
    ax.legend(loc="lower right")
    return _save(fig, path)


def parity_plot(
    model_name: str, truth: np.ndarray, pred: np.ndarray, r2: float, path: str | Path
) -> Path:
    """Step 6: predicted against actual test scores with the y = x line."""
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    title = f"{model_name} (R² = {r2:.3f})"
    if len(truth) > MAX_SCATTER_POINTS:
        keep = np.random.default_rng(0).choice(len(truth), MAX_SCATTER_POINTS, replace=False)
        truth, pred = truth[keep], pred[keep]
        title += f"\n{MAX_SCATTER_POINTS:,} random points shown"
    ax.scatter(truth, pred, s=4, alpha=0.2)
    ax.plot([lo, hi], [lo, hi], color="tab:red", linewidth=1)
    ax.set(xlabel="actual score", ylabel="predicted score", title=title)
    return _save(fig, path)


def confusion_plot(confusion: np.ndarray, class_names: Sequence[str], path: str | Path) -> Path:
    """Footnote 2: the classifier's confusion matrix on the test set (rows: true class)."""
    confusion = np.asarray(confusion)
    side = min(1.6 * len(class_names) + 2, 12.0)
    fig = Figure(figsize=(side, side * 0.9))
    ax = fig.subplots()
    ax.imshow(confusion, cmap="Blues")
    if len(class_names) <= MAX_LABELLED_CLASSES:
        for (i, j), count in np.ndenumerate(confusion):
            colour = "white" if count > confusion.max() / 2 else "black"
            ax.text(j, i, f"{count:,}", ha="center", va="center", color=colour)
        ticks = range(len(class_names))
        ax.set_xticks(ticks, class_names, rotation=20, ha="right")
        ax.set_yticks(ticks, class_names)
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    ax.set(xlabel="predicted", ylabel="true", title=f"classifier (accuracy {accuracy:.3f})")
    return _save(fig, path)


#: Points per panel of the interactive chart: the tutorial's 13,108 test 8-mers all fit;
#: bigger test sets are sampled so the HTML stays small enough for a browser.
MAX_CHART_POINTS = 20_000


def predictions_chart(
    tables: Mapping[str, pd.DataFrame],
    path: str | Path,
    title: str = "Test-set predictions",
    max_points: int = MAX_CHART_POINTS,
) -> Path:
    """Step 6: an interactive parity chart per model, saved as self-contained offline HTML.

    Each table has columns ``seq, truth, pred``. Hovering a point shows the sequence, the
    actual and predicted scores and its TAT / GCG counts; drag to pan, scroll to zoom.
    A table longer than ``max_points`` is shown as a random sample of that many rows (the
    same rows for every model), and the panel's title says so.
    """
    charts = []
    for i, (name, table) in enumerate(tables.items()):
        df = table[["seq", "truth", "pred"]].rename(
            columns={"truth": "actual", "pred": "predicted"}
        )
        if len(df) > max_points:
            keep = np.random.default_rng(0).choice(len(df), max_points, replace=False)
            df = df.iloc[np.sort(keep)].reset_index(drop=True)
            name = f"{name} (random {max_points:,} of {len(table):,})"
        for motif in MOTIF_BONUSES:
            df[motif] = count_motif(df["seq"].tolist(), motif)
        charts.append(
            alt.Chart(df, title=name)
            .mark_circle(size=30, opacity=0.35)
            .encode(
                x=alt.X("actual:Q", scale=alt.Scale(zero=False)),
                y=alt.Y("predicted:Q", scale=alt.Scale(zero=False)),
                color=alt.Color("TAT:O", title="TAT count"),
                tooltip=[
                    "seq:N",
                    alt.Tooltip("actual:Q", format=".3f"),
                    alt.Tooltip("predicted:Q", format=".3f"),
                    *MOTIF_BONUSES,
                ],
            )
            .properties(width=360, height=360)
            .interactive(name=f"zoom{i}")  # each panel pans and zooms on its own
        )
    with alt.data_transformers.disable_max_rows():
        chart = alt.hconcat(*charts).properties(title=title)
        path = Path(path)
        chart.save(path, format="html", inline=True)
    return path


def filter_heatmaps(weights: np.ndarray, path: str | Path, num_cols: int = 8) -> Path:
    """Step 7: each first-layer filter (F, 4, k) as a 4 x k heatmap of its raw weights."""
    weights, shown = weights[:MAX_FILTER_PANELS], _shown(len(weights))
    fig, axes = _filter_grid(len(weights), num_cols, cell=1.6)
    vmax = float(np.abs(weights).max())
    for i, (ax, w) in enumerate(zip(axes, weights)):
        ax.axis("on")
        ax.imshow(w, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(f"filter {i}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks(range(len(ALPHABET)), list(ALPHABET), fontsize=7)
    fig.suptitle(f"First-layer filter weights (rows A, C, G, T){shown}")
    return _save(fig, path, tight=False)


def filter_logos(
    counts: np.ndarray,
    path: str | Path,
    num_cols: int = 8,
    title: str | None = None,
    captions: Sequence[str] | None = None,
) -> Path:
    """Step 7: each filter's activation PWM (F, k, 4 letter counts) as an information logo.

    Counts become information content with logomaker (pseudocount 1); a filter that never
    fired gets an empty panel saying so. ``captions`` (one per filter, e.g. its Tomtom
    match) are written under the logos.
    """
    counts, shown = counts[:MAX_FILTER_PANELS], _shown(len(counts))
    fig, axes = _filter_grid(len(counts), num_cols, cell=1.8)
    for ax, caption in zip(axes, captions or ()):
        ax.set_xlabel(caption, fontsize=7)
    for i, ax in enumerate(axes[: len(counts)]):
        fired = int(counts[i][0].sum())  # every activation adds one letter per position
        ax.set_title(f"filter {i} (n={fired:,})", fontsize=8)
        if fired == 0:
            ax.text(
                0.5,
                0.5,
                "never fired",
                ha="center",
                va="center",
                fontsize=8,
                color="gray",
                transform=ax.transAxes,
            )
            continue
        frame = pd.DataFrame(np.asarray(counts[i], dtype=np.float64), columns=list(ALPHABET))
        info = logomaker.transform_matrix(frame, from_type="counts", to_type="information")
        logomaker.Logo(info, ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.axis("on")
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
    fig.suptitle((title or "Filter logos from activations (bits)") + shown)
    if captions:  # room for the captions under the last row
        fig.subplots_adjust(hspace=0.7, bottom=0.45 / fig.get_figheight())
    return _save(fig, path, tight=False)


def _window(attribution: np.ndarray) -> slice:
    """The positions of an (L, 4) attribution a figure shows: all of a short sequence,
    else the ``MAX_POSITIONS_SHOWN`` around its largest effect."""
    length = len(attribution)
    if length <= MAX_POSITIONS_SHOWN:
        return slice(0, length)
    peak = int(np.abs(attribution).sum(axis=1).argmax())
    start = min(max(0, peak - MAX_POSITIONS_SHOWN // 2), length - MAX_POSITIONS_SHOWN)
    return slice(start, start + MAX_POSITIONS_SHOWN)


def _seq_title(seq: str, window: slice) -> str:
    shown = seq[window]
    text = shown if len(shown) <= 60 else f"{shown[:57]}..."
    if len(shown) < len(seq):
        text += f"  (positions {window.start + 1}-{window.stop} of {len(seq)})"
    return text


def ism_maps(seqs: Sequence[str], effects: np.ndarray, path: str | Path, title: str) -> Path:
    """ISM of a few sequences: per sequence a 4 x L map of output(mutant) -
    output(reference), (N, L, 4), the reference bases outlined; one colour scale for all.
    Long sequences show the ``MAX_POSITIONS_SHOWN`` positions around their largest effect."""
    effects = np.asarray(effects)[:MAX_FILTER_PANELS]
    length = effects.shape[1]
    if length <= 12:  # square panels, up to four in a row
        cell = max(1.8, 0.3 * length)
        fig, axes = _filter_grid(len(effects), max(1, min(4, int(16 / cell))), cell=cell)
    else:  # one wide panel per sequence, bounded in size whatever the length
        width = 2.0 + 0.14 * min(length, MAX_POSITIONS_SHOWN)
        fig = Figure(figsize=(width, 1.1 * len(effects) + 0.8), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(effects), 1))
    vmax = float(np.abs(effects).max()) or 1.0
    image = None
    for ax, seq, effect in zip(axes, seqs, effects):
        window = _window(effect)
        ax.axis("on")
        image = ax.imshow(
            effect[window].T,
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            aspect="auto",
            extent=(window.start - 0.5, window.stop - 0.5, len(ALPHABET) - 0.5, -0.5),
        )
        known = [
            (p, ALPHABET.index(seq[p]))
            for p in range(window.start, window.stop)
            if seq[p] in ALPHABET
        ]
        if known:  # outline the reference bases (an N has none)
            ax.scatter(*zip(*known), marker="s", s=30, facecolors="none", edgecolors="k")
        ax.set_title(_seq_title(seq, window), fontsize=8, family="monospace")
        ax.set_xticks([])
        ax.set_yticks(range(len(ALPHABET)), list(ALPHABET), fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.6, label="output change")
    fig.suptitle(title)
    return _save(fig, path, tight=False)


def attribution_logos(
    seqs: Sequence[str], attributions: np.ndarray, path: str | Path, title: str
) -> Path:
    """Attribution logos (logomaker): per sequence, the letters of (N, L, 4) attributions
    scaled by their value, above the axis for positive and below for negative. Long
    sequences show the ``MAX_POSITIONS_SHOWN`` positions around their largest effect."""
    attributions = np.asarray(attributions, dtype=np.float64)[:MAX_FILTER_PANELS]
    shown = min(attributions.shape[1], MAX_POSITIONS_SHOWN)
    fig = Figure(figsize=(max(4.0, 0.18 * shown + 1.0), 1.6 * len(attributions) + 0.6))
    axes = np.atleast_1d(fig.subplots(len(attributions), 1))
    for ax, seq, attr in zip(axes, seqs, attributions):
        window = _window(attr)
        frame = pd.DataFrame(
            attr[window], columns=list(ALPHABET), index=range(window.start, window.stop)
        )
        if frame.to_numpy().any():
            logomaker.Logo(frame, ax=ax, color_scheme="classic")
        else:  # logomaker cannot scale an empty logo (a dead ReLU's zero gradient)
            ax.text(0.5, 0.5, "every attribution is 0", ha="center", transform=ax.transAxes)
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.set_xticks([])
        ax.tick_params(labelsize=6)
        ax.set_title(_seq_title(seq, window), fontsize=8, family="monospace")
    fig.suptitle(title)
    return _save(fig, path)
