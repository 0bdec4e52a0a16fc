"""Gated recurrent unit in torch's layout: the default GRU, served by the fused kernels.

Book: 10.10.2, eqs. 10.45-10.47 (torch's variant; see Deviations).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, _VF

from recnets.cells._init import check_sizes, torch_layout_parameters
from recnets.core.bptt_gru import torch_gru_sequence
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt, time_major_projection
from recnets.core.cell import Cell
from recnets.core.fused import call_quietly, register_fused
from recnets.core.pointwise import pointwise_library
from recnets.core.state import Hidden

__all__ = ["GRUCell"]


class GRUCell(Cell):
    """The GRU as torch.nn.GRU computes it.

    r = σ(U_r x + b_Ur + W_r h + b_Wr), z = σ(U_z x + b_Uz + W_z h + b_Wz),
    n = tanh(U_n x + b_Un + r ⊙ (W_n h + b_Wn)),  h(t) = (1 - z) n + z h(t-1).

    Parameters:
        U (3H, D), W (3H, H), b_U (3H), b_W (3H) in torch's order (reset, update, new): ``U`` is
        ``weight_ih_l0``, ``W`` is ``weight_hh_l0``, ``b_U`` is ``bias_ih_l0``, ``b_W`` is ``bias_hh_l0``.

    Shapes:
        step: px_t (B, 3H), state ``Hidden(h (B, H))`` -> y_t = h(t) (B, H).

    Book: 10.10.2, eqs. 10.45-10.47 (z is the book's update gate u).
    Deviations: the reset gate multiplies the recurrent product W_n h + b_Wn, not h before the product
    (eq. 10.45); two biases per gate. :class:`~recnets.cells.book_gru.BookGRUCell` is the book's form.
    """

    U: Tensor
    W: Tensor
    b_U: Tensor
    b_W: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        torch_layout_parameters(self, 3, input_size, hidden_size, device=device, dtype=dtype)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return torch.nn.functional.linear(xs, self.U, self.b_U)  # (..., 3H)

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        recurrent = torch.addmm(self.b_W, state.h, self.W.t())  # (B, 3H)
        px_r, px_z, px_n = px_t.chunk(3, dim=1)
        hw_r, hw_z, hw_n = recurrent.chunk(3, dim=1)
        r = torch.sigmoid(px_r + hw_r)
        z = torch.sigmoid(px_z + hw_z)
        n = torch.tanh(px_n + r * hw_n)
        h = n + z * (state.h - n)  # (1 - z) n + z h(t-1)
        return h, Hidden(h)


def _gru_kernel(cell: GRUCell, xs: Tensor, state: Hidden) -> tuple[Tensor, Hidden]:
    """torch's fused GRU on the cell's own U, W, b_U, b_W (xs batch-first, dense)."""
    ys, h_n = call_quietly(_VF.gru, xs, state.h.unsqueeze(0).contiguous(), [cell.U, cell.W, cell.b_U, cell.b_W],
                           True, 1, 0.0, torch.is_grad_enabled(), False, True)
    return ys, Hidden(h_n[0])


register_fused(GRUCell, _gru_kernel)


def _bptt_run(cell: GRUCell, xs: Tensor, state: Hidden, lengths: Tensor | None) -> tuple[Tensor, Hidden]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_gru``), projection hoisted."""
    masks = float_step_masks(lengths, xs.shape[1], xs.dtype)  # (T, B, 1) or None
    ys, h = torch_gru_sequence(time_major_projection(cell, xs), cell.W, cell.b_W, state.h, masks)  # (T, B, H)
    return ys.transpose(0, 1), Hidden(h)


def _choose_bptt(cell: GRUCell) -> BPTTKernel:
    """The BPTT kernel; ``auto`` prefers it to torch's GRU on CPU where its steps run in C (``pointwise.c``):
    there it was faster at every size measured, training 0.27-0.74x and inference 0.66-0.92x torch's time
    (B 8-64, H 32-512, T 50, one thread) and 0.60-0.74x / 0.72-0.90x at B = 32, H = 256-1024
    (benchmarks/bench_cells.py). On CUDA, in other dtypes or without the C steps, torch's kernel (cuDNN on GPU)."""
    in_c = (cell.W.device.type == "cpu" and cell.W.dtype in (torch.float32, torch.float64)
            and pointwise_library() is not None)  # (a CUDA cell never builds the C steps)
    return BPTTKernel(_bptt_run, over_fused_on=("cpu",) if in_c else ())


register_bptt(GRUCell, _choose_bptt)
