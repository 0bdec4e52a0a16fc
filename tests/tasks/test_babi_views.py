"""The bAbI task's views: strong supervision (MemNN's margin loss through the recnets Trainer; answers that
never read the facts) and flat word sequences for the LSTM baseline."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.memory.memnn import MemNN, margin_ranking_loss
from recnets.nets.story_lstm import story_lstm
from recnets.tasks.babi import BabiConfig, BabiTask, flat_tokens
from recnets.tasks.babi_views import FlatStoryBabiTask, StronglySupervisedBabiTask
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

CONFIG = BabiConfig(task=2, train_examples=80, test_examples=40, batch_size=16)


def test_strongly_supervised_task_trains_memnn_with_the_trainer(tmp_path):
    task = StronglySupervisedBabiTask(CONFIG)
    model = MemNN(task.num_words, hops=task.max_supporting, embedding_size=16)
    batch = task.train_batch(0)
    outputs, _ = model(batch.inputs, lengths=batch.lengths, targets=batch.targets)
    total, count = task.loss(outputs, batch)
    assert count == 16 and torch.equal(total, margin_ranking_loss(outputs.supervised).sum())
    with pytest.raises(ValueError, match="outputs"):
        task.loss(torch.zeros(16, task.num_words), batch)
    config = TrainConfig(steps=20, lr=0.01, optimizer="sgd", clip_norm=10.0, eval_every=10, checkpoint_every=0,
                         progress=False, device="cpu", loss_reduction="sum")
    result = Trainer(model, task, config, tmp_path).fit()
    assert math.isfinite(result["best"]["loss"])
    error = task.answer_error(model, "test")
    # the answers come from the hops the model chose: the same error with the targets hidden
    model.eval()
    wrong = 0
    for batch in task.eval_batches("test"):
        answers = model(batch.inputs, lengths=batch.lengths)[0].answer.argmax(-1)
        wrong += int((answers != batch.targets[:, 0]).sum())
    assert error == wrong / 40
    assert set(task.baselines()) == {"majority_error", "question_only_error", "last_location_error"}


def test_flat_story_task_batches_the_words_in_order_for_the_lstm(tmp_path):
    flat, base = FlatStoryBabiTask(CONFIG), BabiTask(CONFIG)
    for step in (0, 7):
        tokens, lengths = flat_tokens(base.train_batch(step))
        batch = flat.train_batch(step)
        assert torch.equal(batch.lengths, lengths) and batch.inputs.shape[1] == int(lengths.max())
        assert torch.equal(batch.inputs, tokens[:, :batch.inputs.shape[1]])
        assert torch.equal(batch.targets, base.train_batch(step).targets)
    rows = sum(b.inputs.shape[0] for b in flat.eval_batches("test"))
    assert rows == 40
    model = story_lstm(flat.num_words, embedding_size=8, hidden_size=8)
    config = TrainConfig(steps=10, lr=0.01, eval_every=5, checkpoint_every=0, progress=False, device="cpu")
    result = Trainer(model, flat, config, tmp_path).fit()
    assert math.isfinite(result["best"]["loss"])
    assert 0.0 <= flat.answer_error(model, "test") <= 1.0
