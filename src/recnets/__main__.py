"""``python -m recnets``: the command line, also as one process of a ``torchrun`` group.

``torchrun --nproc_per_node 2 -m recnets train char-lm ...`` starts this module once per rank; each joins the
process group from torchrun's environment variables (:func:`recnets.train.distributed.distributed_session`)
and leaves it when the command ends, errors included. Ranks other than 0 print nothing on stdout (rank 0
prints the run's progress and results; every rank's errors still reach stderr). Without torchrun this is
``recnets`` itself.
"""
from __future__ import annotations

import contextlib
import os
import sys

from recnets.cli import main
from recnets.train.distributed import distributed_session, is_main


def run(argv: list[str] | None = None) -> int:
    """``recnets`` inside a torchrun process group when launched by torchrun; returns the exit status."""
    with distributed_session():
        if is_main():
            return main(argv)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return main(argv)


if __name__ == "__main__":
    sys.exit(run())
