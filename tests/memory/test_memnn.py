"""The strongly supervised memory network: scores as the paper's bilinear forms over explicit feature vectors,
the hops as the paper's loop over memories, the margin ranking loss against a brute-force sum (float64), and
hops that pick the supporting facts after a short training run on synthetic stories."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact
from recnets.memory.memnn import MARGIN, MemNN, margin_ranking_loss, write_time_features
from story_fixtures import NUM_WORDS, SyntheticStories, answer_error, story_batch

F64 = torch.float64


def bag(ids, V):
    vector = torch.zeros(V, dtype=F64)
    for w in ids.tolist():
        if w != 0:
            vector[w] += 1
    return vector


def phi_x(question, facts, V):
    """Φ_x([x, facts]) in D = 3V + 3: question words, chosen-fact words, (scored memory), (time)."""
    return torch.cat([bag(question, V), sum((bag(f, V) for f in facts), torch.zeros(V, dtype=F64)),
                      torch.zeros(V + 3, dtype=F64)])


def phi_y(sentence, V):
    return torch.cat([torch.zeros(2 * V, dtype=F64), bag(sentence, V), torch.zeros(3, dtype=F64)])


def phi_t(x_time, y_time, other_time, V):
    return torch.cat([torch.zeros(3 * V, dtype=F64),
                      torch.tensor([x_time < y_time, x_time < other_time, y_time < other_time], dtype=F64)])


def s_Ot(model, question, facts, x_time, story, y, other):  # noqa: N802 - the paper's symbol
    """Φ_x(x)^T U_O^T U_O (Φ_y(y) - Φ_y(y') + Φ_t(x, y, y')), Weston et al. 2014, Section 3.4."""
    V, U = model.num_words, model.U_O
    right = phi_y(story[y], V) - phi_y(story[other], V) + phi_t(x_time, y, other, V)
    return phi_x(question, facts, V) @ U.T @ U @ right


def s_R(model, question, facts, word):  # noqa: N802
    V, U = model.num_words, model.U_R
    word_vector = torch.zeros(3 * V, dtype=F64)
    word_vector[2 * V + word] = 1
    return phi_x(question, facts, V)[:3 * V] @ U.T @ U @ word_vector


def loop_over_memories(model, question, facts, x_time, story, candidates):
    """The paper's argmax replaced by a loop: keep the winner unless s_Ot(x, winner, challenger) <= 0."""
    winner = None
    for i in candidates:
        if winner is None or s_Ot(model, question, facts, x_time, story, winner, i) <= 0:
            winner = i
    return winner


def tiny(seed=0):
    batch = story_batch(4, seed, rows=5, two_facts=True)
    model = MemNN(NUM_WORDS, hops=2, embedding_size=6, init_std=0.5, dtype=F64)
    return model, batch


def test_write_time_features():
    features = write_time_features(torch.tensor([5, 1]), torch.tensor([2, 3]), torch.tensor([4, 0]))
    assert features.tolist() == [[False, False, True], [True, False, False]]


@torch.no_grad()
def test_scores_are_the_papers_bilinear_forms():
    model, batch = tiny()
    b, story, question = 1, batch.inputs[1, 1:], batch.inputs[1, 0]
    n, V = int(batch.lengths[b]), NUM_WORDS
    facts = [story[0]]
    question_bag, facts_bag = bag(question, V).unsqueeze(0), bag(story[0], V).unsqueeze(0)
    x_vector = model.input_vector(model.U_O, question_bag, facts_bag)
    match = model.match_scores(x_vector, model.memory_vectors(torch.stack([bag(s, V) for s in story]).unsqueeze(0)))
    for i in range(n):  # s_O(x, y) = Φ_x(x)^T U_O^T U_O Φ_y(y)
        expected = phi_x(question, facts, V) @ model.U_O.T @ model.U_O @ phi_y(story[i], V)
        assert abs(float(match[0, i] - expected)) < 1e-10
    time_weights, x_time = model.time_weights(x_vector), torch.tensor([0])
    ys, others = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    preference = model.preference(match, time_weights, x_time, ys.unsqueeze(0), others.unsqueeze(0))[0]
    expected = torch.stack([torch.stack([s_Ot(model, question, facts, 0, story, y, o) for o in range(n)])
                            for y in range(n)])
    assert_exact(preference, expected)
    answer = model.answer_scores(question_bag, facts_bag)[0]
    assert_exact(answer[1:], torch.stack([s_R(model, question, facts, w) for w in range(1, V)]))
    assert float(answer[0]) == torch.finfo(F64).min  # the padding word is never an answer


@torch.no_grad()
def test_hops_are_the_loop_over_memories_and_never_read_the_targets():
    model, batch = tiny(1)
    model.eval()
    output, _ = model(batch.inputs, lengths=batch.lengths)
    with_targets, _ = model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
    assert torch.equal(output.hops, with_targets.hops) and torch.equal(output.answer, with_targets.answer)
    for b in range(batch.inputs.shape[0]):
        story, question, n = batch.inputs[b, 1:], batch.inputs[b, 0], int(batch.lengths[b])
        facts, x_time = [], n
        for h in range(model.hops):
            winner = loop_over_memories(model, question, facts, x_time, story, range(n))
            assert int(output.hops[b, h]) == winner
            facts.append(story[winner])
            x_time = winner
        scores = torch.stack([s_R(model, question, facts, w) for w in range(1, NUM_WORDS)])
        assert int(output.answer[b].argmax()) == 1 + int(scores.argmax())


@torch.no_grad()
def test_margin_ranking_loss_is_the_brute_force_sum():
    model, batch = tiny(2)
    output, _ = model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
    assert output.answer is None  # training mode: only the supervised scores
    loss = margin_ranking_loss(output.supervised)
    for b in range(batch.inputs.shape[0]):
        story, question, n = batch.inputs[b, 1:], batch.inputs[b, 0], int(batch.lengths[b])
        answer, remaining = int(batch.targets[b, 0]), sorted(batch.targets[b, 1:].tolist())
        facts, x_time, expected = [], n, torch.zeros((), dtype=F64)
        for h in range(model.hops):  # the hop's fact: the remaining supporting fact the model prefers
            f = loop_over_memories(model, question, facts, x_time, story, remaining)
            assert int(output.supervised.facts[b, h]) == f
            for other in range(n):
                if other != f:
                    expected = expected + torch.relu(MARGIN - s_Ot(model, question, facts, x_time, story, f, other))
                    expected = expected + torch.relu(MARGIN + s_Ot(model, question, facts, x_time, story, other, f))
            remaining.remove(f)
            facts.append(story[f])
            x_time = f
        for word in range(1, NUM_WORDS):
            if word != answer:
                expected = expected + torch.relu(MARGIN - s_R(model, question, facts, answer)
                                                 + s_R(model, question, facts, word))
        assert abs(float(loss[b] - expected)) < 1e-10


def test_a_hop_without_a_fact_is_not_supervised():
    model, batch = tiny(3)
    targets = batch.targets.clone()
    targets[:, 2] = -1  # one supporting fact only
    supervised = model(batch.inputs, lengths=batch.lengths, targets=targets)[0].supervised
    assert torch.all(supervised.facts[:, 1] == -1) and not supervised.negatives[:, 1].any()


def test_rejects_out_of_contract():
    model = MemNN(NUM_WORDS, hops=1)
    batch = story_batch(2, 0)
    with pytest.raises(ValueError, match="lengths"):
        model(batch.inputs, lengths=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="targets"):
        model(batch.inputs, lengths=batch.lengths, targets=batch.targets[:, :1])


def test_supervised_training_picks_the_supporting_facts():
    """Two facts (the pick-up of the asked object, then its carrier's last move, which may come before or
    after): after 300 SGD steps the hops find both facts at test time, with no supervision."""
    task = SyntheticStories(rows=6, two_facts=True)
    model = MemNN(NUM_WORDS, hops=2, embedding_size=20)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(300):
        batch = task.train_batch(step)
        output, _ = model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
        optimizer.zero_grad()
        margin_ranking_loss(output.supervised).mean().backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        output, _ = model(task.test.inputs, lengths=task.test.lengths)
    found = output.hops.sort(1).values == task.test.targets[:, 1:].sort(1).values
    assert float(found.all(1).double().mean()) > 0.95
    assert answer_error(output.answer, task.test) < 0.05  # chance: 3/4 wrong
