"""The registry of the generated long-term-dependency tasks: name -> task class (for the CLI and experiments).

Each class takes its config (``cls.config_class``) and is listed under its ``name``; the definitions,
citations and deviations are in the modules that hold them: :mod:`recnets.tasks.arithmetic` (adding and
multiplication, Hochreiter & Schmidhuber 1997 and Pascanu et al. 2013), :mod:`recnets.tasks.temporal_order`
(exps. 6a/6b), :mod:`recnets.tasks.memory_tasks` (copy memory, noiseless memorisation, random permutation,
information latching) and :mod:`recnets.tasks.waveform` (Koutník et al. 2014's generation task).

Book: 10.7 (the challenge of long-term dependencies).
"""
from __future__ import annotations

from recnets.tasks.arithmetic import AddingTask, MultiplicationTask, PascanuAddingTask, PascanuMultiplicationTask
from recnets.tasks.generated import GeneratedConfig, GeneratedTask
from recnets.tasks.memory_tasks import CopyMemoryTask, LatchingTask, MemorizationTask, RandomPermutationTask
from recnets.tasks.temporal_order import TemporalOrder2BitTask, TemporalOrder3BitTask
from recnets.tasks.waveform import SumOfSinesTask

__all__ = ["TASKS", "make_task"]

TASKS: dict[str, type[GeneratedTask]] = {cls.name: cls for cls in (
    AddingTask, MultiplicationTask, PascanuAddingTask, PascanuMultiplicationTask, TemporalOrder2BitTask,
    TemporalOrder3BitTask, CopyMemoryTask, MemorizationTask, RandomPermutationTask, LatchingTask, SumOfSinesTask)}


def make_task(name: str, **fields) -> GeneratedTask:
    """The task registered as ``name`` with its config built from keyword ``fields`` (e.g. ``T=200``).

    Raises:
        ValueError: an unknown name (the known ones listed) or an unknown config field.
    """
    if name not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(sorted(TASKS))}, got {name!r}")
    cls = TASKS[name]
    known = set(cls.config_class.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: not a field of {cls.config_class.__name__} (expected one of "
                         f"{', '.join(sorted(known))})")
    config: GeneratedConfig = cls.config_class(**fields)
    return cls(config)
