"""The bAbI-style task seen by two other model families: the strongly supervised memory network (its loss reads
the supporting facts) and sequence models (each story and question as one flat word sequence).

Book: 10.12 (memory networks, supervised with the supporting facts or end to end); 10.2 Fig. 10.5 (a
sequence read to one output, the LSTM baseline of Weston et al. 2015).
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import Tensor, nn

from recnets.memory.memnn import MemNNOutput, margin_ranking_loss
from recnets.tasks.babi import SPLITS, BabiConfig, BabiTask, flat_tokens
from recnets.tasks.base import Batch

__all__ = ["StronglySupervisedBabiTask", "FlatStoryBabiTask"]


class _Answers(nn.Module):
    """A memory network seen through its answer scores: ``(MemNNOutput.answer (B, V), state)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor, **kwargs: Any) -> tuple[Tensor, Any]:
        outputs, state = self.model(inputs, **kwargs)
        return outputs.answer, state


class StronglySupervisedBabiTask(BabiTask):
    """:class:`BabiTask` whose loss is the memory network's margin ranking loss, supervised with the supporting
    facts (``targets[:, 1:]``) as well as the answer (``targets[:, 0]``).

    The model (a :class:`recnets.memory.memnn.MemNN`) reads the targets to condition its hops on the true
    facts when it scores them; its answers (``MemNNOutput.answer``, what :meth:`answer_error` counts) never
    read them. Validation losses (the trainer calls the model with the targets in eval mode too) are the same
    margin loss.

    Book: 10.12; Weston, Chopra & Bordes 2014, Section 3.4 (γ = 0.1).
    """

    def loss(self, outputs: MemNNOutput, batch: Batch) -> tuple[Tensor, int]:
        """Summed margin ranking loss of the batch's questions, and B."""
        if not isinstance(outputs, MemNNOutput) or outputs.supervised is None:
            raise ValueError(f"outputs: expected a MemNNOutput with supervised scores (call the model with "
                             f"targets), got {type(outputs).__name__}")
        return margin_ranking_loss(outputs.supervised).sum(), batch.targets.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": margin loss per question}``."""
        return {"loss": total_loss / count}

    def answer_error(self, model: nn.Module, split: str = "test") -> float:
        """The fraction of wrong answers, the hops chosen without supervision."""
        return super().answer_error(_Answers(model), split)

    def baselines(self) -> dict[str, float]:
        """The answer-error floors of :class:`BabiTask` (the margin loss has no trivial floor)."""
        return {name: value for name, value in super().baselines().items() if name.endswith("_error")}


class FlatStoryBabiTask(BabiTask):
    """:class:`BabiTask` with each example as one word sequence: the kept story sentences in order, then the
    question (:func:`recnets.tasks.babi.flat_tokens`), for sequence models such as an LSTM.

    Shapes:
        ``Batch.inputs`` (B, T) word ids, zero-padded past ``Batch.lengths`` (B,) (T: the batch's longest);
        targets as :class:`BabiTask`'s; model outputs (B, V) answer logits.

    Book: 10.2 Fig. 10.5; Weston et al. 2015 (the LSTM baseline reads the story and the question as one text).
    """

    def __init__(self, config: BabiConfig | None = None) -> None:
        super().__init__(config)
        self._flat = {}
        for split in SPLITS:
            batch = self.batch_of(self.examples(split))
            tokens, lengths = flat_tokens(batch)  # (N, T), (N,)
            self._flat[split] = Batch(tokens, batch.targets, lengths)

    @staticmethod
    def _trimmed(tokens: Tensor, targets: Tensor, lengths: Tensor) -> Batch:
        """The rows with their padding cut to the longest of them."""
        return Batch(tokens[:, :int(lengths.max())], targets, lengths)

    def train_batch(self, step: int) -> Batch:
        """The examples of :class:`BabiTask`'s batch ``step``, flat."""
        rows = torch.tensor(self.train_indices(step))
        flat = self._flat["train"]
        return self._trimmed(flat.inputs[rows], flat.targets[rows], flat.lengths[rows])

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The examples of ``split`` in order, flat, ``eval_batch_size`` at a time."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        flat, rows = self._flat[split], self.config.eval_batch_size
        for start in range(0, flat.inputs.shape[0], rows):
            end = start + rows
            yield self._trimmed(flat.inputs[start:end], flat.targets[start:end], flat.lengths[start:end])
