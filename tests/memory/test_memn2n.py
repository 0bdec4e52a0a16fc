"""MemN2N: the forward against the paper's equations written out by hand (float64, every option), gradcheck,
tying shares parameters, the PE formula, masking of padded memories, linear start, temporal order and random
noise, and training on synthetic stories with the recnets Trainer."""
from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from conftest import assert_exact
from recnets.memory.memn2n import LinearStart, LinearStartCallback, MemN2N, position_encoding, sentence_ages
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer
from story_fixtures import NUM_WORDS, SyntheticStories, answer_error

F64 = torch.float64


def tiny_batch(batch: int = 3, rows: int = 4, words: int = 4, vocabulary: int = 7, seed: int = 0):
    """Random ids with ragged sentences (padding at each sentence's end) and ragged stories."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(1, vocabulary, (batch, 1 + rows, words), generator=generator)
    sentence_words = torch.randint(1, words + 1, (batch, 1 + rows), generator=generator)
    inputs = inputs * (torch.arange(words) < sentence_words.unsqueeze(-1))
    lengths = torch.tensor(([rows, 1, max(1, rows - 2)] * batch)[:batch])
    inputs[:, 1:] *= (torch.arange(rows) < lengths.unsqueeze(1)).unsqueeze(-1)
    return inputs, lengths


def oracle(model: MemN2N, inputs: torch.Tensor, lengths: torch.Tensor, *, linear: bool = False):
    """Sukhbaatar et al. 2015, eqs. (1)-(3) and Sections 2.2, 4.1, one question and one hop at a time."""
    d, logits, attention = model.embedding_size, [], []
    for b in range(inputs.shape[0]):
        n = int(lengths[b])

        def sentence(ids, E):
            words = [w for w in ids.tolist() if w != 0]
            J, vector = len(words), torch.zeros(d, dtype=F64)
            for j, w in enumerate(words, start=1):
                if model.position_encoding:
                    l_j = torch.tensor([(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)], dtype=F64)
                else:
                    l_j = 1.0
                vector = vector + l_j * E[w]
            return vector

        u = sentence(inputs[b, 0], model.B())
        hops = []
        for k in range(1, model.hops + 1):
            m, c = [], []
            for i in range(n):  # story row i holds the sentence written i-th; its age is n - 1 - i (0 = newest)
                m_i, c_i = sentence(inputs[b, 1 + i], model.A(k)), sentence(inputs[b, 1 + i], model.C(k))
                if model.temporal_encoding:
                    m_i, c_i = m_i + model.T_A(k)[n - 1 - i], c_i + model.T_C(k)[n - 1 - i]
                m.append(m_i)
                c.append(c_i)
            scores = torch.stack([u @ m_i for m_i in m])
            p = scores if linear else torch.softmax(scores, 0)
            o = sum(p[i] * c[i] for i in range(n))
            u = o + (u if model.H is None else model.H @ u)
            hops.append(torch.cat([p, torch.zeros(inputs.shape[1] - 1 - n, dtype=F64)]))
        logits.append(model.W() @ u)
        attention.append(torch.stack(hops))
    return torch.stack(logits), torch.stack(attention)


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
@pytest.mark.parametrize("pe", [False, True])
@pytest.mark.parametrize("temporal", [False, True])
def test_forward_is_the_papers_equations(tying, pe, temporal):
    model = MemN2N(7, embedding_size=5, hops=3, memory_size=6, position_encoding=pe, temporal_encoding=temporal,
                   tying=tying, init_std=0.5, dtype=F64)
    inputs, lengths = tiny_batch()
    logits, state = model(inputs, lengths=lengths)
    expected_logits, expected_attention = oracle(model, inputs, lengths)
    assert state is None
    assert_exact(logits, expected_logits)
    assert_exact(model.attention(inputs, lengths), expected_attention)


@pytest.mark.parametrize("pe", [False, True])
def test_linear_start_removes_the_softmax_until_ended(pe):
    model = MemN2N(7, embedding_size=4, hops=2, memory_size=6, position_encoding=pe, linear_start=True,
                   init_std=0.5, dtype=F64)
    inputs, lengths = tiny_batch()
    expected_logits, expected_attention = oracle(model, inputs, lengths, linear=True)
    assert_exact(model(inputs, lengths=lengths)[0], expected_logits)
    assert_exact(model.attention(inputs, lengths), expected_attention)
    assert not torch.allclose(expected_attention.sum(-1), torch.ones(3, 2, dtype=F64))  # really unnormalised
    model.end_linear_start()
    assert_exact(model(inputs, lengths=lengths)[0], oracle(model, inputs, lengths)[0])


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_gradcheck(tying):
    model = MemN2N(5, embedding_size=3, hops=2, memory_size=4, position_encoding=True, tying=tying, dtype=F64)
    inputs, lengths = tiny_batch(batch=2, rows=3, words=3, vocabulary=5)
    names = [name for name, _ in model.named_parameters()]

    def function(*parameters):
        return functional_call(model, dict(zip(names, parameters)), (inputs,), {"lengths": lengths})[0]

    assert gradcheck(function, tuple(p.detach().clone().requires_grad_() for p in model.parameters()),
                     eps=1e-6, atol=1e-7, rtol=1e-5)


def test_adjacent_tying_shares_the_tensors():
    model = MemN2N(9, embedding_size=4, hops=3, memory_size=5)
    for k in (1, 2):
        assert model.A(k + 1) is model.C(k) and model.T_A(k + 1) is model.T_C(k)
    assert model.B() is model.A(1) and model.W() is model.C(3)
    assert len({id(model.A(k)) for k in (1, 2, 3)}) == 3
    assert sum(p.numel() for p in model.parameters()) == 4 * 9 * 4 + 4 * 5 * 4  # K + 1 embeddings, K + 1 T's
    # a gradient through C^1 lands on the same tensor as A^2's
    model.C(1).sum().backward()
    assert model.A(2).grad is not None and torch.all(model.A(2).grad == 1)


def test_layerwise_tying_shares_across_hops_and_adds_H():
    model = MemN2N(9, embedding_size=4, hops=3, memory_size=5, tying="layerwise")
    assert all(model.A(k) is model.A(1) and model.C(k) is model.C(1) for k in (2, 3))
    assert model.B() is not model.A(1) and model.W() is not model.C(3)
    assert model.H.shape == (4, 4)
    assert sum(p.numel() for p in model.parameters()) == 4 * 9 * 4 + 2 * 5 * 4 + 16


def test_position_encoding_matrix_is_the_formula():
    J, L, d = 5, 7, 4
    l = position_encoding(torch.tensor(J), L, d, F64)
    for j in range(1, L + 1):
        for k in range(1, d + 1):
            expected = (1 - j / J) - (k / d) * (1 - 2 * j / J) if j <= J else 0.0
            assert math.isclose(float(l[j - 1, k - 1]), expected, abs_tol=1e-12)


def test_padded_memories_get_zero_attention_and_padding_changes_nothing():
    model = MemN2N(7, embedding_size=4, hops=3, memory_size=12, position_encoding=True, dtype=F64)
    inputs, lengths = tiny_batch()
    logits = model(inputs, lengths=lengths)[0]
    attention = model.attention(inputs, lengths)
    padded_rows = (torch.arange(4) >= lengths.unsqueeze(1)).unsqueeze(1).expand_as(attention)
    assert torch.all(attention[padded_rows] == 0)
    # more padding rows (filled with junk words past each length) and longer padded sentences
    wider = torch.zeros(3, 1 + 9, 6, dtype=torch.long)
    wider[:, :5, :4] = inputs
    junk = torch.randint(1, 7, (3, 9, 6)) * (torch.arange(9) >= lengths.unsqueeze(1)).unsqueeze(-1)
    wider[:, 1:] += junk
    assert_exact(model(wider, lengths=lengths)[0], logits)
    assert torch.all(model.attention(wider, lengths)[:, :, 4:] == 0)


def test_temporal_ages_put_the_most_recent_sentence_first():
    ages = sentence_ages(torch.tensor([3, 1, 0]), 4)
    assert ages.tolist() == [[2, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # the model adds T_A row 0 to the newest sentence: every word embedded as e_1 (B = A^1), T_A(i) = i e_1
    model = MemN2N(7, embedding_size=4, hops=1, memory_size=5, dtype=F64)
    with torch.no_grad():
        model.A(1).zero_()
        model.A(1)[:, 0] = 1.0  # u = e_1 (one question word), m_i = (1 + age_i) e_1
        model.T_A(1).copy_(torch.arange(5, dtype=F64).unsqueeze(1) * torch.tensor([1.0, 0, 0, 0], dtype=F64))
    inputs = torch.tensor([[[3, 0], [2, 0], [4, 0], [5, 0]]])
    model.linear_start = True  # raw scores: u · m_i = 1 + age_i
    assert model.attention(inputs, torch.tensor([3]))[0, 0].tolist() == [3.0, 2.0, 1.0]


def test_random_noise_spreads_the_ages_in_order_at_training_time_only():
    lengths = torch.tensor([20, 9, 1, 0])
    for _ in range(20):
        ages = sentence_ages(lengths, 20, random_noise=0.1)
        for b, n in enumerate(lengths.tolist()):
            real = ages[b, :n].tolist()
            assert real == sorted(real, reverse=True) and len(set(real)) == n  # order kept, distinct
            assert all(0 <= a < n + max(math.ceil(0.1 * n) - 1, 0) for a in real)  # e < ⌈0.1 n⌉ empty slots
            assert ages[b, n:].eq(0).all()
    draws = {tuple(sentence_ages(lengths, 20, random_noise=0.1)[0].tolist()) for _ in range(20)}
    assert len(draws) > 1
    assert sentence_ages(lengths, 20, random_noise=0.1)[1, :9].tolist() == list(range(8, -1, -1))  # n <= 10: none
    model = MemN2N(7, embedding_size=4, hops=2, memory_size=6, random_noise=0.1, dtype=F64)
    inputs, lengths = tiny_batch(rows=5)
    model.eval()
    assert_exact(model(inputs, lengths=lengths)[0], oracle(model, inputs, lengths)[0])


def test_linear_start_rule_ends_when_validation_loss_stops_decreasing():
    rule = LinearStart()
    assert [rule.should_end(v) for v in (3.0, 2.0, 1.5, 1.5)] == [False, False, False, True]
    assert LinearStart(max_validations=2).should_end(5.0) is False
    fixed = LinearStart(max_validations=3, on_stall=False)
    assert [fixed.should_end(v) for v in (1.0, 2.0, 3.0)] == [False, False, True]


def test_rejects_inputs_out_of_contract():
    model = MemN2N(7, memory_size=3)
    with pytest.raises(ValueError, match="inputs"):
        model(torch.zeros(2, 5, 3, dtype=torch.long))  # 4 story rows > memory_size
    with pytest.raises(ValueError, match="inputs"):
        model(torch.full((2, 3, 3), 7))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.zeros(2, 3, 3, dtype=torch.long), lengths=torch.tensor([3, 1]))
    with pytest.raises(ValueError, match="tying"):
        MemN2N(7, tying="none")


def test_learns_which_sentence_answers_with_the_trainer(tmp_path):
    """One hop, adjacent tying, temporal encoding: the answer is the place in the newest sentence about the
    asked person. Linear start ends by the validation rule (at most two validations) inside the Trainer."""
    task = SyntheticStories(rows=6)
    model = MemN2N(NUM_WORDS, embedding_size=16, hops=1, memory_size=6, linear_start=True)
    callback = LinearStartCallback(LinearStart(max_validations=2))
    config = TrainConfig(steps=200, lr=0.02, optimizer="adam", clip_norm=40.0, eval_every=50, checkpoint_every=0,
                         progress=False, device="cpu", log_every=50)
    Trainer(model, task, config, tmp_path, callbacks=[callback]).fit()
    assert callback.ended_at is not None and not model.linear_start
    model.eval()
    with torch.no_grad():
        error = answer_error(model(task.test.inputs, lengths=task.test.lengths)[0], task.test)
    assert error < 0.05  # chance: 3/4 wrong (four places)
