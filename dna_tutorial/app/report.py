"""The report of a run: every plot, the MEME files, ``metrics.json`` and ``index.html``.

Each port's ``run.run_tutorial`` returns a :class:`~dna_tutorial.results.PortResult` of
plain NumPy arrays and numbers; everything from there on is drawn here once, so the
ports' reports are comparable by construction.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from dna_tutorial import pwm
from dna_tutorial.app import plots
from dna_tutorial.config import PORT_NAMES
from dna_tutorial.errors import ConfigError
from dna_tutorial.insertion import MAX_POSITIONS, insertion_table
from dna_tutorial.results import FilterResult, PortResult, headline
from dna_tutorial.synthetic import Motif
from dna_tutorial.tomtom import Q_THRESHOLD
from dna_tutorial.tomtom import match_fraction as tomtom_fraction

METRICS_FILE = "metrics.json"
#: Filters this wide or narrower cannot reach a small Tomtom q-value (see the report).
SHORT_FILTER = 4
FRAMEWORK_TITLES = {
    "torch": f"{PORT_NAMES['torch']} reference",
    "jax": f"JAX / {PORT_NAMES['jax']} port",
    "nnx": f"{PORT_NAMES['nnx']} port",
}


def tomtom_matches(
    filters: list[FilterResult], motifs: tuple[Motif, ...], both_strands: bool
) -> dict[str, pd.DataFrame]:
    """Each model's filters against the planted ``motifs`` and JASPAR's vertebrate CORE
    matrices (``dna_tutorial.tomtom``): per model, one row per informative filter with its
    best planted motif (``motif, p, q``) and its best match overall (``best, best_q``)."""
    from dna_tutorial import jaspar, tomtom

    targets = motifs + jaspar.vertebrates()
    planted = [m.name for m in motifs]
    found = {}
    for filt in filters:
        pwms = {
            f"filter {i}": pwm.probabilities(c)
            for i, c in enumerate(filt.counts)
            if c.sum() > 0  # never fired: nothing to compare
        }
        table = tomtom.compare(pwms, targets, reverse_complement=both_strands)
        mine = tomtom.best_matches(table, planted)[["filter", "target", "p", "q"]]
        best = tomtom.best_matches(table)[["filter", "target", "q"]]
        found[filt.model] = mine.rename(columns={"target": "motif"}).merge(
            best.rename(columns={"target": "best", "q": "best_q"}), on="filter"
        )
    return found


def _caption(matches: pd.DataFrame | None, num_filters: int) -> list[str] | None:
    if matches is None:
        return None
    by_filter = matches.set_index("filter")
    captions = []
    for i in range(num_filters):
        if f"filter {i}" not in by_filter.index:
            captions.append("uninformative")
            continue
        row = by_filter.loc[f"filter {i}"]
        captions.append(f"{row['motif']} p={row['p']:.1g} q={row['q']:.2g}")
    return captions


def write_port_report(
    result: PortResult,
    out: Path,
    class_names: tuple[str, ...],
    motifs: tuple[Motif, ...] = (),
    both_strands: bool = False,
    tomtom: bool = True,
) -> dict:
    """Draw every plot of ``result`` into ``out`` and return its metrics section.

    With ``tomtom`` and known ``motifs``, each filter is matched against them and JASPAR
    (the ``[motifs]`` extra; without it the report says so)."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    learned_files: list[str] = []
    learned: dict = {}
    matches: dict[str, pd.DataFrame] = {}
    if tomtom and motifs and result.filters:
        try:
            matches = tomtom_matches(result.filters, motifs, both_strands)
        except ConfigError as err:  # the [motifs] extra is not installed
            learned["tomtom_skipped"] = str(err)
    for model, table in matches.items():
        learned.setdefault("tomtom", {})[model] = {
            "filters": table.to_dict("records"),
            "match_fraction": tomtom_fraction(table, len(_counts(result, model))),
            "q_threshold": Q_THRESHOLD,
            "filter_width": int(_counts(result, model).shape[1]),
        }

    def keep(path: Path) -> None:
        files.append(path.name)

    if result.scores is not None:
        keep(plots.score_histogram(result.scores, out / "score_histogram.png"))
    histories = {
        name: {"train": m.train_loss, "val": m.val_loss, "task": m.task}
        for name, m in result.models.items()
    }
    keep(plots.loss_curves(histories, out / "loss_curves.png"))
    metrics = {name: m.metrics(len(class_names)) for name, m in result.models.items()}
    tables = {}
    for name, model in result.models.items():
        if model.task == "regress":
            r2 = metrics[name]["test_r2"]
            keep(
                plots.parity_plot(
                    name, model.test_truth, model.test_pred, r2, out / f"parity_{name}.png"
                )
            )
            tables[name] = pd.DataFrame(
                {"seq": result.test_seqs, "truth": model.test_truth, "pred": model.test_pred}
            )
            predictions = out / f"test_predictions_{name}.csv"
            tables[name].to_csv(predictions, index=False, float_format="%.6g")
            keep(predictions)
        elif model.task == "classify":
            keep(
                plots.confusion_plot(
                    model.confusion(len(class_names)), class_names, out / f"confusion_{name}.png"
                )
            )
        else:
            m = metrics[name]
            keep(
                plots.label_scores(
                    name,
                    class_names,
                    m["test_auroc_per_label"],
                    m["test_aupr_per_label"],
                    out / f"labels_{name}.png",
                )
            )
    if tables:
        keep(
            plots.predictions_chart(
                tables,
                out / "predictions.html",
                title=f"{FRAMEWORK_TITLES[result.framework]}: test set",
            )
        )
    if result.spot_checks is not None:
        result.spot_checks.to_csv(out / "spot_checks.csv", index=False, float_format="%.4f")
        keep(out / "spot_checks.csv")
    for filt in result.filters:
        keep(plots.filter_heatmaps(filt.weights, out / f"filters_{filt.model}.png"))
        keep(
            plots.filter_logos(
                filt.counts,
                out / f"logos_{filt.model}.png",
                title=f"{filt.model}: logos from {filt.num_seqs:,} sequences, activation > "
                f"{filt.act_thresh:g} (bits)",
                captions=_caption(matches.get(filt.model), len(filt.counts)),
            )
        )
        keep(pwm.write_meme(filt.counts, out / f"motifs_{filt.model}.meme"))
    for attr in result.attributions:
        table = insertion_table(attr.insertions)
        learned.setdefault("insertions", {})[attr.model] = table.to_dict("records")
        table.to_csv(out / f"insertions_{attr.model}.csv", index=False, float_format="%.4f")
        learned_files.append(f"insertions_{attr.model}.csv")
        ism = plots.ism_maps(
            attr.seqs,
            attr.ism,
            out / f"ism_{attr.model}.png",
            title=f"{attr.model}: in-silico mutagenesis, output(mutant) - output(reference)",
        )
        learned_files.append(ism.name)
    return {
        "device": result.device,
        "models": metrics,
        "timing": {
            **{name: m.timing() for name, m in result.models.items()},
            **{k: float(v) for k, v in result.seconds.items()},
        },
        "files": files,
        "learned": learned,
        "learned_files": learned_files,
    }


def _counts(result: PortResult, model: str) -> np.ndarray:
    return next(f.counts for f in result.filters if f.model == model)


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _summary_rows(metrics: dict) -> list[list[str]]:
    rows = []
    for fw in [k for k in FRAMEWORK_TITLES if k in metrics]:
        for name, m in metrics[fw]["models"].items():
            t = metrics[fw]["timing"][name]
            kind, score = headline(m)
            rows.append(
                [
                    FRAMEWORK_TITLES[fw],
                    name,
                    f"{kind} {_fmt(score)}",
                    _fmt(m["final_train_loss"]),
                    _fmt(m["final_val_loss"]),
                    str(m["epochs_run"]),
                    _fmt(t["first_epoch_seconds"]),
                    _fmt(t["steady_epoch_seconds"], 4),
                    _fmt(t["train_seconds"], 1),
                ]
            )
    return rows


def _speedups(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Each model's steady epoch time in every port that ran, and each JAX rung's
    speed-up over torch: (header, rows); no rows without torch and another port."""
    others = [fw for fw in FRAMEWORK_TITLES if fw in metrics and fw != "torch"]
    if "torch" not in metrics or not others:
        return [], []
    header = ["model", "torch s/epoch"]
    header += [f"{fw} s/epoch" for fw in others] + [f"{fw} speed-up" for fw in others]
    rows = []
    for name, t in metrics["torch"]["timing"].items():
        if not isinstance(t, dict) or not t.get("steady_epoch_seconds"):
            continue
        times = [metrics[fw]["timing"].get(name) for fw in others]
        if not all(isinstance(j, dict) and j.get("steady_epoch_seconds") for j in times):
            continue
        rows.append(
            [name, _fmt(t["steady_epoch_seconds"], 4)]
            + [_fmt(j["steady_epoch_seconds"], 4) for j in times]
            + [f"{t['steady_epoch_seconds'] / j['steady_epoch_seconds']:.1f}x" for j in times]
        )
    return header, rows


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.8em 0} td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right} th{background:#f3f3f3} td:first-child,td:nth-child(2){text-align:left}
.ports{display:grid;grid-template-columns:repeat(auto-fit,minmax(600px,1fr));gap:2em}
.port img{max-width:100%;border:1px solid #eee;margin:.3em 0}
iframe{width:100%;height:470px;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .3em}
"""


def write_index(out: Path, metrics: dict) -> Path:
    """``index.html``: the summary table, then each port's figures side by side."""
    data = metrics["data"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>dna-tutorial report</title><style>{_CSS}</style></head><body>",
        "<h1>Modeling DNA sequences: PyTorch and JAX side by side</h1>",
        f"<p class='sub'>{html.escape(data['source'])}; task {data['task']}; "
        f"{data['num_seqs']:,} sequences of length {data['seq_len']}; split "
        f"{data['split']['train']:,} / {data['split']['val']:,} / {data['split']['test']:,}; "
        f"seed {metrics['config']['seed']}, {metrics['config']['epochs']} epochs, "
        f"batch {metrics['config']['batch_size']}, lr {metrics['config']['learning_rate']}"
        f"{_jax_impl(metrics)}</p>",
        "<h2>Results</h2>",
        _table(
            _summary_rows(metrics),
            [
                "port",
                "model",
                "test",
                "final train loss",
                "final val loss",
                "epochs",
                "first epoch s",
                "steady epoch s",
                "train s",
            ],
        ),
        "<p>The first epoch includes JAX's compilation; the steady figure is the median of "
        "the other epochs.</p>",
    ]
    header, speedups = _speedups(metrics)
    if speedups:
        parts += ["<h2>Epoch time, measured in this run</h2>", _table(speedups, header)]
    parts.append("<div class='ports'>")
    for fw in [k for k in FRAMEWORK_TITLES if k in metrics]:
        parts.append(f"<div class='port'><h2>{FRAMEWORK_TITLES[fw]}</h2>")
        for name in metrics[fw]["files"]:
            src = f"{fw}/{name}"
            if name.endswith(".png"):
                parts.append(f"<img src='{src}' alt='{html.escape(name)}'>")
            elif name.endswith(".html"):
                parts.append(
                    f"<p><a href='{src}'>Interactive chart of test predictions</a> "
                    "(hover for sequence and motif counts)</p>"
                    f"<iframe src='{src}' loading='lazy'></iframe>"
                )
            elif name == "spot_checks.csv":
                table = pd.read_csv(out / fw / name)
                parts.append(
                    f"<h3>Spot checks (<a href='{src}'>{name}</a>)</h3>"
                    + table.to_html(index=False, float_format=lambda v: f"{v:.3f}")
                )
            elif name.endswith(".csv"):
                parts.append(f"<p>Test-set predictions as CSV: <a href='{src}'>{name}</a></p>")
            else:
                parts.append(f"<p>Motifs in MEME format: <a href='{src}'>{name}</a></p>")
        parts += _learned(out, fw, metrics[fw])
        parts.append("</div>")
    parts += [
        "</div>",
        "<h2>Provenance</h2>",
        f"<pre>{html.escape(_provenance_text(metrics))}</pre></body></html>",
    ]
    path = out / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _learned(out: Path, fw: str, port: dict) -> list[str]:
    """The section "What did the CNN learn?": motif insertions and ISM maps per model, then
    each conv model's filters matched by Tomtom."""
    learned, files = port.get("learned", {}), port.get("learned_files", [])
    if not (learned or files):
        return []
    parts = ["<h3>What did the CNN learn?</h3>"]
    for name in files:
        src = f"{fw}/{name}"
        if name.endswith(".csv"):
            model = name.removeprefix("insertions_").removesuffix(".csv")
            table = pd.read_csv(out / fw / name)
            parts.append(
                f"<p><b>{model}</b>: TAT, GCG, both, and a control 3-mer written into random "
                "backgrounds that hold neither motif, at every position (at most "
                f"{MAX_POSITIONS}, evenly spaced). The motif effect is "
                "the predicted shift less the letters' own share of the score; the truth is "
                f"the rule's bonus (<a href='{src}'>{name}</a>).</p>"
                + table.to_html(index=False, float_format=lambda v: f"{v:.3f}")
            )
        else:
            parts.append(f"<img src='{src}' alt='{html.escape(name)}'>")
    if "tomtom_skipped" in learned:
        parts.append(f"<p>Tomtom skipped: {html.escape(learned['tomtom_skipped'])}</p>")
    for model, found in learned.get("tomtom", {}).items():
        rows = [
            [html.escape(r["filter"]), html.escape(r["motif"]), f"{r['p']:.2g}", f"{r['q']:.2g}",
             html.escape(r["best"]), f"{r['best_q']:.2g}"]
            for r in found["filters"]
        ]  # fmt: skip
        parts += [
            f"<p><b>{model}</b>: Tomtom (memelite) of each informative filter against the "
            "planted motifs and JASPAR's vertebrate CORE matrices, q-values "
            f"Benjamini-Hochberg per filter: {found['match_fraction']:.0%} of the filters "
            f"match a planted motif at q &lt; {found['q_threshold']:g}."
            + (
                f" A filter {found['filter_width']} bases wide matches many matrices about as "
                "well as it matches the truth, so its q-value cannot be small: the insertion "
                "table answers better."
                if found["filter_width"] <= SHORT_FILTER
                else ""
            )
            + "</p>",
            _table(rows, ["filter", "planted motif", "p", "q", "best match", "its q"]),
        ]
    return parts


def _jax_impl(metrics: dict) -> str:
    if "jax" not in metrics:
        return ""
    return f"; JAX implementation: {html.escape(metrics['config']['jax_variant'])}"


def _provenance_text(metrics: dict) -> str:
    run = metrics["run"]
    lines = [f"{k}: {v}" for k, v in run["versions"].items()]
    lines += [f"{k}: {v}" for k, v in run["machine"].items()]
    lines.append(f"git commit: {run['git_commit']}")
    return "\n".join(lines)
