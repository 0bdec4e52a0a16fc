"""The context-conditioned RNN (Book: 10.2.4, Figs. 10.9, 10.10) against loops written from its equations,
torch.nn.LSTM, float64 gradcheck, the searches, and a tiny learnable mapping from a one-hot x to a caption."""
from __future__ import annotations

from typing import Iterator

import pytest
import torch
from torch import nn
from torch.func import functional_call

from recnets.beam_search import beam_search
from recnets.core.state import Hidden
from recnets.core.unroll import unroll
from recnets.decode import greedy_decode
from recnets.nets.conditioned import ConditionedRNN, ImageEncoder, conditioned_rnn
from recnets.tasks.base import Batch, Task, step_generator
from recnets.train import Trainer, TrainConfig
from recnets.train.scheduled_sampling import FeedingConfig, feed_decoder

BOS, EOS = 1, 2
EXACT = 1e-10


def small(cell: str, condition: str, *, vocab: int = 7, context: int = 3, hidden: int = 5, embedding: int = 4,
          **kwargs) -> ConditionedRNN:
    return conditioned_rnn(cell, vocab, context, hidden, embedding_size=embedding, condition=condition,
                           **kwargs).double()


def elman_loop(model: ConditionedRNN, x: torch.Tensor, targets: torch.Tensor, *, initial: bool, extra_input: bool
               ) -> torch.Tensor:
    """Fig. 10.9 written out: h(t) = tanh(b + W h(t-1) + U y(t-1) + R x), o(t) = c + V h(t), y one-hot."""
    cell, vocab = model.cell, model.vocab_size
    embedding_size = model.embedding.embedding_dim
    U = cell.U[:, :embedding_size] @ model.embedding.weight.T  # (H, V): U y for a one-hot y
    R = cell.U[:, embedding_size:]  # (H, C)
    if initial:
        A, a = model.initial.maps[0].weight, model.initial.maps[0].bias
        h = torch.tanh(x @ A.T + a)  # h(0) = tanh(A x + a)
    else:
        h = torch.zeros(x.shape[0], cell.hidden_size, dtype=x.dtype)
    previous = torch.full((x.shape[0],), BOS)
    outputs = []
    for t in range(targets.shape[1]):
        y = nn.functional.one_hot(previous, vocab).to(x.dtype)  # (B, V)
        pre = cell.b + h @ cell.W.T + y @ U.T
        if extra_input:
            pre = pre + x @ R.T
        h = torch.tanh(pre)
        outputs.append(model.readout.c + h @ model.readout.V.T)
        previous = targets[:, t]
    return torch.stack(outputs, 1)  # (B, T, V)


def batch_of(vocab: int = 7, context: int = 3, rows: int = 3, steps: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(rows, context, dtype=torch.float64), torch.randint(vocab, (rows, steps))


@pytest.mark.parametrize("condition, initial, extra_input", [("input", False, True), ("initial-state", True, False),
                                                             ("both", True, True)])
def test_elman_equals_the_equations_of_fig_10_9(condition, initial, extra_input):
    model = small("elman", condition)
    x, targets = batch_of()
    expected = elman_loop(model, x, targets, initial=initial, extra_input=extra_input)
    model.eval()
    assert torch.allclose(model(x, targets=targets)[0], expected, atol=EXACT, rtol=0)  # one unroll
    assert torch.allclose(feed_decoder(model, targets, context=x).logits, expected, atol=EXACT, rtol=0)  # steps
    model.train()
    assert torch.allclose(model(x, targets=targets)[0], expected, atol=EXACT, rtol=0)


def test_initial_state_equals_unroll_from_the_mapped_state():
    model = small("gru", "initial-state")
    x, targets = batch_of()
    start = torch.cat([torch.full((3, 1), BOS), targets[:, :-1]], 1)
    h0 = Hidden(torch.tanh(model.initial.maps[0](x)))
    hs, _ = unroll(model.cell, model.embedding(start), h0, backend="eager")
    model.eval()
    assert torch.allclose(model(x, targets=targets)[0], model.readout(hs), atol=EXACT, rtol=0)


@pytest.mark.parametrize("condition", ["initial-state", "both"])
def test_lstm_maps_h0_and_c0_and_equals_torch_lstm(condition):
    model = small("lstm", condition)
    x, targets = batch_of()
    reference = nn.LSTM(model.cell.input_size, model.cell.hidden_size, batch_first=True).double()
    with torch.no_grad():
        for name, ours in [("weight_ih_l0", "U"), ("weight_hh_l0", "W"), ("bias_ih_l0", "b_U"), ("bias_hh_l0", "b_W")]:
            getattr(reference, name).copy_(getattr(model.cell, ours))
    (A_h, A_c) = model.initial.maps  # one map per state vector: h(0) and c(0)
    h0, c0 = torch.tanh(A_h(x)), torch.tanh(A_c(x))
    start = torch.cat([torch.full((3, 1), BOS), targets[:, :-1]], 1)
    inputs = model.embedding(start)
    if condition == "both":
        inputs = torch.cat([inputs, x.unsqueeze(1).expand(-1, targets.shape[1], -1)], -1)
    hs, _ = reference(inputs, (h0.unsqueeze(0), c0.unsqueeze(0)))
    model.eval()
    assert torch.allclose(model(x, targets=targets)[0], model.readout(hs), atol=EXACT, rtol=0)
    assert torch.allclose(feed_decoder(model, targets, context=x).logits, model.readout(hs), atol=EXACT, rtol=0)


class StepLoop(nn.Module):
    """The decoder driven step by step by feed_decoder (ε = 1), as a module for functional_call."""

    def __init__(self, model: ConditionedRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, *, targets):
        return feed_decoder(self.model, targets, context=x).logits


@pytest.mark.parametrize("loop", [False, True], ids=["unroll", "step-loop"])
def test_gradcheck_float64(loop):
    model = small("gru", "both", vocab=5, context=2, hidden=3, embedding=2).eval()
    module = StepLoop(model) if loop else model
    x, targets = batch_of(vocab=5, context=2, rows=2, steps=3)
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def logits(x, *values):
        out = functional_call(module, dict(zip(names, values)), (x,), {"targets": targets})
        return out if loop else out[0]

    assert torch.autograd.gradcheck(logits, (x.requires_grad_(), *params))


def test_beam_width_one_equals_greedy_with_the_context():
    model = small("gru", "both", vocab=6).eval()
    x = torch.randn(4, 3, dtype=torch.float64)
    greedy = greedy_decode(model, context=x, max_length=6, end_id=EOS)
    beams = beam_search(model, context=x, beam_width=1, max_length=6, end_id=EOS)
    assert beams.best() == greedy.to_lists()
    assert torch.allclose(beams.log_prob[:, 0], greedy.log_prob, atol=EXACT, rtol=0)


def test_beam_rows_see_their_own_context():
    """Beam search repeats x's rows per beam: each sentence decodes as it does alone."""
    model = small("lstm", "both", vocab=6).eval()
    x = torch.randn(3, 3, dtype=torch.float64)
    together = beam_search(model, context=x, beam_width=3, max_length=5, end_id=EOS)
    for row in range(3):
        alone = beam_search(model, context=x[row:row + 1], beam_width=3, max_length=5, end_id=EOS)
        assert alone.best()[0] == together.best()[row]


def test_scheduled_sampling_and_the_update_count():
    model = small("gru", "input", feeding=FeedingConfig(mode="constant", epsilon=0.0, own="argmax"))
    x, targets = batch_of()
    model.train()
    free = model(x, targets=targets)[0]
    expected = feed_decoder(model, targets, context=x, gold_probability=0.0, own="argmax").logits
    assert torch.allclose(free, expected, atol=EXACT, rtol=0)
    assert not torch.allclose(free, model.teacher_forced(x, targets), atol=1e-3)  # it read its own outputs
    assert int(model.feeding.updates) == 1
    model.eval()
    model(x, targets=targets)
    assert int(model.feeding.updates) == 1  # eval passes are not updates
    teacher = small("gru", "input").train()
    teacher(x, targets=targets)
    assert int(teacher.state_dict()["feeding.updates"]) == 1  # persistent: saved with the weights


def test_encoder_feeds_the_context():
    encoder = ImageEncoder(16, 3, channels=(4, 8))
    model = conditioned_rnn("gru", 7, 3, 5, embedding_size=4, condition="both", encoder=encoder).eval()
    images = torch.rand(2, 1, 16, 16)
    targets = torch.randint(7, (2, 4))
    x = model.encode(images)
    assert x.shape == (2, 3)
    assert torch.allclose(model(images, targets=targets)[0], feed_decoder(model, targets, context=x).logits,
                          atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="inputs: expected images of shape"):
        model.encode(torch.rand(2, 16, 16))


@pytest.mark.parametrize("name", ["clockwork", "skip-time"])
def test_initial_state_map_covers_every_real_leaf(name):
    """Clockwork: h mapped, the time counter t kept; skip-time: the whole delay line (B, d, H) mapped."""
    model = small(name, "initial-state")
    x = torch.randn(4, 3, dtype=torch.float64)
    start = model.cell.initial_state(4, dtype=torch.float64)
    mapped = model.initial_state(4, x)
    for index, (before, after) in enumerate(zip(start, mapped)):
        assert after.shape == before.shape and after.dtype == before.dtype
        if before.is_floating_point():
            linear = model.initial.maps[model.initial.mapped.index(index)]
            assert torch.allclose(after, torch.tanh(linear(x)).reshape(before.shape), atol=EXACT, rtol=0)
        else:
            assert torch.equal(after, before)
    assert greedy_decode(model.eval(), context=x, max_length=3).ids.shape[0] == 4


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="condition: expected one of"):
        conditioned_rnn("gru", 7, 3, 5, embedding_size=4, condition="hidden")
    with pytest.raises(ValueError, match="cell: expected input_size 7"):
        ConditionedRNN(conditioned_rnn("gru", 7, 3, 5, embedding_size=4, condition="initial-state").cell, 7, 3,
                       condition="both", embedding_size=4)
    model = small("gru", "both")
    with pytest.raises(ValueError, match=r"context: expected the conditioning vector x.*\(2, 3\)"):
        model.initial_state(2, torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="targets: expected the"):
        model(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="lengths: expected None"):
        model(torch.zeros(2, 3, dtype=torch.float64), lengths=torch.tensor([1, 1]), targets=torch.zeros(2, 2).long())
    with pytest.raises(ValueError, match="start_id"):
        conditioned_rnn("gru", 7, 3, 5, embedding_size=4, start_id=7)


# ---- learning: the caption is a function of a one-hot x ------------------------------------------------

CAPTIONS = [[4, 5, 6], [4, 6], [5, 4, 6, 6], [6]]  # x = e_k -> CAPTIONS[k] then EOS: words shared across captions
VOCAB = 7


def caption_batch(generator: torch.Generator, rows: int) -> Batch:
    which = torch.randint(len(CAPTIONS), (rows,), generator=generator)
    steps = max(len(c) for c in CAPTIONS) + 1
    targets = torch.zeros(rows, steps, dtype=torch.int64)
    mask = torch.zeros(rows, steps, dtype=torch.bool)
    for row, k in enumerate(which.tolist()):
        ids = CAPTIONS[k] + [EOS]
        targets[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = True
    return Batch(nn.functional.one_hot(which, len(CAPTIONS)).float(), targets, None, mask)


class OneHotCaptions(Task):
    name = "one-hot-captions"

    def train_batch(self, step: int) -> Batch:
        return caption_batch(step_generator(0, step), 16)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        yield caption_batch(step_generator(1, 0), 64)

    def loss(self, outputs, batch):
        per_step = nn.functional.cross_entropy(outputs.transpose(1, 2), batch.targets, reduction="none")
        return (per_step * batch.mask).sum(), int(batch.mask.sum())

    def metrics(self, total_loss, count):
        return {"nll": total_loss / count}

    def baselines(self):
        return {}


@pytest.mark.parametrize("condition", ["initial-state", "input", "both"])
def test_learns_captions_of_a_one_hot_context(condition, tmp_path):
    torch.manual_seed(0)
    model = conditioned_rnn("gru", VOCAB, len(CAPTIONS), 16, embedding_size=8, condition=condition)
    config = TrainConfig(device="cpu", steps=150, lr=0.03, eval_every=0, checkpoint_every=0, progress=False)
    Trainer(model, OneHotCaptions(), config, tmp_path).fit()
    assert int(model.feeding.updates) == 150
    decoded = greedy_decode(model.eval(), context=torch.eye(len(CAPTIONS)), max_length=8, end_id=EOS)
    assert decoded.to_lists() == CAPTIONS
    assert bool(decoded.finished.all())
