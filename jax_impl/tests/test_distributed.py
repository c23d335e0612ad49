"""The pieces of data parallelism that a single device can check: meshes, batch splits,
and joining a multi-process run from torchrun's environment. (Training on 4 devices is
checked in parity_tests/test_data_parallel.py, in a process that has them.)"""

import jax
import pytest

from jax_impl import distributed


def test_a_mesh_of_the_available_devices():
    mesh = distributed.make_mesh()
    assert mesh.size == len(jax.devices()) and mesh.axis_names == (distributed.DATA_AXIS,)
    with pytest.raises(ValueError, match=r"asked for 64 devices but JAX sees .*device_count=64"):
        distributed.make_mesh(64)


def test_batches_must_split_evenly():
    mesh = distributed.make_mesh(1)
    assert distributed.batch_sharding(mesh, 7).spec == jax.sharding.PartitionSpec("data")


def test_initialize_reads_torchrun_variables(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    distributed.initialize()
    assert calls == [("10.0.0.1:29501", 4, 2)]


def test_initialize_is_a_no_op_for_one_process(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append(a))
    for var in ("MASTER_ADDR", "WORLD_SIZE", "RANK", "JAX_COORDINATOR_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    distributed.initialize()
    assert calls == []
