#!/usr/bin/env python
"""Decoding speed of the encoder-decoder: sentences per second of greedy decoding and beam search (width 5).

The model has the size ``attention-vs-length`` trains (LSTM encoder and decoder of 64 units, embeddings of 32,
14 symbols), random weights. Each sentence is a source of ``--length`` letters; every search runs exactly
``--length + 1`` output steps (no end symbol, so random weights decode as long as trained ones that end after
the reversal and its EOS). A timed call is ``encode`` + the search, batched over the sentences (greedy: B rows;
beam: B·K rows, one ``step`` per output step, no per-hypothesis loop), under ``torch.no_grad``. Median of
interleaved repeats; each thread count in a fresh process.

Usage:
    python benchmarks/bench_decode.py                       # 1 thread, batches 1 16 64, ~1 min
    python benchmarks/bench_decode.py --quick               # a smoke test, seconds
    python benchmarks/bench_decode.py --threads 1 2 --batch 64 --attention general --json decode.json

Book: 10.2.3 (greedy decoding and beam search), 10.4 (decoding an encoder-decoder).
"""
from __future__ import annotations

import argparse
from typing import Any

import torch

from per_thread import interleaved_medians, main_of  # benchmarks/ is on sys.path when a script there runs
from recnets.beam_search import beam_search
from recnets.decode import greedy_decode
from recnets.machine import describe_machine
from recnets.nets.encoder_decoder import EncoderDecoder

ATTENTIONS = {"none": None, "bahdanau": "bahdanau", "general": "general"}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name in args.attention:
        model = EncoderDecoder(args.vocab, args.vocab, embedding=args.embedding, hidden=args.hidden,
                               attention=ATTENTIONS[name]).eval()
        for size in args.batch:
            inputs = torch.randint(4, args.vocab, (size, args.length))
            lengths = torch.full((size,), args.length)
            steps = args.length + 1

            def greedy() -> None:
                with torch.no_grad():
                    context = model.encode(inputs, lengths)
                    greedy_decode(model.decoder, context=context, max_length=steps)

            def beam() -> None:
                with torch.no_grad():
                    context = model.encode(inputs, lengths)
                    beam_search(model.decoder, context=context, beam_width=args.beam, max_length=steps)

            seconds = interleaved_medians({"greedy": greedy, "beam": beam}, args.repeats)
            rows.append({"attention": name, "batch": size, "greedy_sentences_per_s": size / seconds["greedy"],
                         "beam_sentences_per_s": size / seconds["beam"],
                         "beam_cost": seconds["beam"] / seconds["greedy"]})
    return {"threads": args.threads, "machine": describe_machine(), "torch": torch.__version__,
            "rows": rows}


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    lines = [f"Encoder-decoder decoding (LSTM {args.hidden} units, embeddings {args.embedding}, {args.vocab} symbols, "
             f"sources of {args.length}, {args.length + 1} output steps), {first['machine']}, torch {first['torch']}",
             f"| threads | attention | batch | greedy (sentences/s) | beam {args.beam} (sentences/s) | "
             f"beam time / greedy time |",
             "|---|---|---|---|---|---|"]
    for result in results:
        for row in result["rows"]:
            lines.append(f"| {result['threads']} | {row['attention']} | {row['batch']} | "
                         f"{row['greedy_sentences_per_s']:.1f} | {row['beam_sentences_per_s']:.1f} | "
                         f"{row['beam_cost']:.2f}x |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts (default: 1)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64], help="sentences per call (1 16 64)")
    parser.add_argument("--attention", nargs="+", choices=list(ATTENTIONS), default=["none", "bahdanau", "general"])
    parser.add_argument("--length", type=int, default=30, help="source letters per sentence (default 30)")
    parser.add_argument("--beam", type=int, default=5, help="beam width (default 5)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--embedding", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=14, help="symbols: 4 specials + 10 letters (default 14)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per search (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every measurement here")
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.length, args.repeats, args.attention = [1, 4], 5, 1, ["none", "general"]
    return args


def main(argv: list[str] | None = None) -> None:
    main_of(__file__, parse, worker, report, argv)


if __name__ == "__main__":
    main()
