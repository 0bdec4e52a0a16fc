"""The command line: ``recnets train | sample | eval | tag | translate | reproduce | diagnose | list``.

A user's mistake (a missing file, an unknown name or key, a bad value, a corrupt checkpoint) ends in one
line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

JOBS = {"char-lm": "character-level language model (the main job; default data: the Python standard library)",
        "esn": "echo state network forecasting your own series (--data FILE.csv or .npy)",
        "tree": "recursive net classifying your own labelled trees (--data FILE, one '(CLASS child ...)' per line)",
        "tagger": "bidirectional RNN tagging your own token sequences (--data FILE.conll: 'token<TAB>tag' lines, "
                  "a blank line between sequences)",
        "seq2seq": "encoder-decoder with attention learning your own pairs (--data FILE.tsv: 'source<TAB>target' "
                   "lines; --data.tokens char|space)"}


def _run_folder(kind: str) -> Path:
    """runs/KIND-DATE-TIME; under torchrun, rank 0's clock names it for every rank."""
    from recnets.train.distributed import broadcast_from_main

    return broadcast_from_main(Path("runs") / f"{kind}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recnets",
        description="Recurrent and recursive nets of Goodfellow, Bengio & Courville's Deep Learning, chapter 10.",
        epilog="Config keys are set with dotted flags after the job, e.g. "
               "`recnets train char-lm --model.hidden 512 --train.lr 3e-3`; `recnets list` shows what exists.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser("train", help="train a model; prints progress, then held-out figures",
                                description="Train JOB. Any --section.key VALUE sets a config key "
                                            "(unknown keys are rejected).")
    train.add_argument("job", help=f"what to train: {', '.join(JOBS)}")
    train.add_argument("--data", help="char-lm: a UTF-8 text file or folder (default: the embedded corpus); "
                                      "esn: a .csv or .npy series (required); tree: a file of bracketed trees, "
                                      "one per line, the root's label the class (required); tagger: a CoNLL file "
                                      "of 'token<TAB>tag' lines, a blank line between sequences (required); "
                                      "seq2seq: a file of 'source<TAB>target' lines (required)")
    train.add_argument("--run", type=Path, help="run folder (default: runs/JOB-DATE-TIME)")
    train.add_argument("--resume", action="store_true", help="continue the run folder's latest checkpoint exactly")
    train.add_argument("--demo", action="store_true", help="about two minutes of training, then samples and bpc")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--show-config", action="store_true", help="print the resolved config and exit")

    sample = commands.add_parser("sample", help="generate text from a trained run")
    sample.add_argument("run", type=Path)
    sample.add_argument("--prompt", default="", help="text to continue (default: the start of a document)")
    sample.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    sample.add_argument("--top-k", type=int, default=None)
    sample.add_argument("--max-length", type=int, default=300)
    sample.add_argument("--num", type=int, default=1, help="number of samples")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="cpu")

    evaluate = commands.add_parser("eval", help="held-out score of a trained run (char-lm: bits per character; "
                                                 "esn: NRMSE; tree, tagger: accuracy; seq2seq: error rates)")
    evaluate.add_argument("run", type=Path)
    evaluate.add_argument("--data", help="score this text file or folder (esn: this .csv or .npy series; tree: "
                                         "this file of labelled trees; tagger: this CoNLL file; seq2seq: this "
                                         "TSV file) instead of the run's test split")
    evaluate.add_argument("--split", default="test", choices=("valid", "test"))
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--beam", type=int, default=None, help="seq2seq only: decode with a beam of this width "
                                                                 "(default 1, greedy)")

    tag = commands.add_parser("tag", help="tag new text with a trained tagger run (one sequence per line)",
                              description="Tag each line of INPUT (whitespace-separated tokens; a file, or - for "
                                          "stdin) with a trained tagger run; prints 'token<TAB>tag' lines with a "
                                          "blank line after each sequence. Tokens outside the run's vocabulary "
                                          "are read as <unk> and counted on stderr.")
    tag.add_argument("run", type=Path)
    tag.add_argument("input", nargs="?", default="-", help="a UTF-8 text file, or - for stdin (default)")
    tag.add_argument("--device", default="cpu")

    translate = commands.add_parser(
        "translate", help="decode new sources with a trained seq2seq run (one source per line)",
        description="Decode each line of INPUT (a file, or - for stdin) with a trained seq2seq run, tokenised as "
                    "its training data; prints one output line per input line (an empty line for a blank one). "
                    "Tokens outside the run's vocabulary are read as <unk> and counted on stderr.")
    translate.add_argument("run", type=Path)
    translate.add_argument("input", nargs="?", default="-", help="a UTF-8 text file, or - for stdin (default)")
    translate.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    translate.add_argument("--max-length", type=int, default=None, help="most output tokens (default 2 S + 10)")
    translate.add_argument("--length-penalty", type=float, default=0.0,
                           help="alpha of the beam's score log P / n^alpha (0 = none)")
    translate.add_argument("--device", default="cpu")

    reproduce = commands.add_parser("reproduce", help="run a classic experiment; writes metrics, plots, summary")
    reproduce.add_argument("name")
    reproduce.add_argument("--quick", action="store_true", help="a seconds-long smoke version")
    reproduce.add_argument("--out", type=Path, help="run folder (default: runs/reproduce-NAME-DATE-TIME)")
    reproduce.add_argument("--publish", action="store_true", help="copy the summary to results/ (full runs)")
    reproduce.add_argument("--no-progress", action="store_true")
    reproduce.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                           help="change one of the experiment's settings (experiments that take overrides, e.g. "
                                "g2p-cmudict: --set steps=45000); the value is read as JSON, else as text")

    diagnose = commands.add_parser("diagnose", help="long-term-dependency diagnostics of a trained run (10.7)",
                                   description="Gradient norm against time lag, singular values of Jacobian "
                                               "products and the eigenvalues of W, as PNG plots and JSON.")
    diagnose.add_argument("run", type=Path, help="a char-LM run, or one model's folder of a reproduction "
                                                   "(e.g. runs/X/LSTM)")
    diagnose.add_argument("--out", type=Path, help="output folder (default: RUN/diagnostics)")
    diagnose.add_argument("--batch-size", type=int, default=8, help="sequences of the probe batch")
    diagnose.add_argument("--steps", type=int, default=200,
                          help="characters per probe window of a char-LM run (a task keeps its own lengths)")

    commands.add_parser("list", help="cells, jobs and experiments")
    return parser


def _train(args: argparse.Namespace, extra: list[str]) -> int:
    from recnets.experiments.char_lm import DEMO_OVERRIDES, CharLMRunConfig, train_char_lm

    if args.job not in JOBS:
        raise ValueError(f"job: expected one of {', '.join(JOBS)}, got {args.job!r}")
    if args.job == "esn":
        return _train_esn(args, extra)
    if args.job == "tree":
        return _train_tree(args, extra)
    if args.job == "tagger":
        return _train_tagger(args, extra)
    if args.job == "seq2seq":
        return _train_seq2seq(args, extra)
    overrides: dict[str, Any] = dict(DEMO_OVERRIDES) if args.demo else {}
    return _train_job(args, extra, CharLMRunConfig(), overrides, train_char_lm,
                      files="config.json, metrics.jsonl, checkpoints/, plots/loss.png, summary.json",
                      hint="more samples: recnets sample {run} --prompt 'class ' --temperature 0.8")


def _train_job(args: argparse.Namespace, extra: list[str], config: Any, overrides: dict[str, Any],
               train: Any, *, files: str, hint: str) -> int:
    """A trainer job (char-lm, tree): dotted overrides on ``config``, ``--data`` as ``data.data``, then
    ``train(config, run_dir, resume=)`` into the run folder, which it names with the files it holds."""
    from recnets.config import apply_overrides, config_to_dict, parse_dotted_args

    overrides.update(parse_dotted_args(extra))
    if args.data is not None:
        overrides["data.data"] = args.data
    if args.no_progress:
        overrides["train.progress"] = False
    config = apply_overrides(config, overrides)
    if args.show_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    if args.resume and args.run is None:
        raise ValueError("--resume: expected --run FOLDER naming the run to continue, got none")
    run_dir = args.run or _run_folder(args.job)
    print(f"run folder: {run_dir}")
    train(config, run_dir, resume=args.resume)
    print(f"\nrun folder: {run_dir} ({files})")
    print(hint.format(run=run_dir))
    return 0


def _train_esn(args: argparse.Namespace, extra: list[str]) -> int:
    from recnets.config import apply_overrides, config_to_dict, parse_dotted_args
    from recnets.experiments.esn_series import ESNRunConfig, train_esn

    for flag in ("resume", "demo"):
        if getattr(args, flag):
            raise ValueError(f"--{flag}: expected no such flag for job esn (a fit takes seconds), got it")
    overrides: dict[str, Any] = parse_dotted_args(extra)
    if args.data is not None:
        overrides["data"] = args.data
    config = apply_overrides(ESNRunConfig(), overrides)
    if args.show_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    run_dir = args.run or _run_folder(args.job)
    print(f"run folder: {run_dir}")
    train_esn(config, run_dir)
    print(f"\nrun folder: {run_dir} (config.json, model.safetensors, metrics.json, summary.json, plots/forecast.png)")
    print(f"re-score: recnets eval {run_dir} [--data OTHER.csv]")
    return 0


def _train_tree(args: argparse.Namespace, extra: list[str]) -> int:
    from recnets.experiments.tree_job import TreeRunConfig, train_tree

    if args.demo:
        raise ValueError("--demo: expected no such flag for job tree (it trains on your --data), got it")
    return _train_job(args, extra, TreeRunConfig(), {}, train_tree,
                      files="config.json, vocab.json, metrics.jsonl, checkpoints/, plots/loss.png, summary.json",
                      hint="re-score: recnets eval {run} [--data OTHER.txt]")


def _train_tagger(args: argparse.Namespace, extra: list[str]) -> int:
    from recnets.experiments.tagger_job import TaggerRunConfig, train_tagger

    if args.demo:
        raise ValueError("--demo: expected no such flag for job tagger (it trains on your --data), got it")
    return _train_job(args, extra, TaggerRunConfig(), {}, train_tagger,
                      files="config.json, vocab.json, metrics.jsonl, checkpoints/, plots/loss.png, summary.json",
                      hint="re-score: recnets eval {run} [--data OTHER.conll]; tag new text: recnets tag {run} "
                           "FILE (or - for stdin)")


def _train_seq2seq(args: argparse.Namespace, extra: list[str]) -> int:
    from recnets.experiments.seq2seq_job import Seq2SeqRunConfig, train_seq2seq

    if args.demo:
        raise ValueError("--demo: expected no such flag for job seq2seq (it trains on your --data), got it")
    return _train_job(args, extra, Seq2SeqRunConfig(), {}, train_seq2seq,
                      files="config.json, vocab.json, metrics.jsonl, checkpoints/, plots/, summary.json",
                      hint="re-score: recnets eval {run} [--data OTHER.tsv] [--beam 5]; decode new sources: "
                           "recnets translate {run} FILE (or - for stdin)")


def _input_lines(source: str) -> list[str]:
    """The lines of a UTF-8 file, or of stdin for ``-``."""
    if source == "-":
        return sys.stdin.read().splitlines()
    from recnets.tasks.pairs import read_text_lines

    return read_text_lines(source, "a text file of token lines (or - for stdin)")[1]


def _tag(args: argparse.Namespace) -> int:
    from recnets.experiments.tagger_job import is_tagger_run, tag_lines
    from recnets.tasks.conll import format_conll

    if not is_tagger_run(args.run):
        raise ValueError(f"run: expected a tagger run folder (recnets train tagger), got {args.run}")
    tagged = tag_lines(args.run, _input_lines(args.input), device=args.device)
    sys.stdout.write(format_conll(list(zip(tagged.tokens, tagged.tags))))
    if tagged.unknown:
        total = sum(map(len, tagged.tokens))
        print(f"recnets: {tagged.unknown:,} of {total:,} tokens were outside the run's vocabulary and read as <unk>",
              file=sys.stderr)
    return 0


def _translate(args: argparse.Namespace) -> int:
    from recnets.experiments.seq2seq_job import is_seq2seq_run, translate_lines

    if not is_seq2seq_run(args.run):
        raise ValueError(f"run: expected a seq2seq run folder (recnets train seq2seq), got {args.run}")
    translated = translate_lines(args.run, _input_lines(args.input), beam_width=args.beam,
                                 max_length=args.max_length, length_penalty=args.length_penalty, device=args.device)
    for line in translated.outputs:
        print(line)
    if translated.unknown:
        print(f"recnets: {translated.unknown:,} of {translated.tokens:,} source tokens were outside the run's "
              f"vocabulary and read as <unk>", file=sys.stderr)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from recnets.experiments.char_lm import generate

    texts = generate(args.run, prompt=args.prompt, max_length=args.max_length, temperature=args.temperature,
                     top_k=args.top_k, num_samples=args.num, seed=args.seed, device=args.device)
    for index, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {index + 1} ---")
        print(text)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from recnets.experiments import seq2seq_job
    from recnets.experiments.esn_series import eval_report, evaluate_esn, is_esn_run

    if seq2seq_job.is_seq2seq_run(args.run):
        beam = 1 if args.beam is None else args.beam
        print(seq2seq_job.eval_report(seq2seq_job.evaluate_seq2seq(args.run, data=args.data, split=args.split,
                                                                   device=args.device, beam_width=beam)))
        return 0
    if args.beam is not None:
        raise ValueError(f"--beam: expected it only for a seq2seq run, got it for {args.run}")

    if is_esn_run(args.run):
        print(eval_report(evaluate_esn(args.run, data=args.data, split=args.split, device=args.device)))
        return 0
    from recnets.experiments import tree_job

    if tree_job.is_tree_run(args.run):
        print(tree_job.eval_report(tree_job.evaluate_tree(args.run, data=args.data, split=args.split,
                                                          device=args.device)))
        return 0
    from recnets.experiments import tagger_job

    if tagger_job.is_tagger_run(args.run):
        print(tagger_job.eval_report(tagger_job.evaluate_tagger(args.run, data=args.data, split=args.split,
                                                                device=args.device)))
        return 0
    from recnets.experiments.char_lm import FLOOR_LABELS, evaluate_text, report_table

    result = evaluate_text(args.run, data=args.data, split=args.split, device=args.device)
    print(f"run {result['run']} at step {result['step']}, scored on {result['data']}")
    print(report_table(result["bpc"], {FLOOR_LABELS.get(k, k): v for k, v in result["floors"].items()},
                       scored=result["count"]))
    return 0


def _override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set`` as (key, value): the value read as JSON (numbers, true, null), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set: expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _reproduce(args: argparse.Namespace) -> int:
    from recnets.experiments.registry import experiment
    from recnets.experiments.summary import publish_summary

    module = experiment(args.name)
    options = {}
    if args.overrides:
        if "overrides" not in inspect.signature(module.run).parameters:
            raise ValueError(f"--set: expected no overrides for {args.name} (its settings are fixed), got "
                             f"{' '.join(args.overrides)}")
        if args.publish:
            raise ValueError("--publish: expected the experiment's own settings (published results are the "
                             f"defaults), got overrides {' '.join(args.overrides)}")
        options["overrides"] = dict(_override(text) for text in args.overrides)
    out = args.out or _run_folder(f"reproduce-{args.name}")
    print(f"{args.name}: {module.TITLE}\nrun folder: {out}")
    summary = module.run(out, quick=args.quick, progress=not args.no_progress, **options)
    print(f"\n{args.name} ({'quick' if args.quick else 'full'}), {summary['wall_seconds']:.0f} s:")
    for row in summary["rows"]:
        paper = "" if row["paper"] is None else f"   paper: {row['paper']} ({row['source']}, {row['status']})"
        ours = "—" if row["ours"] is None else f"{row['ours']:.4g} {row['unit']}"
        print(f"  {row['what']}: {ours}{paper}")
    print(f"summary: {out / 'summary.json'}")
    if args.publish:
        print(f"published: {publish_summary(out / 'summary.json')} (then `make results`)")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from recnets.experiments.diagnose import diagnose_run

    result = diagnose_run(args.run, args.out, batch_size=args.batch_size, steps=args.steps)
    gradient = result["gradient_norm"]
    print(f"{result['cell']} of {result['run']} at step {result['step']}:")
    print("  spectral radius of each recurrent block: "
          + ", ".join(f"{name} {value:.3f}" for name, value in result["spectral_radius"].items()))
    slope = gradient["log_slope_per_step"]
    print(f"  ||dL/dh(t)|| at lag 0: {gradient['lag_0']:.3e}, at lag {gradient['largest_lag']}: "
          f"{gradient['at_largest_lag']:.3e}" + ("" if slope is None else f" (log slope {slope:.3f} per step)"))
    print("  written: " + ", ".join(str(path) for path in result["files"]))
    return 0


def _list() -> int:
    from recnets.cells.registry import CELLS, TREE_CELLS
    from recnets.experiments.registry import EXPERIMENTS

    print("cells (--model.cell):")
    for name, (_, description) in CELLS.items():
        print(f"  {name:<20} {description}")
    print("tree cells (recnets train tree --model.cell):")
    for name, (_, description) in TREE_CELLS.items():
        print(f"  {name:<20} {description}")
    print("jobs (recnets train JOB):")
    for name, description in JOBS.items():
        print(f"  {name:<20} {description}")
    print("experiments (recnets reproduce NAME):")
    for name, module in EXPERIMENTS.items():
        print(f"  {name:<20} {module.TITLE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recnets`` command; returns the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from recnets.machine import keep_freed_memory

    keep_freed_memory()  # the kernels' MB-sized buffers are reused between steps, not faulted in anew
    try:
        if args.command == "train":
            return _train(args, extra)
        if args.command == "sample":
            return _sample(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "tag":
            return _tag(args)
        if args.command == "translate":
            return _translate(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "diagnose":
            return _diagnose(args)
        return _list()
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError) as error:
        message = " ".join(str(error).split())
        print(f"recnets: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recnets: interrupted (the last published checkpoint is intact; continue with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
