"""memn2n-babi: the paper's recipe in the full settings, the learning-rate schedule, linear start ending inside
the training loop, the best run chosen by training error, every job run once, and the error bars' PNG."""
from __future__ import annotations

import torch

from recnets.experiments import memn2n_babi as experiment
from recnets.experiments.babi_pictures import plot_errors, short_questions
from recnets.memory.memn2n import MemN2N
from recnets.tasks.babi import BabiConfig, BabiTask, generate_examples


def test_full_settings_are_the_papers_recipe():
    config = experiment.settings(quick=False)
    assert config.tasks == (1, 2, 3)
    assert (config.data.train_examples, config.data.valid_fraction, config.data.test_examples,
            config.data.memory_size, config.data.batch_size) == (1000, 0.1, 1000, 50, 32)
    for label in (experiment.BOW, experiment.PE_LS_RN):
        recipe = config.recipes[label]
        assert (recipe.epochs, recipe.lr, recipe.halve_every, recipe.clip_norm, recipe.optimizer,
                recipe.linear_start_lr, recipe.linear_start_epochs) == (100, 0.01, 25, 40.0, "sgd", 0.005, 20)
        assert len(config.seeds[label]) >= 3
    task = BabiTask(BabiConfig(task=1, train_examples=40, test_examples=10))
    model = experiment._model(experiment.PE_LS_RN, task)
    assert isinstance(model, MemN2N) and (model.embedding_size, model.hops, model.memory_size) == (20, 3, 50)
    assert model.position_encoding and model.linear_start and model.random_noise == 0.1
    assert model.tying == "adjacent" and model.temporal_encoding


def test_learning_rate_halves_every_25_epochs_and_linear_start_uses_its_own():
    recipe = experiment.settings(quick=False).recipes[experiment.BOW]
    assert [experiment.epoch_lr(recipe, epoch, False) for epoch in (0, 24, 25, 50, 99)] == [
        0.01, 0.01, 0.005, 0.0025, 0.00125]
    assert experiment.epoch_lr(recipe, 60, True) == 0.005


def test_linear_start_ends_inside_the_training_loop():
    task = BabiTask(BabiConfig(task=1, train_examples=60, test_examples=10, batch_size=16))
    torch.manual_seed(0)
    model = MemN2N(task.num_words, embedding_size=8, hops=2, memory_size=50, linear_start=True)
    recipe = experiment.Recipe(epochs=3, lr=0.01, clip_norm=40.0, linear_start_epochs=1, linear_start_on_stall=True)
    details = experiment.train(model, task, recipe)
    assert details == {"linear_start_epochs": 1, "steps": 3 * 4, "linear_start": False}
    assert not model.linear_start


def test_best_run_is_chosen_by_training_error_not_test_error():
    runs = [{"model": "m", "task": 2, "seed": 0, "train": 0.10, "test": 0.05},
            {"model": "m", "task": 2, "seed": 1, "train": 0.02, "test": 0.30},
            {"model": "m", "task": 2, "seed": 2, "train": 0.02, "test": 0.20},
            {"model": "m", "task": 1, "seed": 0, "train": 0.00, "test": 0.00}]
    summary = experiment.best_and_mean(runs, "m", 2)
    assert summary["best"]["seed"] == 1 and summary["runs"] == 3
    assert abs(summary["mean_test"] - 0.55 / 3) < 1e-12


def test_every_job_once():
    config = experiment.settings(quick=False)
    jobs = experiment._jobs(config)
    expected = {(label, task, seed) for task in config.tasks for label in config.models for seed in config.seeds[label]}
    assert len(jobs) == len(expected) and set(jobs) == expected


def test_error_bars_and_short_questions(tmp_path):
    errors = {(label, task): 10.0 * task for label in experiment.MODELS for task in (1, 2, 3)}
    paper = {label: experiment.PAPER_ERRORS[label][0] for label in experiment.MODELS}
    path = plot_errors(errors, paper, tmp_path / "errors.png")
    assert path.stat().st_size > 1000 and path.with_suffix(".json").exists()
    examples = generate_examples(2, 30, seed=1)
    chosen = short_questions(examples, 3)
    longest_chosen = max(len(examples[i].story) for i in chosen)
    assert len(chosen) == 3 and sum(len(e.story) < longest_chosen for e in examples) <= 2
