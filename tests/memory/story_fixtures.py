"""Tiny synthetic stories in the bAbI batch layout, for the memory networks' tests.

Words: 0 padding, 1 unknown, then people, places and objects. A sentence is two words, "person place" (a
move) or "person object" (a pick-up); the question is one word.

- one fact: "where is P" asked as (P,): the place of P's most recent move; supporting: that move.
- two facts: "where is O" asked as (O,): the place of the most recent move of the person who last picked
  O up; supporting: that pick-up and that move (in story order).
"""
from __future__ import annotations

import random
from typing import Iterator

import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch, Task, step_generator

PEOPLE, PLACES, OBJECTS = 3, 4, 2
FIRST_PERSON, FIRST_PLACE = 2, 2 + PEOPLE
FIRST_OBJECT = FIRST_PLACE + PLACES
NUM_WORDS = FIRST_OBJECT + OBJECTS


def story(rng: random.Random, rows: int, two_facts: bool) -> tuple[list[list[int]], list[int], int, list[int]]:
    """One story: (sentences, question, answer, supporting rows in story order)."""
    while True:
        n = rng.randint(2, rows)
        sentences = []
        for _ in range(n):
            person = FIRST_PERSON + rng.randrange(PEOPLE)
            if two_facts and rng.random() < 0.3:
                sentences.append([person, FIRST_OBJECT + rng.randrange(OBJECTS)])
            else:
                sentences.append([person, FIRST_PLACE + rng.randrange(PLACES)])

        def last(test) -> int | None:
            found = [i for i, s in enumerate(sentences) if test(s)]
            return found[-1] if found else None

        if not two_facts:
            person = FIRST_PERSON + rng.randrange(PEOPLE)
            move = last(lambda s: s[0] == person)
            if move is not None:
                return sentences, [person], sentences[move][1], [move]
            continue
        obj = FIRST_OBJECT + rng.randrange(OBJECTS)
        pick = last(lambda s: s[1] == obj)
        if pick is None:
            continue
        holder = sentences[pick][0]
        move = last(lambda s: s[0] == holder and s[1] < FIRST_OBJECT)
        if move is not None:
            return sentences, [obj], sentences[move][1], sorted([pick, move])


def story_batch(count: int, seed: int, *, rows: int = 6, two_facts: bool = False) -> Batch:
    """``count`` stories: inputs (B, 1 + rows, 2), targets (B, 1 + K) with K = 2 if ``two_facts`` else 1."""
    rng = random.Random(seed)
    facts = 2 if two_facts else 1
    inputs = torch.zeros(count, 1 + rows, 2, dtype=torch.long)
    targets = torch.full((count, 1 + facts), -1, dtype=torch.long)
    lengths = torch.zeros(count, dtype=torch.long)
    for b in range(count):
        sentences, question, answer, supporting = story(rng, rows, two_facts)
        inputs[b, 0, :1] = torch.tensor(question)
        inputs[b, 1:1 + len(sentences)] = torch.tensor(sentences)
        lengths[b] = len(sentences)
        targets[b, 0] = answer
        targets[b, 1:] = torch.tensor(supporting)
    return Batch(inputs, targets, lengths)


class SyntheticStories(Task):
    """The stories above as a :class:`Task` with answer cross-entropy (logits (B, V)), for the Trainer: training
    batches drawn from a pool of ``pool`` stories, a test set of 512 others."""

    name = "synthetic-stories"

    def __init__(self, *, two_facts: bool = False, rows: int = 6, batch_size: int = 32, pool: int = 2048,
                 seed: int = 0) -> None:
        self.batch_size, self.seed = batch_size, seed
        self.pool = story_batch(pool, 2 * seed, rows=rows, two_facts=two_facts)
        self.test = story_batch(512, 2 * seed + 1, rows=rows, two_facts=two_facts)

    def train_batch(self, step: int) -> Batch:
        rows = torch.randint(self.pool.inputs.shape[0], (self.batch_size,), generator=step_generator(self.seed, step))
        return Batch(self.pool.inputs[rows], self.pool.targets[rows], self.pool.lengths[rows])

    def eval_batches(self, split: str) -> Iterator[Batch]:
        yield self.test

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        return nn.functional.cross_entropy(outputs, batch.targets[:, 0], reduction="sum"), batch.targets.shape[0]

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        return {"loss": total_loss / count}

    def baselines(self) -> dict[str, float]:
        return {}


def answer_error(logits: Tensor, batch: Batch) -> float:
    """The fraction of wrong argmax answers."""
    return float((logits.argmax(-1) != batch.targets[:, 0]).double().mean())
