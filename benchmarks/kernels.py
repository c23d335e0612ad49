"""The tutorial's CNN in torch, computed as JAX's fast path computes it: one matmul over the
k-wide windows, the dense kernel permuted instead of the activations.

``WindowMatmulCNN`` subclasses ``reference_torch.models.DNA_CNN`` and keeps its parameters
(the same ``state_dict``), so that the benchmarks can time torch with JAX's kernel and JAX
with torch's (``nn.Conv``), and attribute a speed-up to the kernel or to the framework.
Tested equal to ``DNA_CNN`` on the same weights (``tests/test_benchmarks.py``).
"""

from __future__ import annotations

import torch

from reference_torch.models import DNA_CNN, DNA_CNNClassifier


class WindowMatmulCNN(DNA_CNN):
    """``DNA_CNN`` with its Conv1d as a matmul over unfolded windows: (N, L, 4) -> (N, out)."""

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        conv, dense = self.conv_net[0], self.conv_net[3]
        (n, length, channels), k = xb.shape, conv.kernel_size[0]
        filters, positions = conv.out_channels, length - k + 1
        windows = xb.unfold(1, k, 1).reshape(n, positions, channels * k)  # (N, P, 4k)
        kernel = conv.weight.reshape(filters, channels * k)  # (F, 4k), the same (c, j) order
        h = torch.relu(windows @ kernel.T + conv.bias)  # (N, P, F): length-major
        # torch's Linear reads the channel-major flatten (column f*P + p): permute its
        # columns to p*F + f rather than transposing the (much larger) activations.
        w = (
            dense.weight.reshape(-1, filters, positions)
            .transpose(1, 2)
            .reshape(-1, positions * filters)
        )
        return h.reshape(n, positions * filters) @ w.T + dense.bias


class WindowMatmulClassifier(WindowMatmulCNN, DNA_CNNClassifier):
    """The footnote-2 classifier with the windows-matmul kernel."""


#: The registered models that have a windows-matmul twin in torch.
MATMUL = {"cnn": WindowMatmulCNN, "classifier": WindowMatmulClassifier}
