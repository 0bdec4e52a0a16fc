"""The neural Turing machine's algorithmic tasks (Graves, Wayne & Danihelka 2014, section 4), generated here.

Every task shows the network binary vectors and asks for binary vectors back at some steps; the cost is the
binary cross-entropy of the outputs in bits, summed over the scored bits of a sequence ("bits per
sequence", the unit of the paper's learning curves), and a sequence counts as solved when every scored bit,
thresholded at probability 1/2, is right. Sequences in a batch differ in length: the batch is padded, with
``lengths`` and a ``mask`` (B, T) of the scored steps. W is ``width``; every scored step scores all O bits.

**Copy (4.1).** L random W-bit vectors (each bit a fair coin), L uniform on ``min_length..T`` (paper 1-20),
then a delimiter flag on its own channel, then L blank steps during which the network must output the L
vectors in order. Inputs (2L + 1, W + 1); targets (2L + 1, W), the last L steps scored.

**Repeat copy (4.2).** L random W-bit vectors (L uniform on ``min_length..T``, paper 1-10), then one step
with the delimiter flag on channel W and the repeat count c (uniform on ``min_repeats..max_repeats``, paper
1-10) on channel W + 1, normalised as (c - μ)/σ with μ, σ the mean and standard deviation of the discrete
uniform distribution on ``norm_min_repeats..norm_max_repeats`` (default: the training range, μ = 5.5,
σ = √8.25 ≈ 2.872 for 1-10), so that the training counts have mean 0 and variance 1, as in the paper. Then
L·c + 1 blank steps: the network outputs the L vectors c times over, then the end marker on the extra output
channel W. Inputs (L(c + 1) + 2, W + 2); targets (L(c + 1) + 2, W + 1); scored: the L·c repeat steps and the
end-marker step (the marker channel is scored as 0 during the repeats).

**Associative recall (4.3).** N items (N uniform on ``min_length..T``, paper 2-6), each ``item_length``
random W-bit vectors (paper 3 × 6 bits), all distinct. Each item is preceded by an item-delimiter step
(channel W); then the query: a query-delimiter step (channel W + 1), a copy of item q (q uniform on
0..N - 2, never the last item), a second query-delimiter step; then ``item_length`` blank steps in which the
network must output item q + 1, the item that followed the query. Inputs (N(k + 1) + 2k + 2, W + 2) with
k = ``item_length``; targets (·, W); scored: the k answer steps.

**Priority sort (4.5).** N random W-bit vectors (N uniform on ``min_length..T``, paper 20), each with a
priority uniform on [-1, 1) on channel W; then a delimiter step (channel W + 1); then ``num_outputs`` blank
steps (paper 16) in which the network outputs the ``num_outputs`` highest-priority vectors in order of
decreasing priority. Inputs (N + 1 + K, W + 2); targets (N + 1 + K, W); scored: the last K steps.

**Dynamic N-grams (4.4).** For each sequence a table of 2^n probabilities (n = ``context_bits``, paper 5: a
6-gram model) is drawn i.i.d. from Beta(1/2, 1/2); the first n bits are fair coins and every later bit is 1
with the table's probability for the n bits before it; T bits in all (paper 200). The network sees bit t and
predicts bit t + 1: inputs (T - 1, 1) are bits 0..T-2, targets (T - 1, 1) bits 1..T-1, and the T - n bits
drawn from the table (targets at steps n - 1..T - 2) are scored (195 in the paper's setting).

Floors: the memoryless cost is one bit per scored bit (a network that recalls nothing guesses 1/2), so
``width × E[L]`` bits per sequence for copy. Repeat copy adds the cost of a network that counts exactly but
recalls no data bit (``no_recall_bits``, W·E[L]·E[c]). Dynamic N-grams adds the Bayes-optimal cost: with
N0, N1 the counts of 0s and 1s seen so far after the current n-bit context, P(next = 1) = (N1 + 1/2)/(N0 +
N1 + 1), the posterior predictive under the Beta(1/2, 1/2) prior; its cost is measured on the task's test
split (130.2 bits per sequence in the paper's setting with seed 0, against 195 memoryless).

Deviations: the paper does not give the input layouts. We put every delimiter on its own step and channel;
repeat copy shows the count on the delimiter's step; associative recall's query delimiter closes the last
item (no item delimiter after it) and we draw the items distinct (the paper does not say; 18-bit items
collide with probability < 10^-4); dynamic N-grams starts from n fair bits and does not score their
predictions. Lengths, counts and tables are drawn per sequence, not per batch.

Book: 10.12 (explicit memory; the copy task is the standard test that a network can store and recall).
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch
from recnets.tasks.generated import GeneratedConfig, GeneratedTask, _check_int

__all__ = ["BitTaskConfig", "BitSequenceTask", "CopyTask", "RepeatCopyConfig", "RepeatCopyTask",
           "AssociativeRecallConfig", "AssociativeRecallTask", "PrioritySortConfig", "PrioritySortTask",
           "DynamicNGramsConfig", "DynamicNGramsTask", "bit_errors", "pad_sequences"]

LN2 = math.log(2)


@dataclass(frozen=True)
class BitTaskConfig(GeneratedConfig):
    """Config of the NTM tasks (see :class:`GeneratedConfig`).

    Attributes:
        T: the longest sequence length L drawn (20 for copy in the paper's training).
        min_length: the shortest (1 in the paper); ``min_length == T`` fixes the length (generalisation tests).
        width: bits per vector (8 in the paper).
    """

    T: int = 20
    min_length: int = 1
    width: int = 8
    eval_size: int = 640
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("width", self.width, 1)
        _check_int("min_length", self.min_length, 1)
        if self.min_length > self.T:
            raise ValueError(f"min_length: expected an integer <= T = {self.T}, got {self.min_length}")


def pad_sequences(sequences: list[Tensor], scored: list[Tensor], targets: list[Tensor]) -> Batch:
    """A padded batch from per-sequence ``inputs (T_i, D)``, ``scored (T_i,)`` bool and ``targets (T_i, O)``.

    Returns:
        Batch with inputs (B, T, D), targets (B, T, O), lengths (B,), mask (B, T), zero past each length.
    """
    lengths = torch.tensor([len(s) for s in sequences])
    inputs = nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # (B, T, D)
    return Batch(inputs, nn.utils.rnn.pad_sequence(targets, batch_first=True), lengths,
                 nn.utils.rnn.pad_sequence(scored, batch_first=True))


def bit_errors(outputs: Tensor, batch: Batch) -> Tensor:
    """(B,) the number of scored bits whose output logit has the wrong sign, per sequence."""
    wrong = (outputs > 0) != (batch.targets > 0.5)  # (B, T, O)
    return (wrong & batch.mask.unsqueeze(-1)).sum((1, 2))


class BitSequenceTask(GeneratedTask, abc.ABC):
    """Abstract: binary targets at the steps of ``batch.mask``, scored by cross-entropy in bits per sequence.

    Subclasses implement :meth:`sequence` (one example from a generator) and :meth:`expected_scored_bits`
    (for the memoryless floor); ``input_size`` and ``output_size`` give the model's D and O.

    Shapes:
        inputs (B, T, input_size), targets (B, T, output_size) in {0, 1}, mask (B, T) bool, lengths (B,);
        outputs (B, T, output_size) logits (an :class:`~recnets.nets.OutputEveryStep` with O = output_size).
    """

    config_class = BitTaskConfig

    @property
    @abc.abstractmethod
    def input_size(self) -> int:
        """D, the channels of an input vector."""

    @property
    @abc.abstractmethod
    def output_size(self) -> int:
        """O, the bits of an output vector."""

    @abc.abstractmethod
    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """One example: ``inputs (T_i, D)``, ``targets (T_i, O)``, ``scored (T_i,)`` bool."""

    @abc.abstractmethod
    def expected_scored_bits(self) -> float:
        """E[number of scored bits per sequence] under the task's length distribution."""

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        examples = [self.sequence(generator) for _ in range(batch_size)]
        inputs, targets, scored = zip(*examples)
        return pad_sequences(list(inputs), list(scored), list(targets))

    def _checked(self, outputs: Tensor, batch: Batch) -> None:
        if tuple(outputs.shape) != tuple(batch.targets.shape):
            raise ValueError(f"outputs: expected shape {tuple(batch.targets.shape)} (a logit per target bit), "
                             f"got {tuple(outputs.shape)}")

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed binary cross-entropy (nats) over the scored bits, and the number of sequences."""
        self._checked(outputs, batch)
        per_bit = nn.functional.binary_cross_entropy_with_logits(outputs, batch.targets.to(outputs.dtype),
                                                                 reduction="none")  # (B, T, O)
        return (per_bit * batch.mask.unsqueeze(-1)).sum(), outputs.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"bits_per_sequence": the cost in bits, summed over a sequence's scored bits}``."""
        _check_int("count", count, 1)
        return {"bits_per_sequence": total_loss / count / LN2}

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: every scored bit right when thresholded at 1/2."""
        self._checked(outputs, batch)
        return bit_errors(outputs, batch) == 0

    def baselines(self) -> dict[str, float]:
        """``{"memoryless_bits": one bit per scored bit}``: a network that recalls nothing guesses 1/2."""
        return {"memoryless_bits": self.expected_scored_bits()}


class CopyTask(BitSequenceTask):
    """Copy (module docstring): store L random vectors, recall them in order after the delimiter.

    Shapes:
        inputs (B, 2L + 1, width + 1), targets (B, 2L + 1, width), mask on the last L steps of each row.
    """

    name = "ntm-copy"

    @property
    def input_size(self) -> int:
        return self.config.width + 1

    @property
    def output_size(self) -> int:
        return self.config.width

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        width = self.config.width
        length = int(torch.randint(self.config.min_length, self.config.T + 1, (1,), generator=generator))
        data = torch.randint(2, (length, width), generator=generator).float()  # (L, W)
        inputs = torch.zeros(2 * length + 1, width + 1)
        inputs[:length, :width] = data
        inputs[length, width] = 1.0  # the delimiter
        targets = torch.zeros(2 * length + 1, width)
        targets[length + 1:] = data
        scored = torch.zeros(2 * length + 1, dtype=torch.bool)
        scored[length + 1:] = True
        return inputs, targets, scored

    def expected_scored_bits(self) -> float:
        return self.config.width * (self.config.min_length + self.config.T) / 2


def _uniform_int(generator: torch.Generator, low: int, high: int) -> int:
    """An integer uniform on ``low..high`` (both included), drawn from ``generator``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


@dataclass(frozen=True)
class RepeatCopyConfig(BitTaskConfig):
    """Config of :class:`RepeatCopyTask` (see :class:`BitTaskConfig`; ``T`` is the longest L, paper 10).

    Attributes:
        min_repeats, max_repeats: the repeat count c is uniform on ``min_repeats..max_repeats`` (paper 1-10).
        norm_min_repeats, norm_max_repeats: the range whose discrete uniform distribution sets the count's
            normalisation (mean μ, standard deviation σ); None (both) uses ``min_repeats..max_repeats``. Set
            them to the training range when testing on other counts, so that a count means the same input.
    """

    T: int = 10
    min_repeats: int = 1
    max_repeats: int = 10
    norm_min_repeats: int | None = None
    norm_max_repeats: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("min_repeats", self.min_repeats, 1)
        _check_int("max_repeats", self.max_repeats, self.min_repeats)
        if (self.norm_min_repeats is None) != (self.norm_max_repeats is None):
            raise ValueError(f"norm_max_repeats: expected None exactly when norm_min_repeats is None, got "
                             f"{self.norm_max_repeats!r} with norm_min_repeats {self.norm_min_repeats!r}")
        if self.norm_min_repeats is not None:
            _check_int("norm_min_repeats", self.norm_min_repeats, 1)
            _check_int("norm_max_repeats", self.norm_max_repeats, self.norm_min_repeats)

    @property
    def repeat_normalisation(self) -> tuple[float, float]:
        """(μ, σ) of the discrete uniform distribution on the normalisation range; σ = 1 for a single count."""
        low = self.min_repeats if self.norm_min_repeats is None else self.norm_min_repeats
        high = self.max_repeats if self.norm_max_repeats is None else self.norm_max_repeats
        std = math.sqrt(((high - low + 1) ** 2 - 1) / 12)
        return (low + high) / 2, (std if std > 0 else 1.0)


class RepeatCopyTask(BitSequenceTask):
    """Repeat copy (module docstring): store L vectors, output them c times, then the end marker.

    Shapes:
        inputs (B, L(c + 1) + 2, W + 2): data, delimiter, normalised count; targets (B, ·, W + 1): data and
        the end marker; mask on the last L·c + 1 steps of each row.
    """

    name = "ntm-repeat-copy"
    config_class = RepeatCopyConfig

    @property
    def input_size(self) -> int:
        return self.config.width + 2

    @property
    def output_size(self) -> int:
        return self.config.width + 1

    def count_input(self, count: int) -> float:
        """The value of repeat count ``count`` on the count channel: (count - μ)/σ."""
        mean, std = self.config.repeat_normalisation
        return (count - mean) / std

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        config, width = self.config, self.config.width
        length = _uniform_int(generator, config.min_length, config.T)
        count = _uniform_int(generator, config.min_repeats, config.max_repeats)
        data = torch.randint(2, (length, width), generator=generator).float()  # (L, W)
        steps = length * (count + 1) + 2
        inputs = torch.zeros(steps, width + 2)
        inputs[:length, :width] = data
        inputs[length, width] = 1.0  # the delimiter
        inputs[length, width + 1] = self.count_input(count)
        targets = torch.zeros(steps, width + 1)
        targets[length + 1:-1, :width] = data.repeat(count, 1)  # (L·c, W)
        targets[-1, width] = 1.0  # the end marker
        scored = torch.zeros(steps, dtype=torch.bool)
        scored[length + 1:] = True
        return inputs, targets, scored

    def _mean_length_times_count(self) -> float:
        config = self.config  # L and c are independent: E[L·c] = E[L]·E[c]
        return (config.min_length + config.T) / 2 * (config.min_repeats + config.max_repeats) / 2

    def expected_scored_bits(self) -> float:
        return (self.config.width + 1) * (self._mean_length_times_count() + 1)

    def baselines(self) -> dict[str, float]:
        """Memoryless bits, and ``no_recall_bits``: the marker channel and the end step exact, every data bit
        of the repeats guessed 1/2 (a network that counts but does not recall), W·E[L]·E[c]."""
        return {**super().baselines(), "no_recall_bits": self.config.width * self._mean_length_times_count()}


@dataclass(frozen=True)
class AssociativeRecallConfig(BitTaskConfig):
    """Config of :class:`AssociativeRecallTask` (see :class:`BitTaskConfig`).

    Attributes:
        T: the most items N (paper 6); ``min_length`` the fewest (paper 2, at least 2).
        width: bits per vector (paper 6).
        item_length: vectors per item (paper 3).
    """

    T: int = 6
    min_length: int = 2
    width: int = 6
    item_length: int = 3

    def __post_init__(self) -> None:
        _check_int("T", self.T, 2)
        super().__post_init__()
        _check_int("min_length", self.min_length, 2)
        _check_int("item_length", self.item_length, 1)
        patterns = 2 ** (self.item_length * self.width)
        if patterns < self.T:
            raise ValueError(f"T: expected at most 2**(item_length * width) = {patterns} (the items are distinct), "
                             f"got {self.T}")


class AssociativeRecallTask(BitSequenceTask):
    """Associative recall (module docstring): after N delimited items and a query item, output the item that
    followed the query.

    Shapes:
        inputs (B, N(k + 1) + 2k + 2, W + 2): data, item delimiter, query delimiter; targets (B, ·, W);
        mask on the last k steps of each row (k = ``item_length``).
    """

    name = "ntm-associative-recall"
    config_class = AssociativeRecallConfig
    min_T = 2

    @property
    def input_size(self) -> int:
        return self.config.width + 2

    @property
    def output_size(self) -> int:
        return self.config.width

    def _distinct_items(self, generator: torch.Generator, count: int) -> Tensor:
        """(N, k, W) random items, redrawn until no two are equal."""
        shape = (count, self.config.item_length, self.config.width)
        while True:
            items = torch.randint(2, shape, generator=generator).float()
            if torch.unique(items.flatten(1), dim=0).shape[0] == count:
                return items

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        config, width, k = self.config, self.config.width, self.config.item_length
        count = _uniform_int(generator, config.min_length, config.T)
        items = self._distinct_items(generator, count)  # (N, k, W)
        query = _uniform_int(generator, 0, count - 2)  # never the last item: it has no successor
        start = count * (k + 1)  # the query delimiter's step
        steps = start + 2 * k + 2
        inputs = torch.zeros(steps, width + 2)
        stored = inputs[:start].view(count, k + 1, width + 2)  # (N, k + 1, W + 2), a view into inputs
        stored[:, 0, width] = 1.0  # the item delimiter before each item
        stored[:, 1:, :width] = items
        inputs[start, width + 1] = 1.0  # the query delimiter, before and after the query
        inputs[start + 1:start + k + 1, :width] = items[query]
        inputs[start + k + 1, width + 1] = 1.0
        targets = torch.zeros(steps, width)
        targets[-k:] = items[query + 1]
        scored = torch.zeros(steps, dtype=torch.bool)
        scored[-k:] = True
        return inputs, targets, scored

    def expected_scored_bits(self) -> float:
        return float(self.config.item_length * self.config.width)


@dataclass(frozen=True)
class PrioritySortConfig(BitTaskConfig):
    """Config of :class:`PrioritySortTask` (see :class:`BitTaskConfig`).

    Attributes:
        T, min_length: the number N of input vectors is uniform on ``min_length..T`` (paper: 20, fixed).
        num_outputs: K, the highest-priority vectors to output (paper 16), at most ``min_length``.
    """

    T: int = 20
    min_length: int = 20
    num_outputs: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("num_outputs", self.num_outputs, 1)
        if self.num_outputs > self.min_length:
            raise ValueError(f"num_outputs: expected an integer <= min_length = {self.min_length}, "
                             f"got {self.num_outputs}")


class PrioritySortTask(BitSequenceTask):
    """Priority sort (module docstring): output the K highest-priority input vectors, highest first.

    Shapes:
        inputs (B, N + 1 + K, W + 2): data, priority, delimiter; targets (B, N + 1 + K, W); mask on the last
        K steps of each row.
    """

    name = "ntm-priority-sort"
    config_class = PrioritySortConfig

    @property
    def input_size(self) -> int:
        return self.config.width + 2

    @property
    def output_size(self) -> int:
        return self.config.width

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        config, width, K = self.config, self.config.width, self.config.num_outputs
        count = _uniform_int(generator, config.min_length, config.T)
        data = torch.randint(2, (count, width), generator=generator).float()  # (N, W)
        priority = 2 * torch.rand(count, generator=generator) - 1  # (N,) uniform on [-1, 1)
        order = torch.argsort(priority, descending=True, stable=True)[:K]  # (K,)
        steps = count + 1 + K
        inputs = torch.zeros(steps, width + 2)
        inputs[:count, :width] = data
        inputs[:count, width] = priority
        inputs[count, width + 1] = 1.0  # the delimiter
        targets = torch.zeros(steps, width)
        targets[count + 1:] = data[order]
        scored = torch.zeros(steps, dtype=torch.bool)
        scored[count + 1:] = True
        return inputs, targets, scored

    def expected_scored_bits(self) -> float:
        return float(self.config.num_outputs * self.config.width)


@dataclass(frozen=True)
class DynamicNGramsConfig(GeneratedConfig):
    """Config of :class:`DynamicNGramsTask` (see :class:`GeneratedConfig`).

    Attributes:
        T: bits per sequence (paper 200); at least ``context_bits + 1``.
        context_bits: n, the bits of context a table entry conditions on (paper 5: a 6-gram model).
    """

    T: int = 200
    context_bits: int = 5
    eval_size: int = 640
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("context_bits", self.context_bits, 1)
        if self.T < self.context_bits + 1:
            raise ValueError(f"T: expected an integer >= context_bits + 1 = {self.context_bits + 1}, got {self.T}")


class DynamicNGramsTask(BitSequenceTask):
    """Dynamic N-grams (module docstring): predict each next bit of a sequence from a random n-gram model.

    Batches are generated all rows at once (:meth:`sample`); :meth:`sequence` is one row of a batch of one.

    Shapes:
        inputs (B, T - 1, 1): bits 0..T-2; targets (B, T - 1, 1): bits 1..T-1; mask (B, T - 1) True from
        step n - 1 on (the T - n bits drawn from the table); lengths all T - 1.
    """

    name = "ntm-dynamic-ngrams"
    config_class = DynamicNGramsConfig

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    def sample(self, generator: torch.Generator, batch_size: int) -> tuple[Tensor, Tensor]:
        """``batch_size`` tables and the bit sequences drawn from them.

        Returns:
            bits (B, T) int64; tables (B, 2^n) float64, entry c the probability of a 1 after the context whose
            binary reading, oldest bit first, is c. Beta(1/2, 1/2) is drawn as sin²(πU/2), U uniform on [0, 1)
            (the arcsine law: P(sin²(πU/2) <= p) = (2/π) asin(√p), Beta(1/2, 1/2)'s distribution function).
        """
        n, T = self.config.context_bits, self.config.T
        tables = torch.sin(0.5 * math.pi * torch.rand(batch_size, 2**n, generator=generator,
                                                      dtype=torch.float64)).square()  # (B, 2^n)
        start = torch.randint(2, (batch_size, n), generator=generator)  # (B, n) fair bits
        uniforms = torch.rand(batch_size, T - n, generator=generator, dtype=torch.float64)  # (B, T - n)
        context = (start * 2 ** torch.arange(n - 1, -1, -1)).sum(1)  # (B,)
        drawn = []
        for t in range(T - n):  # sequential in time, vectorised over the batch
            bit = (uniforms[:, t] < tables.gather(1, context.unsqueeze(1)).squeeze(1)).long()  # (B,)
            drawn.append(bit)
            context = ((context << 1) | bit) & (2**n - 1)
        return torch.cat([start, torch.stack(drawn, 1)], 1), tables

    def batch_of(self, bits: Tensor) -> Batch:
        """The batch that asks for each next bit of ``bits (B, T)`` (0/1 integers)."""
        if bits.dim() != 2 or bits.shape[1] != self.config.T:
            raise ValueError(f"bits: expected shape (B, {self.config.T}), got {tuple(bits.shape)}")
        B, steps = bits.shape[0], self.config.T - 1
        mask = (torch.arange(steps) >= self.config.context_bits - 1).repeat(B, 1)  # (B, T - 1)
        return Batch(bits[:, :-1].float().unsqueeze(-1), bits[:, 1:].float().unsqueeze(-1),
                     torch.full((B,), steps), mask)

    def generate(self, generator: torch.Generator, batch_size: int) -> Batch:
        return self.batch_of(self.sample(generator, batch_size)[0])

    def sequence(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        batch = self.generate(generator, 1)
        return batch.inputs[0], batch.targets[0], batch.mask[0]

    def expected_scored_bits(self) -> float:
        return float(self.config.T - self.config.context_bits)

    def bayes_probabilities(self, batch: Batch) -> Tensor:
        """(B, T - 1) float64: the Bayes-optimal P(target = 1) at every step, 1/2 where unscored.

        At a scored step with context c, P = (N1 + 1/2)/(N0 + N1 + 1), N0 and N1 the earlier targets 0 and 1
        that followed the same context in this sequence: the posterior predictive of a Beta(1/2, 1/2) prior.
        """
        n = self.config.context_bits
        bits = torch.cat([batch.inputs[:, :1, 0], batch.targets[..., 0]], 1).long()  # (B, T)
        contexts = (bits.unfold(1, n, 1)[:, :-1] * 2 ** torch.arange(n - 1, -1, -1)).sum(-1)  # (B, S), S = T - n
        nexts = bits[:, n:].bool()  # (B, S): bit j + n follows context j
        S = nexts.shape[1]
        earlier = torch.ones(S, S, dtype=torch.bool).tril(-1)  # [j, i]: i before j
        same = (contexts.unsqueeze(2) == contexts.unsqueeze(1)) & earlier  # (B, S, S)
        seen = same.sum(-1).double()  # N0 + N1
        ones = (same & nexts.unsqueeze(1)).sum(-1).double()  # N1
        probabilities = torch.full((bits.shape[0], bits.shape[1] - 1), 0.5, dtype=torch.float64)
        probabilities[:, n - 1:] = (ones + 0.5) / (seen + 1.0)
        return probabilities

    def bayes_optimal_bits(self, split: str = "test") -> float:
        """The Bayes-optimal predictor's cost on ``split``, in bits per sequence (summed over scored bits)."""
        total, count = 0.0, 0
        for batch in self.eval_batches(split):
            p = self.bayes_probabilities(batch)  # (B, T - 1)
            target = batch.targets[..., 0].bool()
            cost = -torch.where(target, p, 1 - p).log2()  # (B, T - 1)
            total += float((cost * batch.mask).sum())
            count += batch.inputs.shape[0]
        return total / count

    def baselines(self) -> dict[str, float]:
        """Memoryless bits (T - n) and ``bayes_optimal_bits``, the optimal estimator's cost on the test split."""
        return {**super().baselines(), "bayes_optimal_bits": self.bayes_optimal_bits("test")}
