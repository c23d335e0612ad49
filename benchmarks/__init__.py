"""How fast each stack trains and predicts, and why (``dna-tutorial bench``).

``grid`` (the sweeps of workloads), ``strategies`` (each way to train or predict: torch
eager, ``torch.compile``, CUDA graphs, JAX per step, the fused epoch, ensembles),
``kernels`` (the convolution as the framework's or as a matmul), ``timing`` (interleaved
measurement), ``costs`` and ``floors`` (FLOPs, bytes and the machine's measured peaks),
``runner`` (measuring the grid), ``report`` (tables and plots), ``scaling`` (devices and
processes), ``options`` (the command line, free of torch and JAX).
"""
