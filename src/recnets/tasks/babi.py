"""bAbI-style stories generated here from the definitions of Weston et al. 2015, and the task that batches them.

**The world.** Four actors (john, mary, sandra, daniel), six places (hallway, bathroom, kitchen, office,
garden, bedroom) and three objects (football, apple, milk). A story is a sequence of statements, each one
action that obeys the world's rules:

- move: "mary went to the kitchen" (went / journeyed / travelled / moved / went back to the P); an actor is
  in one place at a time and always moves to a different place; objects she holds move with her;
- pick up: "mary got the milk there" (got / grabbed / picked up / took the O there): only an actor whose
  place is known (she has moved), only an object held by nobody and lying where she is (an object not yet
  seen lies wherever it is first picked up: its starting place is drawn then, unobserved);
- drop: "mary dropped the milk" (dropped / discarded / put down / left the O): only what she holds; the
  object stays in her place.

Every story starts with every actor's place unknown. Questions come between statements; each question gives
one :class:`Example` whose ``story`` is every statement so far (questions are not statements), its answer
read off the simulated world and its supporting facts the statements that determine that answer:

- **1, single supporting fact**: "where is mary" -> her place; supporting: her last move. Two statements
  per question, five questions per story, moves only (as the original).
- **2, two supporting facts**: "where is the milk" -> its place. Held by A: A's last move and A's last
  pick-up of it (in story order, whichever came first). Lying where D dropped it: D's last move before the
  drop, and the drop. Asked only about objects that have been picked up.
- **3, three supporting facts**: "where was the milk before the kitchen" -> the kitchen is the object's
  place now, and the answer is the place it was in just before it was last brought there (objects change
  place only when carried). Supporting: the carrier's move that brought it to the kitchen, the carrier's
  move before that one (the answer's place), and the carrier's pick-up of the object before that arrival.
  Asked only about objects that have been carried to another place.
- **6, yes/no**: "is mary in the kitchen" -> yes / no (half each); supporting: her last move.
- **7, counting**: "how many objects is mary carrying" -> none / one / two / three; supporting: for every
  object she has handled, her last pick-up or drop of it. Asked only about actors who handled an object.
- **8, lists**: "what is mary carrying" -> "nothing", or the objects in alphabetical order joined by "_"
  ("apple_milk": one word, so every answer is one vocabulary word); supporting as task 7.

Story lengths: task 1 as the original (10 statements, 5 questions); tasks 2, 3, 6-8 draw the number of
statements before each question uniformly (2-12, 5-30, 2-6, 1-5, 1-5) and end a story after five questions
or at a length cap (80, 160, 40, 40, 40 statements), so tasks 2 and 3 have long stories (task 3: about 55
statements at question time on average, well over 100 for some). :class:`BabiTask` keeps only the last
``memory_size`` sentences (Sukhbaatar et al.: 50), and a question is asked only when all its supporting facts
lie in the last ``window`` = min(memory_size, 50) statements (otherwise the story goes on and asks later).

Shortcuts, measured by :meth:`BabiTask.baselines`: the "last mentioned location" heuristic
(:func:`last_place_answer`) and the memoryless one (the majority answer of each question,
:func:`question_only_answers`) both answer tasks 2 and 3 wrongly most of the time (tests/tasks/test_babi.py).

Deviations: the original generator's data are not available offline; this is our own simulation from the
paper's definitions, not a copy of its text or data. Sentences are lowercase word tuples without
punctuation; the verb lists and story lengths are ours; task 3 asks about the object's current place and the
last time it came there (the original's exact rule is not published in the paper); task 8 joins its list
into one word; questions are asked only when every supporting fact lies in the kept window (the original
allows supporting facts older than the 50 sentences MemN2N keeps). Tasks 4, 5 and 9-20 are not generated.

Book: 10.12 (explicit memory: a network stores the facts of a story and retrieves the relevant ones).
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from recnets.tasks.base import Batch, Task, step_generator

__all__ = ["Example", "generate_examples", "BabiConfig", "BabiTask", "flat_tokens", "last_place_answer",
           "question_only_answers", "heuristic_error", "TASKS", "ACTORS", "PLACES", "OBJECTS", "WINDOW"]

ACTORS = ("john", "mary", "sandra", "daniel")
PLACES = ("hallway", "bathroom", "kitchen", "office", "garden", "bedroom")
OBJECTS = ("football", "apple", "milk")
MOVE_VERBS = (("went",), ("journeyed",), ("travelled",), ("moved",), ("went", "back"))
GET_VERBS = (("got",), ("grabbed",), ("picked", "up"), ("took",))
DROP_VERBS = (("dropped",), ("discarded",), ("put", "down"), ("left",))
NUMBERS = ("none", "one", "two", "three")
WINDOW = 50  # supporting facts always lie in the last WINDOW statements (the memory of Sukhbaatar et al.)
PAD, UNK = 0, 1

Sentence = tuple[str, ...]


@dataclass(frozen=True)
class Example:
    """One question about a story.

    Attributes:
        story: the statements before the question, each a tuple of lowercase words.
        question: the question's words.
        answer: one word.
        supporting: indices into ``story`` of the supporting facts, in story order.
        task: the task number.
    """

    story: tuple[Sentence, ...]
    question: Sentence
    answer: str
    supporting: tuple[int, ...]
    task: int


@dataclass(frozen=True)
class _Plan:
    """How a task's stories are drawn: statements before each question (uniform, inclusive), the length cap,
    the chance that a statement is a pick-up or a drop (when one is possible; otherwise it is a move), and
    K, the most supporting facts of one question."""

    name: str
    gap: tuple[int, int]
    max_statements: int
    p_get: float
    p_drop: float
    max_supporting: int
    questions_per_story: int = 5


TASKS = {
    1: _Plan("single supporting fact", (2, 2), 10, 0.0, 0.0, 1),
    2: _Plan("two supporting facts", (2, 12), 80, 0.2, 0.15, 2),
    3: _Plan("three supporting facts", (5, 30), 160, 0.2, 0.1, 3),
    6: _Plan("yes/no questions", (2, 6), 40, 0.15, 0.1, 1),
    7: _Plan("counting", (1, 5), 40, 0.3, 0.2, len(OBJECTS)),
    8: _Plan("lists/sets", (1, 5), 40, 0.3, 0.2, len(OBJECTS)),
}


def _known_tasks() -> str:
    return ", ".join(str(number) for number in TASKS)


class _World:
    """The simulated world of one story: the true state, and for every fact the statement that told it."""

    def __init__(self) -> None:
        self.statements: list[Sentence] = []
        self.place: dict[str, str] = {}          # actor -> place (absent: unknown, never moved)
        self.last_move: dict[str, int] = {}      # actor -> index of her last move
        self.holder: dict[str, str] = {}         # object -> actor holding it
        self.dropped: dict[str, tuple[str, int, int]] = {}  # object -> (place, dropper's move before, drop)
        self.last_get: dict[str, int] = {}       # object -> index of its last pick-up
        self.history: dict[str, list[str]] = {}  # object -> the places it has been in, consecutive distinct
        self.arrival: dict[str, tuple[int, int, int]] = {}  # object -> (carrier's move before, pick-up, move in)
        self.handled: dict[str, dict[str, int]] = {}  # actor -> object -> her last pick-up or drop of it

    def move(self, actor: str, place: str, verb: Sentence) -> None:
        index = len(self.statements)
        for obj, holder in self.holder.items():
            if holder == actor:
                self.history[obj].append(place)
                self.arrival[obj] = (self.last_move[actor], self.last_get[obj], index)
        self.place[actor], self.last_move[actor] = place, index
        self.statements.append((actor, *verb, "to", "the", place))

    def get(self, actor: str, obj: str, verb: Sentence) -> None:
        index, place = len(self.statements), self.place[actor]
        history = self.history.setdefault(obj, [])
        if not history:
            history.append(place)
        self.holder[obj], self.last_get[obj] = actor, index
        self.dropped.pop(obj, None)
        self.handled.setdefault(actor, {})[obj] = index
        self.statements.append((actor, *verb, "the", obj, "there"))

    def drop(self, actor: str, obj: str, verb: Sentence) -> None:
        index = len(self.statements)
        del self.holder[obj]
        self.dropped[obj] = (self.place[actor], self.last_move[actor], index)
        self.handled[actor][obj] = index
        self.statements.append((actor, *verb, "the", obj))

    def act(self, rng: random.Random, plan: _Plan) -> None:
        """One random statement that obeys the rules: a pick-up or a drop with the plan's chances when one is
        possible, a move otherwise."""
        draw = rng.random()
        if draw < plan.p_get:
            options = [(actor, obj) for actor in ACTORS if actor in self.place for obj in OBJECTS
                       if obj not in self.holder and self._lies_at(obj, self.place[actor])]
            if options:
                self.get(*rng.choice(options), rng.choice(GET_VERBS))
                return
        elif draw < plan.p_get + plan.p_drop:
            options = sorted((actor, obj) for obj, actor in self.holder.items())
            if options:
                self.drop(*rng.choice(options), rng.choice(DROP_VERBS))
                return
        actor = rng.choice(ACTORS)
        self.move(actor, rng.choice([p for p in PLACES if p != self.place.get(actor)]), rng.choice(MOVE_VERBS))

    def _lies_at(self, obj: str, place: str) -> bool:
        return obj not in self.history or self.dropped[obj][0] == place


Question = tuple[Sentence, str, tuple[int, ...]]  # words, answer, supporting facts


def _where_actor(world: _World, rng: random.Random) -> list[Question]:
    return [(("where", "is", actor), world.place[actor], (world.last_move[actor],))
            for actor in ACTORS if actor in world.place]


def _where_object(world: _World, rng: random.Random) -> list[Question]:
    questions = []
    for obj in OBJECTS:
        if obj in world.holder:
            actor = world.holder[obj]
            place, support = world.place[actor], (world.last_move[actor], world.last_get[obj])
        elif obj in world.dropped:
            place, *support = world.dropped[obj]
        else:
            continue
        questions.append((("where", "is", "the", obj), place, tuple(sorted(support))))
    return questions


def _where_before(world: _World, rng: random.Random) -> list[Question]:
    return [(("where", "was", "the", obj, "before", "the", world.history[obj][-1]), world.history[obj][-2],
             tuple(sorted(world.arrival[obj]))) for obj in OBJECTS if obj in world.arrival]


def _yes_no(world: _World, rng: random.Random) -> list[Question]:
    questions = []
    for actor in ACTORS:
        if actor in world.place:
            truth = world.place[actor]
            asked = truth if rng.random() < 0.5 else rng.choice([p for p in PLACES if p != truth])
            questions.append((("is", actor, "in", "the", asked), "yes" if asked == truth else "no",
                              (world.last_move[actor],)))
    return questions


def _carried(world: _World) -> list[tuple[str, list[str], tuple[int, ...]]]:
    return [(actor, sorted(obj for obj in world.handled[actor] if world.holder.get(obj) == actor),
             tuple(sorted(world.handled[actor].values()))) for actor in ACTORS if actor in world.handled]


def _counting(world: _World, rng: random.Random) -> list[Question]:
    return [(("how", "many", "objects", "is", actor, "carrying"), NUMBERS[len(held)], support)
            for actor, held, support in _carried(world)]


def _listing(world: _World, rng: random.Random) -> list[Question]:
    return [(("what", "is", actor, "carrying"), "_".join(held) or "nothing", support)
            for actor, held, support in _carried(world)]


_QUESTIONS: dict[int, Callable[[_World, random.Random], list[Question]]] = {
    1: _where_actor, 2: _where_object, 3: _where_before, 6: _yes_no, 7: _counting, 8: _listing}


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_task(task: object) -> None:
    if isinstance(task, bool) or task not in TASKS:
        raise ValueError(f"task: expected one of {_known_tasks()}, got {task!r}")


def generate_examples(task: int, count: int, seed: int, *, window: int = WINDOW) -> list[Example]:
    """``count`` questions of bAbI-style task ``task``, from stories drawn with ``seed``.

    Stories are drawn one after another until ``count`` questions are asked (the last story may be cut short).
    Every question's supporting facts lie in the last ``window`` statements of its story.

    Args:
        task: a key of :data:`TASKS` (1, 2, 3, 6, 7, 8).
        count: the number of examples.
        seed: an integer; the same (task, count, seed) gives the same examples.
        window: the number of most recent statements that must hold every supporting fact (>= 10).

    Returns:
        the examples, in story order.
    """
    _check_task(task)
    _check_int("count", count, 0)
    _check_int("window", window, 10)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    rng, plan, ask = random.Random(f"babi/{task}/{seed}"), TASKS[task], _QUESTIONS[task]
    examples: list[Example] = []
    while len(examples) < count:
        world, asked = _World(), 0
        wait = rng.randint(*plan.gap)
        while asked < plan.questions_per_story and len(world.statements) < plan.max_statements:
            world.act(rng, plan)
            wait -= 1
            if wait > 0:
                continue
            oldest = len(world.statements) - window
            options = [q for q in ask(world, rng) if q[2][0] >= oldest]
            if not options:
                continue  # ask as soon as a question becomes possible
            words, answer, support = rng.choice(options)
            examples.append(Example(tuple(world.statements), words, answer, support, task))
            asked, wait = asked + 1, rng.randint(*plan.gap)
            if len(examples) == count:
                break
    return examples


def last_place_answer(example: Example) -> str | None:
    """The "last mentioned location" heuristic: the last place word of the story (None if it names none)."""
    for sentence in reversed(example.story):
        for word in reversed(sentence):
            if word in PLACES:
                return word
    return None


def _majority(answers: Sequence[str]) -> str:
    counts = Counter(answers)
    return min(counts, key=lambda word: (-counts[word], word))


def question_only_answers(train: Sequence[Example]) -> Callable[[Example], str]:
    """The memoryless heuristic fitted on ``train``: the majority answer of each question (ties by word), the
    overall majority for a question never seen in ``train``."""
    if not train:
        raise ValueError("train: expected at least one example, got none")
    by_question: dict[Sentence, list[str]] = {}
    for example in train:
        by_question.setdefault(example.question, []).append(example.answer)
    best = {question: _majority(answers) for question, answers in by_question.items()}
    overall = _majority([example.answer for example in train])
    return lambda example: best.get(example.question, overall)


def heuristic_error(answer_of: Callable[[Example], str | None], examples: Sequence[Example]) -> float:
    """The fraction of ``examples`` that ``answer_of`` answers wrongly."""
    if not examples:
        raise ValueError("examples: expected at least one example, got none")
    return sum(answer_of(example) != example.answer for example in examples) / len(examples)


@dataclass(frozen=True)
class BabiConfig:
    """A bAbI-style task's data and batching.

    Attributes:
        task: the task number, a key of :data:`TASKS`.
        train_examples: questions generated for training; the validation split is held out of these.
        valid_fraction: the share of ``train_examples`` held out for validation (Sukhbaatar et al.: 10%).
        test_examples: questions of the test split (drawn from other stories).
        memory_size: M, the most recent story sentences kept (Sukhbaatar et al.: 50).
        batch_size: B, questions per training batch.
        seed: seeds the stories and the order of the training epochs.
        eval_batch_size: questions per held-out batch.
    """

    task: int = 1
    train_examples: int = 1000
    valid_fraction: float = 0.1
    test_examples: int = 1000
    memory_size: int = 50
    batch_size: int = 32
    seed: int = 0
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        _check_task(self.task)
        _check_int("train_examples", self.train_examples, 2)
        _check_int("test_examples", self.test_examples, 1)
        _check_int("memory_size", self.memory_size, 10)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("eval_batch_size", self.eval_batch_size, 1)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: expected an integer, got {self.seed!r}")
        fraction = self.valid_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise ValueError(f"valid_fraction: expected a number in (0, 1), got {fraction!r}")
        held = self.valid_size
        if not 1 <= held < self.train_examples:
            raise ValueError(f"valid_fraction: expected 1 to {self.train_examples - 1} held-out examples of "
                             f"{self.train_examples}, got {held} (valid_fraction={fraction})")

    @property
    def valid_size(self) -> int:
        """The number of held-out validation examples, round(valid_fraction · train_examples)."""
        return int(round(self.valid_fraction * self.train_examples))


SPLITS = ("train", "valid", "test")
_EPOCH_STREAM = 2**61  # step numbers of the epoch shuffles, apart from any training or held-out stream


class BabiTask(Task):
    """Questions about bAbI-style stories, batched for memory networks: one answer word per question.

    Args:
        config: a :class:`BabiConfig`.

    The training and test stories come from :func:`generate_examples` with seeds derived from
    ``config.seed``; the last ``valid_size`` training examples are held out as the validation split (whole
    stories but at most one, since examples come in story order). The vocabulary is every word of the kept
    training stories, questions and answers, sorted, after ``<pad>`` (id 0) and ``<unk>`` (id 1); words
    never seen in training read as ``<unk>``. Stories are generated so that every supporting fact lies in
    the last ``min(memory_size, 50)`` sentences, so always inside the kept window.

    Shapes:
        ``Batch.inputs`` (B, 1 + M, L) int64: row 0 the question, rows 1..M the kept story sentences in order
        (the most recent ``memory_size``; M is ``memory_size`` in every batch), words and rows padded with 0;
        L is the longest sentence or question of the task. ``Batch.lengths`` (B,): story sentences kept.
        ``Batch.targets`` (B, 1 + K) int64: column 0 the answer's word id, columns 1..K the supporting
        sentences' 0-based positions in the kept window (row r + 1 of ``inputs``), in story order, -1 padded.
        Model outputs: (B, V) answer logits.

    Book: 10.12.
    """

    def __init__(self, config: BabiConfig | None = None) -> None:
        config = BabiConfig() if config is None else config
        if not isinstance(config, BabiConfig):
            raise TypeError(f"config: expected BabiConfig, got {type(config).__name__}")
        self.config, self.seed, self.name = config, config.seed, f"babi{config.task}"
        window = min(config.memory_size, WINDOW)
        train = generate_examples(config.task, config.train_examples, _split_seed(config.seed, "train"),
                                  window=window)
        test = generate_examples(config.task, config.test_examples, _split_seed(config.seed, "test"), window=window)
        held = config.valid_size
        self._examples = {"train": train[:-held], "valid": train[-held:], "test": test}
        words = {word for example in self._examples["train"] for sentence in (*example.story, example.question)
                 for word in sentence} | {example.answer for example in self._examples["train"]}
        self.vocabulary = ["<pad>", "<unk>", *sorted(words)]
        self._ids = {word: index for index, word in enumerate(self.vocabulary)}
        self.max_supporting = TASKS[config.task].max_supporting
        self.memory_size = config.memory_size
        self.sentence_length = max(len(sentence) for split in SPLITS for example in self._examples[split]
                                   for sentence in (example.question, *example.story[-config.memory_size:]))
        self._batches = {split: self.batch_of(self._examples[split]) for split in SPLITS}
        self._permutation: tuple[int, Tensor] | None = None

    @property
    def num_words(self) -> int:
        """V, the vocabulary size (padding and ``<unk>`` included)."""
        return len(self.vocabulary)

    def word_id(self, word: str) -> int:
        """The id of ``word``; 1 (``<unk>``) for a word the training split never used."""
        return self._ids.get(word, UNK)

    def examples(self, split: str) -> list[Example]:
        """The examples of ``split`` ("train", "valid" or "test"), in the order of its batches' rows."""
        _check_split(split, SPLITS)
        return list(self._examples[split])

    def batch_of(self, examples: Sequence[Example]) -> Batch:
        """The batch of ``examples`` (any examples: words outside the vocabulary read as ``<unk>``).

        Raises ValueError if a supporting fact lies outside the kept window, or a sentence is longer than L.
        """
        M, K, L = self.memory_size, self.max_supporting, self.sentence_length
        rows: dict[Sentence, int] = {(): 0}
        table: list[list[int]] = [[PAD] * L]

        def row_of(sentence: Sentence) -> int:
            if sentence not in rows:
                if len(sentence) > L:
                    raise ValueError(f"examples: expected sentences of at most {L} words, got {' '.join(sentence)!r}")
                rows[sentence] = len(table)
                table.append([self.word_id(word) for word in sentence] + [PAD] * (L - len(sentence)))
            return rows[sentence]

        layout = np.zeros((len(examples), 1 + M), dtype=np.int64)         # (B, 1 + M) rows of the table
        targets = np.full((len(examples), 1 + K), -1, dtype=np.int64)      # (B, 1 + K)
        lengths = np.zeros(len(examples), dtype=np.int64)                  # (B,)
        for index, example in enumerate(examples):
            kept = example.story[-M:]
            first = len(example.story) - len(kept)
            layout[index, 0] = row_of(example.question)
            layout[index, 1:1 + len(kept)] = [row_of(sentence) for sentence in kept]
            lengths[index] = len(kept)
            if len(example.supporting) > K or any(fact < first for fact in example.supporting):
                raise ValueError(f"examples[{index}].supporting: expected at most {K} facts within the last {M} "
                                 f"sentences ({first}..), got {example.supporting}")
            targets[index, 0] = self.word_id(example.answer)
            targets[index, 1:1 + len(example.supporting)] = [fact - first for fact in example.supporting]
        inputs = torch.from_numpy(np.asarray(table, dtype=np.int64)[layout])  # (B, 1 + M, L)
        return Batch(inputs, torch.from_numpy(targets), torch.from_numpy(lengths))

    def _epoch_order(self, epoch: int) -> Tensor:
        if self._permutation is None or self._permutation[0] != epoch:
            size = len(self._examples["train"])
            generator = step_generator(self.seed, _EPOCH_STREAM + epoch)
            self._permutation = (epoch, torch.randperm(size, generator=generator))
        return self._permutation[1]

    def train_indices(self, step: int) -> list[int]:
        """The training examples of batch ``step``: positions step·B .. step·B + B - 1 of the endless sequence
        of epochs, each a fresh permutation of the training split drawn from ``(seed, epoch)``."""
        _check_int("step", step, 0)
        size, B = len(self._examples["train"]), self.config.batch_size
        indices = []
        for position in range(step * B, step * B + B):
            epoch, offset = divmod(position, size)
            indices.append(int(self._epoch_order(epoch)[offset]))
        return indices

    def train_batch(self, step: int) -> Batch:
        """Training batch ``step``: a pure function of ``(seed, step)`` (shuffled epochs)."""
        indices = torch.tensor(self.train_indices(step))
        batch = self._batches["train"]
        return Batch(batch.inputs[indices], batch.targets[indices], batch.lengths[indices])

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """The examples of ``split`` ("valid", "test" or "train") in order, ``eval_batch_size`` at a time."""
        _check_split(split, SPLITS)
        batch, rows = self._batches[split], self.config.eval_batch_size
        for start in range(0, batch.inputs.shape[0], rows):
            yield Batch(batch.inputs[start:start + rows], batch.targets[start:start + rows],
                        batch.lengths[start:start + rows])

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy (nats) of the answers under ``outputs`` (B, V) logits, and B."""
        B = self._check_logits(outputs, batch)
        answers = batch.targets[:, 0].to(outputs.device)
        return nn.functional.cross_entropy(outputs, answers, reduction="sum"), B

    def _check_logits(self, outputs: Tensor, batch: Batch) -> int:
        B, V = batch.targets.shape[0], self.num_words
        if tuple(outputs.shape) != (B, V):
            raise ValueError(f"outputs: expected shape {(B, V)} (answer logits), got {tuple(outputs.shape)}")
        return B

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        """``{"loss": nats per question}``."""
        _check_int("count", count, 1)
        return {"loss": total_loss / count}

    def answer_error(self, model: nn.Module, split: str = "test") -> float:
        """The fraction of ``split``'s questions whose answer is not the argmax of the model's logits (the
        paper's test error); an answer outside the vocabulary always counts as wrong.

        Args:
            model: ``model(inputs, *, lengths, state, targets) -> (logits (B, V), state)``, called as the
                trainer's ``evaluate_model`` does.
            split: "valid", "test" or "train".
        """
        _check_split(split, SPLITS)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        wrong = total = 0
        with torch.no_grad():
            for batch in self.eval_batches(split):
                batch = batch.to(device)
                outputs, _ = model(batch.inputs, lengths=batch.lengths, state=None, targets=batch.targets)
                wrong += int((~self.correct(outputs, batch)).sum())
                total += batch.targets.shape[0]
        model.train(was_training)
        return wrong / total

    def correct(self, outputs: Tensor, batch: Batch) -> Tensor:
        """(B,) bool: the argmax of the (B, V) logits is the answer (never for an answer read as ``<unk>``)."""
        self._check_logits(outputs, batch)
        answers = batch.targets[:, 0].to(outputs.device)
        return (outputs.argmax(-1) == answers) & (answers != UNK)

    def baselines(self) -> dict[str, float]:
        """Floors fitted on the training split, scored on the test split: the constant predictor's loss (the
        training answers' entropy, nats) and error (always the majority answer), the memoryless error (the
        majority answer of each question, :func:`question_only_answers`) and the "last mentioned location"
        error (:func:`last_place_answer`)."""
        train, test = self._examples["train"], self._examples["test"]
        counts = Counter(example.answer for example in train)
        p = np.array(list(counts.values()), dtype=np.float64) / len(train)
        majority = _majority([example.answer for example in train])
        return {"majority_loss": float(-(p * np.log(p)).sum()),
                "majority_error": heuristic_error(lambda example: majority, test),
                "question_only_error": heuristic_error(question_only_answers(train), test),
                "last_location_error": heuristic_error(last_place_answer, test)}

    def describe(self) -> dict[str, Any]:
        story_lengths = [len(example.story) for example in self._examples["train"]]
        return {"name": self.name, "task": f"{self.config.task}: {TASKS[self.config.task].name}",
                "config": dict(vars(self.config)), "generator": "recnets.tasks.babi (Weston et al. 2015 definitions)",
                "vocabulary": self.num_words, "max_supporting": self.max_supporting,
                "sentence_length": self.sentence_length, "mean_story_length": float(np.mean(story_lengths)),
                "max_story_length": max(story_lengths),
                **{f"{split}_examples": len(self._examples[split]) for split in SPLITS}}


def _split_seed(seed: int, split: str) -> int:
    return seed * 2 + (1 if split == "test" else 0)


def _check_split(split: str, splits: Sequence[str]) -> None:
    if split not in splits:
        raise ValueError(f"split: expected one of {', '.join(splits)}, got {split!r}")


def flat_tokens(batch: Batch) -> tuple[Tensor, Tensor]:
    """The words of each example as one flat sequence: the kept story sentences in order, then the question,
    padding dropped (the input of a sequence model such as the LSTM baseline).

    Shapes:
        ``batch.inputs`` (B, 1 + M, L) -> tokens (B, T) int64, zero-padded after each row's length, and
        lengths (B,) int64, T = the longest.
    """
    inputs = batch.inputs
    ordered = torch.cat([inputs[:, 1:], inputs[:, :1]], dim=1).flatten(1)  # (B, (M + 1) L): story, then question
    real = ordered != PAD
    lengths = real.sum(1)                                                     # (B,)
    order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)      # real words first, in order
    width = max(int(lengths.max()), 1) if lengths.numel() else 1
    tokens = ordered.gather(1, order)[:, :width]
    tokens = tokens * (torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1))  # (B, T)
    return tokens, lengths.cpu()  # lengths on the CPU, as Batch keeps them

