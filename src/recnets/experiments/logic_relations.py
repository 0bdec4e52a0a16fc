"""``logic-relations``: tree models against an LSTM on the relations between propositional formulas.

Bowman, Manning & Potts (2015), "Tree-structured composition in neural networks without tree-structured
architectures": pairs of formulas over six variables, labelled with one of seven natural-logic relations
computed from truth tables (:mod:`recnets.tasks.logic_relations`); models train on pairs with at most 4
operators and are tested on each count 1-12. The paper (``shared/PAPERS.md``, status V): trained on <= 4, at
12 operators the tree models (TreeRNN, TreeRNTN, TreeLSTM) reach about 71-73% and the LSTM 44%.

Every model encodes both formulas of a pair with one encoder, in one batch of 2B formulas, and compares the
two vectors with the same neural tensor layer (:class:`Comparison`), as in the paper:
    - **TreeRNN**: the recursive net h = tanh(b + U x + W [h_left; h_right]) (Socher et al. 2011) over the
      paper's binary form of each formula (every word a leaf: ``(and a (not b))`` is ``(a (and (not b)))``);
    - **TreeLSTM**: the binary (N-ary, N = 2) Tree-LSTM (Tai et al. 2015) over the same trees;
    - **LSTM**: a chain LSTM over each formula's bracketed tokens ``( a ( and ( not b ) ) )``, the formula's
      vector its output after the last token.
Scored by test accuracy in each operator bin 1-12 (a plot like the paper's figure), beside the majority-class
floor (always ``#``, independence) of each bin.

Deviations:
    - Fresh data from our own generator (the authors' procedure, fewer draws: 400,000 against their 500,000)
      and a training budget of minutes on a 2-core CPU (:func:`settings`); the paper trained to convergence.
    - The comparison layer is tanh where the paper's (after Bowman et al.'s earlier logic experiments) is, as
      we recall it, a leaky ReLU; no L2 penalty; Adam with a cosine decay instead of AdaDelta.
    - The RNTN is left out (budget); the final model is scored, not the best validation checkpoint.

Book: 10.6 (recursive networks), 10.10.1 (the LSTM), 10.2 Fig. 10.5 (a sequence summarised by its last state).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from recnets.analysis.plots import plot_curves
from recnets.cells.registry import make_cell, make_tree_cell
from recnets.core.cell import Cell
from recnets.core.fold import fold
from recnets.core.lengths import check_lengths
from recnets.core.tree_batch import TreeBatch
from recnets.core.tree_cell import TreeCell
from recnets.core.unroll import unroll
from recnets.experiments.summary import Row, make_summary, write_summary
from recnets.machine import one_torch_thread
from recnets.nets.readout import Readout
from recnets.tasks.logic_relations import (NUM_RELATIONS, RELATION_NAMES, LogicRelationsConfig, TokenPairTask,
                                           TreePairTask, bin_split, make_logic_relations)
from recnets.tasks.tree_data import accuracy
from recnets.train.config import TrainConfig
from recnets.train.loop import Trainer

__all__ = ["NAME", "TITLE", "BOOK", "PAPER", "Comparison", "TreePairClassifier", "SequencePairClassifier",
           "Contender", "model_for", "settings", "run"]

NAME = "logic-relations"
TITLE = "Tree models against an LSTM on logical relations, trained on <= 4 operators (Bowman et al. 2015)"
BOOK = "10.6, 10.10.1"
PAPER = "Bowman, Manning & Potts 2015"
PAPER_AT_12 = {"tree": "about 71-73%", "lstm": "44%"}  # shared/PAPERS.md, status V
PAPER_AT_12_POINTS = {"tree": 72.0, "lstm": 44.0}  # drawn as single points on the plot


class Comparison(nn.Module):
    """The neural tensor comparison layer over two formula vectors, then the relation scores.

    y = tanh(b + W [l; r] + l^T T^[1:M] r), o = c + V y: each of the M units has its own bilinear form
    l^T T^[k] r, so the layer can multiply features of the two formulas, not only add them.

    Args:
        hidden_size: H, the width of each formula vector; comparison_size: M; num_classes: O.

    Parameters:
        T (M, H, H), W (M, 2H), b (M) and the readout V (O, M), c (O).

    Shapes:
        left, right (B, H) -> o (B, O).

    Book: 10.6 (the tensor composition of Socher et al. 2013, here between two sentence vectors).
    Deviations: tanh; Bowman et al.'s comparison layer uses a leaky ReLU (as we recall it, not checked).
    """

    def __init__(self, hidden_size: int, comparison_size: int, num_classes: int = NUM_RELATIONS) -> None:
        super().__init__()
        bound = hidden_size ** -0.5
        self.T = nn.Parameter(torch.empty(comparison_size, hidden_size, hidden_size).uniform_(-bound, bound) / 4)
        self.W = nn.Parameter(torch.empty(comparison_size, 2 * hidden_size).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.zeros(comparison_size))
        self.readout = Readout(comparison_size, num_classes)

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        bilinear = torch.einsum("bh,mhk,bk->bm", left, self.T, right)  # (B, M)
        y = torch.tanh(self.b + torch.cat([left, right], 1) @ self.W.T + bilinear)  # (B, M)
        return self.readout(y)  # (B, O)


class TreePairClassifier(nn.Module):
    """Both formulas of every pair composed by one tree cell; their root vectors compared.

    Args:
        cell: a binary :class:`TreeCell` (recursive net, RNTN, binary Tree-LSTM); its D is the embedding width.
        vocab_size: V, node tokens (words at the leaves, ``<none>`` at the unlabelled inner nodes).
        comparison_size: M of :class:`Comparison`.

    Shapes:
        ``model(batch)``: a TreeBatch of 2B trees, B lefts then B rights -> ``(o (B, 7), None)``; the call
        matches the chain models' so that the shared trainer runs it.

    Book: 10.6, Fig. 10.14.
    """

    def __init__(self, cell: TreeCell, vocab_size: int, comparison_size: int) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, cell.input_size)
        self.comparison = Comparison(cell.hidden_size, comparison_size)

    def forward(self, batch: TreeBatch, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        if not isinstance(batch, TreeBatch) or len(batch) % 2:
            raise ValueError(f"batch: expected a TreeBatch of 2B trees (B lefts, then B rights), got "
                             f"{type(batch).__name__} of {len(batch) if isinstance(batch, TreeBatch) else '?'}")
        tokens = batch.tokens.to(self.embedding.weight.device)
        outputs = fold(self.cell, batch, self.embedding(tokens)).outputs  # (N, H)
        roots = outputs[batch.roots.to(outputs.device)]  # (2B, H)
        left, right = roots.chunk(2)  # (B, H) each
        return self.comparison(left, right), None


class SequencePairClassifier(nn.Module):
    """Both formulas of every pair read token by token by one chain cell; their last outputs compared.

    Shapes:
        ``model(inputs (2B, T), lengths=(2B,))`` -> ``(o (B, 7), None)``.

    Book: 10.2, Fig. 10.5; 10.10.1.
    """

    def __init__(self, cell: Cell, vocab_size: int, comparison_size: int) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, cell.input_size)
        self.comparison = Comparison(cell.hidden_size, comparison_size)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        if inputs.dim() != 2 or inputs.shape[0] % 2:
            raise ValueError(f"inputs: expected token ids (2B, T), B lefts then B rights, got {tuple(inputs.shape)}")
        hs, _ = unroll(self.cell, self.embedding(inputs), lengths=lengths)  # (2B, T, H)
        rows, steps = hs.shape[:2]
        checked = check_lengths(lengths, rows, steps, hs.device)
        last = checked - 1 if checked is not None else torch.full((rows,), steps - 1, device=hs.device)
        h_last = hs[torch.arange(rows, device=hs.device), last]  # (2B, H)
        left, right = h_last.chunk(2)  # (B, H) each
        return self.comparison(left, right), None


@dataclass(frozen=True)
class Contender:
    """One model: a label, a registered cell (a tree cell when ``tree``), the width D = H, the comparison's M,
    and its learning rate (tuned per family in short runs: the recursive net diverged to the majority class
    at 1e-2 and learned slowly at 3e-3, best at 1e-3; the Tree-LSTM was best at 3e-3)."""

    label: str
    cell: str
    hidden: int
    comparison: int
    tree: bool
    lr: float


def model_for(contender: Contender, vocab_size: int) -> nn.Module:
    """The pair model of a contender: a tree cell under :class:`TreePairClassifier`, a chain cell under
    :class:`SequencePairClassifier`."""
    if contender.tree:
        cell = make_tree_cell(contender.cell, contender.hidden, contender.hidden)
        return TreePairClassifier(cell, vocab_size, contender.comparison)
    return SequencePairClassifier(make_cell(contender.cell, contender.hidden, contender.hidden), vocab_size,
                                  contender.comparison)


def settings(quick: bool, progress: bool) -> tuple[LogicRelationsConfig, int, TrainConfig, list[Contender]]:
    """Full: 400,000 drawn pairs (~53,000 distinct training pairs of <= 4 operators; test parts capped at
    1,000 per bin); TreeRNN (the recursive net), binary Tree-LSTM and LSTM, each 48 units with a 48-unit
    tensor comparison; 5,000 steps of 64 pairs (~6 epochs) with Adam (cosine), lr 1e-3 / 3e-3 / 2e-3.
    Quick: 8,000 draws (~1,900 training pairs), 400 steps of 32, Tree-LSTM and LSTM of 24 units at 1e-2."""
    if quick:
        data = LogicRelationsConfig(draws=8_000, max_test_per_bin=200)
        train = TrainConfig(steps=400, lr=1e-2, eval_every=0, checkpoint_every=0, progress=progress, device="cpu")
        return data, 32, train, [Contender("TreeLSTM", "nary-tree-lstm", 24, 24, True, 1e-2),
                                 Contender("LSTM", "lstm", 24, 24, False, 1e-2)]
    data = LogicRelationsConfig(draws=400_000, max_test_per_bin=1000)
    train = TrainConfig(steps=5000, lr=1e-3, schedule="cosine", eval_every=1000, checkpoint_every=1000,
                        progress=progress, device="cpu")
    return data, 64, train, [Contender("TreeRNN", "recursive", 48, 48, True, 1e-3),
                             Contender("TreeLSTM", "nary-tree-lstm", 48, 48, True, 3e-3),
                             Contender("LSTM", "lstm", 48, 48, False, 2e-3)]


def run(out_dir: str | Path, *, quick: bool = False, progress: bool = True,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every contender on the pairs of <= 4 operators, score each test bin 1-12, plot, write the summary."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    data_config, batch_size, train, contenders = settings(quick, progress)
    with one_torch_thread():
        data = make_logic_relations(data_config)
        tasks = {True: TreePairTask(data, batch_size=batch_size, seed=data_config.seed),
                 False: TokenPairTask(data, batch_size=batch_size, seed=data_config.seed)}
        echo(f"{NAME}: {len(data.train):,} training pairs (<= {data_config.train_max_operators} operators), "
             f"{len(data.valid):,} validation, test bins {', '.join(f'{k}: {len(v)}' for k, v in data.test.items())}")
        bins = sorted(data.test)
        results = []
        for contender in contenders:
            task = tasks[contender.tree]
            torch.manual_seed(train.seed)
            model = model_for(contender, len(task.vocabulary))
            config = dataclasses.replace(train, lr=contender.lr)
            fitted = Trainer(model, task, config, out_dir / contender.label).fit()
            by_bin = {k: accuracy(model, task, bin_split(k)) for k in bins}
            results.append({"label": contender.label, "cell": contender.cell, "hidden": contender.hidden,
                             "lr": contender.lr,
                            "parameters": sum(p.numel() for p in model.parameters()),
                            "accuracy_by_operators": by_bin, "seconds": fitted["seconds"],
                            "valid": fitted["best"]})
            echo(f"{contender.label}: " + ", ".join(f"{k}: {100 * a:.1f}%" for k, a in by_bin.items()))
    floors = tasks[True].baselines()
    floor_by_bin = {k: floors[f"majority_accuracy_{bin_split(k)}"] for k in bins}
    curves = {r["label"]: (bins, [100 * r["accuracy_by_operators"][k] for k in bins]) for r in results}
    curves.update({f"paper at 12: tree models (~{PAPER_AT_12_POINTS['tree']:g}%)": ([12], [PAPER_AT_12_POINTS["tree"]]),
                   f"paper at 12: LSTM ({PAPER_AT_12_POINTS['lstm']:g}%)": ([12], [PAPER_AT_12_POINTS["lstm"]])})
    plot_curves(curves,
                out_dir / "plots" / "accuracy_by_operators.png",
                title=f"{NAME}: trained on <= {data_config.train_max_operators} operators",
                xlabel="operators (larger formula of the pair)", ylabel="test accuracy (%)",
                reference=("majority class (#)", bins, [100 * floor_by_bin[k] for k in bins]))
    last = bins[-1]
    rows = []
    for result in results:
        kind = "tree" if any(c.tree for c in contenders if c.label == result["label"]) else "lstm"
        rows.append(Row(f"{result['label']} ({result['parameters']:,} weights): test accuracy at {last} operators",
                        100 * result["accuracy_by_operators"][last], unit="%", paper=PAPER_AT_12[kind],
                        source=PAPER, status="V"))
        seen = [k for k in bins if k <= data_config.train_max_operators]
        rows.append(Row(f"{result['label']}: mean test accuracy over 1-{seen[-1]} operators (trained range)",
                        100 * sum(result["accuracy_by_operators"][k] for k in seen) / len(seen), unit="%"))
    rows.append(Row(f"majority class ({RELATION_NAMES[6]}, #) at {last} operators", 100 * floor_by_bin[last],
                    unit="%"))
    trees = [r for r in results if r["label"] != "LSTM"]
    lstm = next(r for r in results if r["label"] == "LSTM")
    seen = [k for k in bins if k <= data_config.train_max_operators]
    in_range = lambda r: sum(r["accuracy_by_operators"][k] for k in seen) / len(seen)  # noqa: E731
    floor_in_range = sum(floor_by_bin[k] for k in seen) / len(seen)
    checks = {f"every tree model beats the majority class by 10 points on 1-{seen[-1]} operators":
              all(in_range(r) > floor_in_range + 0.10 for r in trees)}
    if not quick:
        checks[f"every tree model beats the LSTM at {last} operators"] = all(
            r["accuracy_by_operators"][last] > lstm["accuracy_by_operators"][last] for r in trees)
        checks[f"every tree model beats the majority class at {last} operators"] = all(
            r["accuracy_by_operators"][last] > floor_by_bin[last] for r in trees)
    budget = (f"{data_config.draws:,} drawn pairs ({len(data.train):,} distinct training pairs of <= "
              f"{data_config.train_max_operators} operators); {train.steps:,} steps of {batch_size} pairs, "
              f"{train.optimizer} ({train.schedule}); "
              + ", ".join(f"{c.label} {c.hidden} units lr {c.lr:g}" for c in contenders)
              + f", tensor comparison {contenders[0].comparison} units; one torch thread")
    notes = ("Trees are the paper's binary form (operators are leaf words: (and a (not b)) is (a (and (not b)))); "
             "the LSTM reads the same bracketed tokens. Pairs with a tautology or contradiction are redrawn, as "
             "in the authors' generator; bin 12 holds every pair with >= 12 operators in its larger formula. "
             "Our pairs are drawn afresh (not the released files), and fewer of them.")
    summary = make_summary(name=NAME, title=TITLE, book=BOOK, budget=budget, rows=rows, quick=quick,
                           wall_seconds=time.monotonic() - started, checks=checks, notes=notes,
                           extra={"results": results, "majority_by_operators": floor_by_bin,
                                  "bin_sizes": data.bin_sizes,
                                  "test_pairs": {k: len(v) for k, v in data.test.items()}})
    write_summary(out_dir, summary)
    return summary
