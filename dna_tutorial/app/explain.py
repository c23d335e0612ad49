"""``dna-tutorial explain``: which bases drive a saved model's predictions.

For the sequences of a file, in the chosen port: ISM and saliency arrays (``npz``),
attribution logos and ISM maps of the first few sequences, and, for a model trained on the
tutorial's synthetic scores, the motif insertion table against the scoring rule. Written
like ``run``'s report: checked first, built in a staging directory, moved into place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from dna_tutorial import memory, spec
from dna_tutorial.app import plots
from dna_tutorial.app.loaded import Loaded, chunk_rows, load
from dna_tutorial.app.predict import read_for_model
from dna_tutorial.checkpoint import load_snapshot
from dna_tutorial.config import FAST
from dna_tutorial.errors import ConfigError
from dna_tutorial.insertion import insertion_effects, insertion_table
from dna_tutorial.outputs import (
    atomic_write_json,
    check_no_overlap,
    check_replaceable,
    exclusive_lock,
    lock_path,
    output_path,
    staged_directory,
)
from dna_tutorial.sequences import UNKNOWN_CODE, encode_codes

KIND = "explain"
ONE_HOT = np.eye(UNKNOWN_CODE + 1, UNKNOWN_CODE, dtype=np.float32)  # codes 0-3, then N
#: Sequences drawn as logos and ISM maps.
NUM_SHOWN = 8
#: At most this many sequences per call into the port, for the progress bar.
CHUNK = 64
#: Arrays of (N, L, 4) float32 that explaining N sequences holds at once: the one-hot
#: input, ISM, saliency, its two products with the input, and the compressed file's copy.
ARRAYS = 6


def attributions(model: Loaded, x: np.ndarray, output: int, rows: int, progress):
    """(ISM, saliency) of one-hot ``x`` (N, L, 4) for ``output``: float32 (N, L, 4) each,
    ``rows`` sequences per call into the port (each call chunks its own work to fit)."""
    step = min(CHUNK, rows)
    chunks = [model.attributions(x[i : i + step], output) for i in progress(range(0, len(x), step))]
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def explain(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    framework: str | None = None,
    device: str = "cpu",
    jax_variant: str = FAST,
    output: int = 0,
    max_seqs: int = spec.MAX_EXPLAINED,
    show: bool = True,
    **read_options,
) -> dict:
    """Explain the first ``max_seqs`` sequences of ``data`` with the newest snapshot in
    ``checkpoint``; write everything into ``out``. Returns the summary written to
    ``explain.json``."""
    out = output_path(out)
    check_no_overlap({"--out": out}, {"--checkpoint": checkpoint, "--data": data})
    check_replaceable(out, KIND)
    with (
        exclusive_lock(lock_path(out), f"--out {out}"),  # held from before the work
        staged_directory(out, KIND, lock=False) as stage,  # kept if it cannot move in
    ):
        snapshot = load_snapshot(checkpoint, optimizer=False)
        meta = snapshot.meta
        outputs = max(len(meta["class_names"]), 1) if meta["task"] != "regress" else 1
        if not 0 <= output < outputs:
            raise ConfigError(f"--output {output}: the model has outputs 0 to {outputs - 1}")
        records = read_for_model(snapshot, data, **read_options)
        ids, seqs = records.ids[:max_seqs], records.seqs[:max_seqs]
        per_seq = ARRAYS * meta["seq_len"] * 4 * memory.FLOAT
        room = int(memory.USABLE * memory.available_bytes()) - memory.RUNTIME_BYTES
        memory.refuse_unless_fits(
            {
                f"attributions of {len(seqs):,} x {meta['seq_len']:,} nt": len(seqs) * per_seq,
                "chunked work": memory.CHUNK_BYTES,
            },
            f"use --max-seqs {max(1, (room - memory.CHUNK_BYTES) // per_seq):,} or fewer",
        )
        framework = framework or meta["framework"]
        x = ONE_HOT[encode_codes(seqs)]  # N (unknown) bases: zero rows, as in the ports

        def progress(it):
            return tqdm(it, desc=f"explain {meta['model']}", unit="chunk", disable=not show)

        model = load(snapshot, framework, device, jax_variant)  # once, for all of it
        ism, grads = attributions(model, x, output, chunk_rows(snapshot, True), progress)
        by_input = grads * x
        corrected = (grads - grads.mean(axis=-1, keepdims=True)) * x
        summary = {
            "model": meta["model"],
            "trained_in": meta["framework"],
            "explained_in": framework,
            "output": output,
            "num_seqs": len(seqs),
            "of_seqs": len(records.seqs),
            "data": str(records.path),
        }
        source = meta["data"]  # the data it was trained on, as TutorialData.describe() says
        synthetic = meta["task"] == "regress" and source.get("synthetic") is True
        np.savez_compressed(
            stage / "attributions.npz",
            ids=np.array(ids),
            seqs=np.array(seqs),
            ism=ism,
            saliency=grads,
            grad_times_input=by_input,
            grad_times_input_corrected=corrected,
        )
        shown = slice(0, NUM_SHOWN)
        plots.attribution_logos(
            seqs[shown],
            corrected[shown],
            stage / "logos.png",
            title=f"{meta['model']}: gradient x input, simplex-corrected (output {output})",
        )
        plots.ism_maps(
            seqs[shown],
            ism[shown],
            stage / "ism.png",
            title=f"{meta['model']}: in-silico mutagenesis (output {output})",
        )
        if synthetic:  # the scoring rule is the truth to hold the model against

            def predict(s):
                return model.predict(s)[:, 0]

            per_occurrence = bool(source.get("per_occurrence"))
            effects = insertion_effects(predict, meta["seq_len"], per_occurrence=per_occurrence)
            table = insertion_table(effects)
            table.to_csv(stage / "insertions.csv", index=False, float_format="%.4f")
            summary["insertions"] = table.to_dict("records")
        atomic_write_json(stage / "explain.json", summary)
        return summary
