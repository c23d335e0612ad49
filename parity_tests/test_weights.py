"""Weight conversion both ways, and safetensors files that load into every port."""

import numpy as np
import pytest
import torch

from dna_tutorial.weights import load_weights, save_weights
from jax_impl import convert
from parity_tests.compare import compare
from parity_tests.pairs import model_pair, random_seqs
from parity_tests.ports import port
from parity_tests.registry import CASES
from parity_tests.tolerances import FORWARD
from reference_torch import data as tdata
from reference_torch import evaluate as tevaluate
from reference_torch import models as tmodels


def _state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_torch_to_flax_to_torch_is_exact(case, cpu):
    state = _state(model_pair(case, cpu).torch_model)
    back = convert.flax_to_torch(
        case.name, convert.torch_to_flax(case.name, state, case.kwargs), case.kwargs
    )
    assert back.keys() == state.keys()
    for key in state:
        assert back[key].dtype == state[key].dtype and np.array_equal(back[key], state[key])


@pytest.mark.parametrize("flax_port", ["jax", "nnx"])
@pytest.mark.parametrize("case", CASES[::3], ids=str)
def test_a_safetensors_file_from_torch_loads_into_flax(case, flax_port, tmp_path, cpu):
    pair = model_pair(case, cpu, seed=4)
    path = save_weights(tmp_path / "w.safetensors", _state(pair.torch_model), {"model": case.name})
    arrays, meta = load_weights(path)
    variables = convert.torch_to_flax(meta["model"], arrays, case.kwargs)
    x = tdata.one_hot_seqs(random_seqs(32, case.seq_len))
    row = compare(
        "outputs",
        tevaluate.predict(pair.torch_model, x),
        port(flax_port).predict(case, variables, x),
        FORWARD,
    )
    assert row.passed, row


@pytest.mark.parametrize("case", CASES[::3], ids=str)
def test_a_safetensors_file_from_jax_loads_into_torch(case, tmp_path, cpu):
    pair = model_pair(case, cpu, seed=5)
    save_weights(
        tmp_path / "w.safetensors", convert.flax_to_torch(case.name, pair.variables, case.kwargs)
    )
    torch.manual_seed(99)  # a differently initialised model, then overwritten
    model = tmodels.build_model(case.name, case.seq_len, **case.kwargs)
    arrays, _ = load_weights(tmp_path / "w.safetensors")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    x = tdata.one_hot_seqs(random_seqs(32, case.seq_len))
    np.testing.assert_array_equal(
        tevaluate.predict(model, x), tevaluate.predict(pair.torch_model, x)
    )


def test_the_converter_names_what_does_not_fit():
    with pytest.raises(ValueError, match=r"missing \['lin.bias'\]"):
        convert.torch_to_flax("linear", {"lin.weight": np.zeros((1, 32), np.float32)})
    with pytest.raises(ValueError, match="unknown model 'rnn'"):
        convert.flax_to_torch("rnn", {})


def test_missing_and_corrupt_weight_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_weights(tmp_path / "absent.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_weights(tmp_path / "bad.safetensors")
