"""``dna-tutorial explain`` end to end: arrays, figures and the insertion table from a
checkpoint, the same in every port, and one-line errors on bad input."""

import json

import numpy as np
import pytest

from dna_tutorial.app.cli import main
from dna_tutorial.outputs import write_manifest

SEQS = "id,seq\na,AATATAAA\nb,GCGCCCCA\nc,ACGTACGT\nd,NNTATGGG\n"


@pytest.fixture(scope="session")  # once per worker, whatever order the tests run in
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    argv = ["run", "--quiet", "--no-tomtom", "--epochs", "2", "--models", "cnn"]
    argv += ["--framework", "torch", "--out", str(root / "r"), "--checkpoint-dir", str(root / "ck")]
    assert main(argv) == 0
    (root / "seqs.csv").write_text(SEQS)
    return root


def _explain(root, out, *extra):
    argv = ["explain", "--quiet", "--checkpoint", str(root / "ck" / "torch" / "cnn")]
    return main([*argv, "--data", str(root / "seqs.csv"), "--out", str(root / out), *extra])


def test_explain_writes_attributions_logos_and_insertions_in_every_port(trained, capsys):
    assert _explain(trained, "e_torch") == 0
    assert _explain(trained, "e_jax", "--framework", "jax") == 0
    assert _explain(trained, "e_nnx", "--framework", "nnx") == 0
    assert "insert TAT" in capsys.readouterr().out
    ports = {}
    for fw in ("torch", "jax", "nnx"):
        out = trained / f"e_{fw}"
        assert {p.name for p in out.iterdir()} >= {
            "attributions.npz", "logos.png", "ism.png", "insertions.csv", "explain.json"
        }  # fmt: skip
        ports[fw] = np.load(out / "attributions.npz")
        summary = json.loads((out / "explain.json").read_text())
        assert summary["explained_in"] == fw and summary["num_seqs"] == 4
        assert [r["truth"] for r in summary["insertions"]] == [10, -10, 0, 0]
    t, j, n = ports["torch"], ports["jax"], ports["nnx"]
    assert t["ism"].shape == (4, 8, 4) and list(t["seqs"]) == ["AATATAAA", "GCGCCCCA",
                                                               "ACGTACGT", "NNTATGGG"]  # fmt: skip
    for key in ("ism", "saliency", "grad_times_input", "grad_times_input_corrected"):
        np.testing.assert_allclose(t[key], j[key], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(t[key], n[key], rtol=1e-4, atol=1e-5)
    assert (t["ism"][0][np.eye(4)[[0, 0, 3, 0, 3, 0, 0, 0]] == 1] == 0).all()  # reference: 0
    assert (t["grad_times_input"][3, :2] == 0).all()  # N bases have no input to attribute
    assert _explain(trained, "e_torch") == 0  # its own earlier output is replaced


def test_insertions_are_held_only_against_the_data_the_rule_scored(trained, tmp_path):
    import shutil

    ckpt = shutil.copytree(trained / "ck" / "torch" / "cnn", tmp_path / "cnn")
    snapshot = ckpt / (ckpt / "latest").read_text().strip()
    meta = json.loads((snapshot / "meta.json").read_text())
    assert meta["data"]["synthetic"] is True
    meta["data"].update(synthetic=False, source="synthetic.csv")  # a user's file so named
    (snapshot / "meta.json").write_text(json.dumps(meta))
    write_manifest(snapshot, "snapshot")  # as if it had been written so
    argv = ["explain", "--quiet", "--checkpoint", str(ckpt), "--data", str(trained / "seqs.csv")]
    assert main([*argv, "--out", str(tmp_path / "e")]) == 0
    assert "insertions" not in json.loads((tmp_path / "e" / "explain.json").read_text())
    assert not (tmp_path / "e" / "insertions.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output", "1"], "--output 1: the model has outputs 0 to 0"),
        (["--out-is-the-run"], "refusing to replace"),
        (["--short"], "sequences have length 4, but the model"),
    ],
)
def test_explain_refuses_bad_input_in_one_line(trained, capsys, extra, message):
    if extra == ["--out-is-the-run"]:
        code = _explain(trained, "r")
    elif extra == ["--short"]:
        (trained / "short.csv").write_text("seq\nACGT\n")
        argv = ["explain", "--checkpoint", str(trained / "ck" / "torch" / "cnn")]
        code = main([*argv, "--data", str(trained / "short.csv"), "--out", str(trained / "x")])
    else:
        code = _explain(trained, "bad", *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
