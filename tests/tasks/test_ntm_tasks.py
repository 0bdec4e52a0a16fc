"""The NTM's algorithmic tasks (Graves et al. 2014, section 4): every sequence parsed back and checked against
the paper's definition, labels recomputed independently, floors reached by the predictors that define them,
and the dynamic N-grams Bayes estimator against the posterior predictive integrated numerically."""
from __future__ import annotations

import math
import time

import pytest
import torch

from recnets.tasks.base import Batch, step_generator
from recnets.tasks.generated import EVAL_STEPS
from recnets.tasks.ntm_tasks import (AssociativeRecallConfig, AssociativeRecallTask, BitTaskConfig, CopyTask,
                                     DynamicNGramsConfig, DynamicNGramsTask, PrioritySortConfig,
                                     PrioritySortTask, RepeatCopyConfig, RepeatCopyTask, bit_errors,
                                     pad_sequences)

BIG = 50.0  # a logit whose sign is the answer and whose cost, log2(1 + e^-50), is below 1e-21 bits

SMALL = {  # a config per task with short sequences, for the contract tests
    "ntm-copy": (CopyTask, BitTaskConfig(T=6, batch_size=16, eval_size=40, eval_batch_size=16)),
    "ntm-repeat-copy": (RepeatCopyTask, RepeatCopyConfig(T=4, max_repeats=4, batch_size=16, eval_size=40,
                                                         eval_batch_size=16)),
    "ntm-associative-recall": (AssociativeRecallTask, AssociativeRecallConfig(batch_size=16, eval_size=40,
                                                                               eval_batch_size=16)),
    "ntm-priority-sort": (PrioritySortTask, PrioritySortConfig(T=8, min_length=5, num_outputs=4, batch_size=16,
                                                               eval_size=40, eval_batch_size=16)),
    "ntm-dynamic-ngrams": (DynamicNGramsTask, DynamicNGramsConfig(T=40, batch_size=16, eval_size=40,
                                                                   eval_batch_size=16)),
}
NAMES = list(SMALL)


def small(name: str):
    cls, config = SMALL[name]
    return cls(config)


def same(a: Batch, b: Batch) -> bool:
    return (torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
            and torch.equal(a.lengths, b.lengths) and torch.equal(a.mask, b.mask))


def rows(batch: Batch):
    """Each sequence of a padded batch cut to its length: (inputs, targets, mask)."""
    for b, length in enumerate(batch.lengths.tolist()):
        yield batch.inputs[b, :length], batch.targets[b, :length], batch.mask[b, :length]


def written_out_bits(outputs: torch.Tensor, batch: Batch) -> float:
    """Binary cross-entropy in bits, summed over the scored bits and averaged over sequences, by the formula."""
    total = 0.0
    for b in range(outputs.shape[0]):
        for t in range(outputs.shape[1]):
            if batch.mask[b, t]:
                for o, y in zip(outputs[b, t].tolist(), batch.targets[b, t].tolist()):
                    p = 1 / (1 + math.exp(-o))
                    total -= math.log2(p if y == 1 else 1 - p)
    return total / outputs.shape[0]


def sign_logits(targets: torch.Tensor) -> torch.Tensor:
    """float64 logits ±BIG that answer ``targets`` exactly."""
    return BIG * (2 * targets.double() - 1)


# ---- the contract every task keeps ----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_batches_are_pure_in_seed_and_step_and_leave_the_global_generator_alone(name):
    task, twin = small(name), small(name)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = task.train_batch(3)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not drawn from
    torch.manual_seed(2)
    assert same(first, twin.train_batch(3))
    assert not same(first, task.train_batch(4))
    cls, config = SMALL[name]
    other = cls(type(config)(**{**vars(config), "seed": 1}))
    assert not same(first, other.train_batch(3))
    test = list(task.eval_batches("test"))
    assert [b.inputs.shape[0] for b in test] == [16, 16, 8]
    assert all(same(a, b) for a, b in zip(test, task.eval_batches("test")))
    assert not same(test[0], next(task.eval_batches("valid")))


@pytest.mark.parametrize("name", NAMES)
def test_batches_are_the_sequences_padded_with_zeros_and_an_unscored_tail(name):
    task = small(name)
    batch = task.train_batch(0)
    B, T = batch.mask.shape
    assert batch.inputs.shape == (B, T, task.input_size) and batch.targets.shape == (B, T, task.output_size)
    assert batch.inputs.dtype == batch.targets.dtype == torch.float32
    assert batch.mask.dtype == torch.bool and batch.lengths.dtype == torch.int64
    assert int(batch.lengths.max()) == T
    past = torch.arange(T).unsqueeze(0) >= batch.lengths.unsqueeze(1)  # (B, T)
    assert (batch.inputs[past] == 0).all() and (batch.targets[past] == 0).all() and not batch.mask[past].any()
    assert ((batch.targets == 0) | (batch.targets == 1)).all()
    if name != "ntm-dynamic-ngrams":  # generated row by row: the batch is its rows padded
        generator = step_generator(task.seed, 0)
        one_by_one = [task.sequence(generator) for _ in range(B)]
        for (inputs, targets, mask), (x, y, m) in zip(rows(batch), one_by_one):
            assert torch.equal(inputs, x) and torch.equal(targets, y) and torch.equal(mask, m)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_the_binary_cross_entropy_in_bits_per_sequence(name):
    task = small(name)
    batch = task.train_batch(0)
    outputs = 3 * torch.randn(batch.targets.shape, dtype=torch.float64)
    total, count = task.loss(outputs, batch)
    assert count == batch.inputs.shape[0]
    bits = task.metrics(float(total), count)["bits_per_sequence"]
    assert abs(bits - written_out_bits(outputs, batch)) < 1e-9 * bits
    # unscored outputs cost nothing: changing them leaves the loss alone
    changed = torch.where(batch.mask.unsqueeze(-1), outputs, torch.randn_like(outputs))
    assert abs(float(task.loss(changed, batch)[0]) - float(total)) < 1e-9 * float(total)


@pytest.mark.parametrize("name", NAMES)
def test_guessing_one_half_costs_one_bit_per_scored_bit(name):
    task = small(name)
    batch = task.train_batch(0)
    total, count = task.loss(torch.zeros(batch.targets.shape, dtype=torch.float64), batch)
    scored_bits = int(batch.mask.sum()) * task.output_size
    assert abs(task.metrics(float(total), count)["bits_per_sequence"] - scored_bits / count) < 1e-9
    assert task.baselines()["memoryless_bits"] == task.expected_scored_bits()


@pytest.mark.parametrize("name", NAMES)
def test_the_right_answer_costs_nothing_and_one_wrong_bit_fails_its_sequence(name):
    task = small(name)
    batch = task.train_batch(0)
    outputs = sign_logits(batch.targets)
    assert task.metrics(float(task.loss(outputs, batch)[0]), 16)["bits_per_sequence"] < 1e-18
    assert task.correct(outputs, batch).all() and (bit_errors(outputs, batch) == 0).all()
    b, t = 3, int(batch.mask[3].nonzero()[-1])
    outputs[b, t, 0] *= -1  # one scored bit wrong
    assert bit_errors(outputs, batch).tolist() == [int(row == b) for row in range(16)]
    assert task.correct(outputs, batch).tolist() == [row != b for row in range(16)]
    wrong_shape = r"^outputs: expected shape \(16, \d+, \d+\) \(a logit per target bit\), "
    with pytest.raises(ValueError, match=wrong_shape):
        task.loss(outputs[..., :-1], batch)


@pytest.mark.parametrize("name", NAMES)
def test_expected_scored_bits_is_the_mean_over_sequences(name):
    task = small(name)
    counts = torch.cat([b.mask.sum(1) for b in (task.train_batch(s) for s in range(50))]).double()  # (800,)
    counts *= task.output_size
    error = abs(float(counts.mean()) - task.expected_scored_bits())
    assert error <= 4 * float(counts.std()) / math.sqrt(len(counts)) + 1e-12


@pytest.mark.parametrize("cls, config, expected", [
    (CopyTask, BitTaskConfig(T=5, min_length=5, width=3), 15),
    (RepeatCopyTask, RepeatCopyConfig(T=3, min_length=3, min_repeats=4, max_repeats=4, width=5), 6 * 13),
    (AssociativeRecallTask, AssociativeRecallConfig(item_length=2, width=4), 8),
    (PrioritySortTask, PrioritySortConfig(T=7, min_length=4, num_outputs=3, width=5), 15),
    (DynamicNGramsTask, DynamicNGramsConfig(T=30, context_bits=3), 27),
])
def test_expected_scored_bits_is_exact_where_every_sequence_scores_the_same(cls, config, expected):
    task = cls(config)
    batch = task.train_batch(0)
    assert task.expected_scored_bits() == expected
    assert (batch.mask.sum(1) * task.output_size == expected).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_of_32_in_the_papers_setting_is_quick(name):
    cls, config = SMALL[name]
    task = cls(type(config)(batch_size=32))  # the defaults are the paper's settings
    task.train_batch(0)
    seconds = min(_timed(task.train_batch, step) for step in range(1, 6))
    assert seconds < 0.05, seconds  # the fastest of 5: robust to a busy machine


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


@pytest.mark.parametrize("cls, fields, message", [
    (RepeatCopyConfig, dict(min_repeats=0), "^min_repeats: expected an integer >= 1, got 0$"),
    (RepeatCopyConfig, dict(min_repeats=3, max_repeats=2), "^max_repeats: expected an integer >= 3, got 2$"),
    (RepeatCopyConfig, dict(norm_min_repeats=1), "^norm_max_repeats: expected None exactly when"),
    (RepeatCopyConfig, dict(norm_min_repeats=4, norm_max_repeats=2),
     "^norm_max_repeats: expected an integer >= 4, got 2$"),
    (RepeatCopyConfig, dict(min_length=11), r"^min_length: expected an integer <= T = 10, got 11$"),
    (AssociativeRecallConfig, dict(T=1), "^T: expected an integer >= 2, got 1$"),
    (AssociativeRecallConfig, dict(min_length=1), "^min_length: expected an integer >= 2, got 1$"),
    (AssociativeRecallConfig, dict(item_length=0), "^item_length: expected an integer >= 1, got 0$"),
    (AssociativeRecallConfig, dict(T=5, width=1, item_length=2),
     r"^T: expected at most 2\*\*\(item_length \* width\) = 4 \(the items are distinct\), got 5$"),
    (PrioritySortConfig, dict(num_outputs=21), "^num_outputs: expected an integer <= min_length = 20, got 21$"),
    (PrioritySortConfig, dict(num_outputs=0), "^num_outputs: expected an integer >= 1, got 0$"),
    (DynamicNGramsConfig, dict(context_bits=0), "^context_bits: expected an integer >= 1, got 0$"),
    (DynamicNGramsConfig, dict(T=5), "^T: expected an integer >= context_bits \\+ 1 = 6, got 5$"),
    (DynamicNGramsConfig, dict(T=True), "^T: expected an integer >= 1, got True$"),
])
def test_bad_configs_are_one_clear_line(cls, fields, message):
    with pytest.raises(ValueError, match=message):
        cls(**fields)


def test_a_config_of_another_task_is_refused():
    with pytest.raises(TypeError, match="^config: expected RepeatCopyConfig, got BitTaskConfig$"):
        RepeatCopyTask(BitTaskConfig())


# ---- copy -------------------------------------------------------------------------------------------------

def test_copy_recalls_the_vectors_after_the_delimiter():
    task = small("ntm-copy")
    for inputs, targets, mask in rows(task.train_batch(0)):
        W = task.config.width
        L = int(inputs[:, W].nonzero())
        assert len(inputs) == 2 * L + 1 and 1 <= L <= task.config.T
        assert torch.equal(targets[L + 1:], inputs[:L, :W]) and (inputs[L + 1:] == 0).all()
        assert mask.tolist() == [False] * (L + 1) + [True] * L


# ---- repeat copy ------------------------------------------------------------------------------------------

def test_repeat_copy_outputs_the_sequence_count_times_then_the_end_marker():
    task = RepeatCopyTask(RepeatCopyConfig(T=5, max_repeats=6, width=4, batch_size=64))
    mean, std = 3.5, math.sqrt((6**2 - 1) / 12)  # the discrete uniform on 1..6
    lengths_seen, counts_seen = set(), set()
    for inputs, targets, mask in rows(task.train_batch(0)):
        L = int(inputs[:, 4].nonzero())  # the delimiter
        data = inputs[:L, :4]
        value = float(inputs[L, 5])
        count = round(value * std + mean)
        assert abs(count - (value * std + mean)) < 1e-5 and 1 <= count <= 6
        assert (inputs[:L, 4:] == 0).all() and (inputs[L + 1:] == 0).all() and (inputs[L, :4] == 0).all()
        assert len(inputs) == L + 1 + L * count + 1
        recalled = targets[L + 1:L + 1 + L * count]  # (L·c, W + 1)
        for repeat in range(count):
            assert torch.equal(recalled[repeat * L:(repeat + 1) * L, :4], data)
        assert (recalled[:, 4] == 0).all() and (targets[:L + 1] == 0).all()
        assert targets[-1].tolist() == [0, 0, 0, 0, 1]  # the end marker, on its own step and channel
        assert mask.tolist() == [False] * (L + 1) + [True] * (L * count + 1)
        lengths_seen.add(L)
        counts_seen.add(count)
    assert lengths_seen == set(range(1, 6)) and counts_seen == set(range(1, 7))


def test_repeat_count_is_normalised_to_mean_0_and_variance_1_over_the_training_counts():
    task = RepeatCopyTask(RepeatCopyConfig())
    values = torch.tensor([task.count_input(c) for c in range(1, 11)], dtype=torch.float64)
    assert abs(float(values.mean())) < 1e-12 and abs(float(values.var(unbiased=False)) - 1) < 1e-12
    assert abs(task.count_input(1) - (1 - 5.5) / math.sqrt(8.25)) < 1e-12
    tested = RepeatCopyTask(RepeatCopyConfig(min_repeats=20, max_repeats=20, norm_min_repeats=1,
                                             norm_max_repeats=10))  # a generalisation test: 20 repeats
    assert tested.count_input(20) == task.count_input(20) == (20 - 5.5) / math.sqrt(8.25)
    batch = tested.train_batch(0)
    at_delimiter = batch.inputs[..., 8] == 1  # (B, T)
    assert torch.allclose(batch.inputs[..., 9][at_delimiter], torch.tensor((20 - 5.5) / math.sqrt(8.25)))
    single = RepeatCopyTask(RepeatCopyConfig(min_repeats=3, max_repeats=3))
    assert single.count_input(3) == 0.0  # one count: shifted only (σ taken as 1)


def test_repeat_copy_counting_without_recall_costs_one_bit_per_data_bit():
    task = RepeatCopyTask(RepeatCopyConfig(T=4, max_repeats=3, width=5))
    batch = task.train_batch(0)
    outputs = torch.zeros(batch.targets.shape, dtype=torch.float64)
    outputs[..., 5] = sign_logits(batch.targets[..., 5])  # the end marker exact, the data guessed...
    end = batch.lengths - 1
    outputs[torch.arange(32), end] = sign_logits(batch.targets[torch.arange(32), end])  # ...but at the end
    total, count = task.loss(outputs, batch)
    data_steps = (batch.mask.sum(1) - 1).double()  # L·c per sequence
    assert abs(task.metrics(float(total), count)["bits_per_sequence"] - 5 * float(data_steps.mean())) < 1e-9
    floors = task.baselines()
    assert floors == {"memoryless_bits": 6 * (2.5 * 2 + 1), "no_recall_bits": 5 * 2.5 * 2}


# ---- associative recall -----------------------------------------------------------------------------------

def parse_recall(inputs: torch.Tensor, width: int, k: int):
    """Items and query read back from an associative-recall input by the layout alone."""
    item_starts = inputs[:, width].nonzero().flatten().tolist()
    query_marks = inputs[:, width + 1].nonzero().flatten().tolist()
    items = [inputs[s + 1:s + 1 + k, :width] for s in item_starts]
    return item_starts, query_marks, items, inputs[query_marks[0] + 1:query_marks[1], :width]


def test_associative_recall_answers_the_item_after_the_query():
    task = AssociativeRecallTask(AssociativeRecallConfig(batch_size=200))
    positions, sizes = set(), set()
    for inputs, targets, mask in rows(task.train_batch(0)):
        starts, marks, items, query = parse_recall(inputs, 6, 3)
        N = len(items)
        assert 2 <= N <= 6 and starts == [4 * i for i in range(N)]
        assert marks == [4 * N, 4 * N + 4] and len(inputs) == 4 * N + 2 * 3 + 2
        assert (inputs[4 * N:, 6] == 0).all() and (inputs[-3:] == 0).all()  # no item delimiter after; blanks
        assert len({tuple(item.flatten().tolist()) for item in items}) == N  # distinct items
        matches = [i for i, item in enumerate(items) if torch.equal(item, query)]
        assert len(matches) == 1 and matches[0] < N - 1  # the query is one item and never the last
        assert torch.equal(targets[-3:], items[matches[0] + 1]) and (targets[:-3] == 0).all()
        assert mask.tolist() == [False] * (len(inputs) - 3) + [True] * 3
        positions.add((N, matches[0]))
        sizes.add(N)
    assert sizes == set(range(2, 7)) and {(6, 0), (6, 4), (2, 0)} <= positions


def test_associative_recall_items_are_distinct_even_when_few_patterns_exist():
    task = AssociativeRecallTask(AssociativeRecallConfig(T=4, min_length=4, width=1, item_length=2, batch_size=50))
    for inputs, _, _ in rows(task.train_batch(0)):
        items = parse_recall(inputs, 1, 2)[2]
        assert sorted(tuple(item.flatten().tolist()) for item in items) == [(0, 0), (0, 1), (1, 0), (1, 1)]


# ---- priority sort ----------------------------------------------------------------------------------------

def test_priority_sort_outputs_the_top_k_by_decreasing_priority():
    task = PrioritySortTask(PrioritySortConfig(T=9, min_length=5, num_outputs=4, width=6, batch_size=100))
    sizes = set()
    for inputs, targets, mask in rows(task.train_batch(0)):
        N = int(inputs[:, 7].nonzero())  # the delimiter
        assert len(inputs) == N + 1 + 4 and (inputs[N + 1:] == 0).all() and (inputs[N, :7] == 0).all()
        pairs = [(float(inputs[i, 6]), inputs[i, :6].tolist()) for i in range(N)]
        assert all(-1 <= p < 1 for p, _ in pairs)
        best = sorted(pairs, key=lambda pair: -pair[0])[:4]
        assert targets[N + 1:].tolist() == [vector for _, vector in best] and (targets[:N + 1] == 0).all()
        assert mask.tolist() == [False] * (N + 1) + [True] * 4
        sizes.add(N)
    assert sizes == set(range(5, 10))


def test_priorities_are_uniform_on_minus_one_to_one():
    task = PrioritySortTask(PrioritySortConfig(batch_size=200))
    batch = task.train_batch(0)
    assert batch.inputs.shape == (200, 20 + 1 + 16, 10)  # the paper's 20 vectors of 8 bits, 16 out
    priorities = batch.inputs[:, :20, 8].flatten().double()  # (4000,)
    for q in (-0.5, 0.0, 0.5):  # the uniform distribution function at q is (q + 1)/2
        assert abs(float((priorities < q).double().mean()) - (q + 1) / 2) < 0.03


# ---- dynamic N-grams --------------------------------------------------------------------------------------

def context_of(bits: list[int], j: int, n: int) -> int:
    """The table index of the n bits before position j, read as a binary number, oldest bit first."""
    return int("".join(str(b) for b in bits[j - n:j]), 2)


def test_ngram_batches_shift_the_bits_by_one_and_score_the_table_draws():
    task = small("ntm-dynamic-ngrams")
    batch = task.train_batch(0)
    assert batch.inputs.shape == (16, 39, 1) and (batch.lengths == 39).all()
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    assert (batch.mask == (torch.arange(39) >= 4)).all()  # targets are bits 1..39; bits 5..39 are scored
    inputs, targets, scored = task.sequence(step_generator(0, 0))
    assert inputs.shape == targets.shape == (39, 1) and scored.sum() == 35


def test_ngram_tables_are_beta_half_half_and_bits_follow_them():
    task = DynamicNGramsTask(DynamicNGramsConfig(T=200))
    bits, tables = task.sample(step_generator(0, 0), 300)
    p = tables.flatten()  # (9600,)
    assert abs(float(p.mean()) - 0.5) < 0.01 and abs(float(p.var()) - 1 / 8) < 0.005  # Beta(1/2, 1/2)
    for q in (0.02, 0.1, 0.5, 0.9):  # Beta(1/2, 1/2)'s distribution function (2/π) asin(√q)
        assert abs(float((p < q).double().mean()) - 2 / math.pi * math.asin(math.sqrt(q))) < 0.015
    assert abs(float(bits[:, :5].double().mean()) - 0.5) < 0.03  # the fair first bits
    pairs = [(float(tables[b, context_of(row, j, 5)]), row[j])
             for b, row in enumerate(bits.tolist()) for j in range(5, 200)]
    probability = torch.tensor([q for q, _ in pairs], dtype=torch.float64)
    drawn = torch.tensor([bit for _, bit in pairs], dtype=torch.float64)
    for low, high in [(0.0, 0.05), (0.05, 0.3), (0.3, 0.7), (0.7, 0.95), (0.95, 1.0)]:
        inside = (probability >= low) & (probability < high)
        assert abs(float(drawn[inside].mean() - probability[inside].mean())) < 0.01


def beta_half_expectation(function, points: int = 256) -> float:
    """E[function(p)] for p ~ Beta(1/2, 1/2), by p = sin²θ with θ uniform on [0, π) (the density
    1/(π√(p(1-p))) becomes uniform in θ); the midpoint rule over the period is exact for the trigonometric
    polynomials here."""
    theta = (torch.arange(points, dtype=torch.float64) + 0.5) * math.pi / points
    return float(function(torch.sin(theta).square()).mean())


def integrated_predictive(bits: list[int], n: int) -> list[float]:
    """P(bit j = 1 | bits before j) for j = n..T-1, each the ratio of two integrals over the prior."""
    result = []
    for j in range(n, len(bits)):
        context = context_of(bits, j, n)
        before = [bits[i] for i in range(n, j) if context_of(bits, i, n) == context]
        ones, zeros = sum(before), len(before) - sum(before)
        def likelihood(p):
            return p**ones * (1 - p) ** zeros
        result.append(beta_half_expectation(lambda p: p * likelihood(p)) / beta_half_expectation(likelihood))
    return result


def test_bayes_predictions_are_the_integrated_posterior_predictive_on_every_short_sequence():
    T, n = 7, 2
    task = DynamicNGramsTask(DynamicNGramsConfig(T=T, context_bits=n))
    every = torch.tensor([[(s >> (T - 1 - i)) & 1 for i in range(T)] for s in range(2**T)])  # (128, 7)
    probabilities = task.bayes_probabilities(task.batch_of(every))  # (128, 6)
    assert probabilities.dtype == torch.float64 and (probabilities[:, :n - 1] == 0.5).all()
    for row, predicted in zip(every.tolist(), probabilities[:, n - 1:].tolist()):
        expected = integrated_predictive(row, n)
        assert max(abs(a - b) for a, b in zip(predicted, expected)) < 1e-12


def test_bayes_cost_of_a_sequence_is_minus_log2_of_its_marginal_likelihood():
    task = DynamicNGramsTask(DynamicNGramsConfig(T=30, context_bits=2))
    batch = task.train_batch(0)
    probabilities = task.bayes_probabilities(batch)
    target = batch.targets[..., 0].bool()
    cost = -(torch.where(target, probabilities, 1 - probabilities).log2() * batch.mask).sum(1)  # (B,)
    bits = torch.cat([batch.inputs[:, :1, 0], batch.targets[..., 0]], 1).long().tolist()
    for row, row_cost in zip(bits, cost.tolist()):
        marginal = 1.0
        for context in range(4):  # the tables' entries are independent a priori: the likelihood factorises
            following = [row[j] for j in range(2, 30) if context_of(row, j, 2) == context]
            ones, zeros = sum(following), len(following) - sum(following)
            marginal *= beta_half_expectation(lambda p: p**ones * (1 - p) ** zeros)
        assert abs(row_cost + math.log2(marginal)) < 1e-9


def test_bayes_optimal_bits_is_the_loss_of_the_bayes_logits_in_bits_per_sequence():
    task = DynamicNGramsTask(DynamicNGramsConfig(T=60, context_bits=3, eval_size=50, eval_batch_size=16))
    total, count = 0.0, 0
    for batch in task.eval_batches("test"):
        p = task.bayes_probabilities(batch)
        batch_total, batch_count = task.loss((p.log() - (1 - p).log()).unsqueeze(-1), batch)
        total, count = total + float(batch_total), count + batch_count
    bayes = task.bayes_optimal_bits("test")
    assert count == 50 and abs(task.metrics(total, count)["bits_per_sequence"] - bayes) < 1e-9
    assert task.baselines() == {"memoryless_bits": 57.0, "bayes_optimal_bits": bayes}
    assert bayes != task.bayes_optimal_bits("valid")


def test_bayes_estimator_beats_other_priors_and_loses_to_knowing_the_table():
    """On the paper's setting the Beta(1/2, 1/2) estimator has the lowest cost of the add-a estimators (it is
    optimal in expectation), and an oracle that knows each sequence's table does better still."""
    task = DynamicNGramsTask(DynamicNGramsConfig(eval_size=320))
    costs = {"bayes": 0.0, "laplace": 0.0, "quarter": 0.0, "table": 0.0}
    for index in range(5):  # the test split's batches, with their tables
        bits, tables = task.sample(step_generator(task.seed, EVAL_STEPS["test"] + index), 64)
        for row, table in zip(bits.tolist(), tables):
            counts = [[0, 0] for _ in range(32)]
            for j in range(5, 200):
                c, bit = context_of(row, j, 5), row[j]
                for name, a in (("bayes", 0.5), ("laplace", 1.0), ("quarter", 0.25)):
                    q = (counts[c][1] + a) / (sum(counts[c]) + 2 * a)
                    costs[name] -= math.log2(q if bit else 1 - q)
                costs["table"] -= math.log2(float(table[c]) if bit else 1 - float(table[c]))
                counts[c][bit] += 1
    costs = {name: value / 320 for name, value in costs.items()}
    assert abs(costs["bayes"] - task.bayes_optimal_bits("test")) < 1e-9  # the same split, counted by hand
    assert costs["table"] < costs["bayes"] < min(costs["laplace"], costs["quarter"]) < 195


def test_pad_sequences_pads_inputs_targets_and_mask_with_zeros():
    scored = [torch.tensor([False, True]), torch.tensor([False, True, True, True])]
    batch = pad_sequences([torch.ones(2, 3), torch.ones(4, 3)], scored, [torch.ones(2, 1), torch.ones(4, 1)])
    assert batch.lengths.tolist() == [2, 4]
    assert batch.mask.tolist() == [[False, True, False, False], [False, True, True, True]]
    assert batch.inputs[0, 2:].abs().sum() == 0 and batch.targets[0, 2:].abs().sum() == 0
