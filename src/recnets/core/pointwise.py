"""Fused element-wise steps for the BPTT kernels: ``pointwise.c`` compiled once per machine, called with ctypes.

Per time step a BPTT kernel runs one recurrent matrix product and then the gate arithmetic, which in torch is
5-15 small kernels, each a pass over memory plus ~3 µs of dispatch (measured at B=32, H=256, one thread:
the torch GRU's forward gate math 48 µs a step as torch kernels, 18 µs as one C call). ``pointwise.c`` does
one step's gate arithmetic in one pass on raw pointers; it includes no torch headers, so it compiles in about
a second with the system's C compiler, into ``$XDG_CACHE_HOME/recnets`` (``~/.cache/recnets``), named by a
hash of its source, flags, compiler and CPU so that a changed source or machine builds anew and nothing is
ever recompiled for a new sequence length or batch. Without a C compiler, on other devices, dtypes other than
float32/float64, or with ``RECNETS_POINTWISE=0``, the kernels run their torch ops instead (the same
arithmetic; the tests hold both paths to the eager reference loop).

Book: 10.2.2, eqs. 10.17-10.28 (BPTT).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from recnets.core.bptt_kernels import step_views

__all__ = ["pointwise_library", "uses_pointwise", "step_addresses"]

SOURCE = Path(__file__).with_name("pointwise.c")
# -O3 vectorises the loops; reassociation (no NaN/inf assumptions: -ffast-math is NOT used) lets the row sums of
# layer normalisation vectorise too; -march=native is why the CPU is part of the library's name
FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
         "-fassociative-math")
OPENMP = ("-fopenmp",)
# the exported functions: "void NAME_##SUFFIX(arguments)" in the source (the macro's line continuations removed)
PROTOTYPE = re.compile(r"^void (\w+)_##SUFFIX\(([^)]*)\)", re.MULTILINE)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recnets"


def _build(compiler: str) -> Path:
    """The compiled library, built if this source, flags, compiler and CPU have none yet (atomically); with
    OpenMP where the compiler has it (the library then shares torch's OpenMP runtime, which is loaded first)."""
    from recnets.machine import cpu_model

    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), *FLAGS, *OPENMP, version, cpu_model(), platform.machine()])
                         .encode()).hexdigest()[:16]
    target = _cache_dir() / f"pointwise-{key}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    except OSError:  # a read-only home: the system's temporary folder
        target = Path(tempfile.gettempdir()) / f"recnets-{os.getuid()}" / target.name
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        command = [compiler, *FLAGS, "-o", temporary, str(SOURCE), "-lm"]
        if subprocess.run([*command, *OPENMP], capture_output=True, text=True).returncode != 0:
            subprocess.run(command, capture_output=True, text=True, check=True)  # no OpenMP: one thread
        os.replace(temporary, target)  # another process building the same library at once is harmless
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _signatures(source: str, scalar: type) -> dict[str, list[type]]:
    """Each exported function's ctypes argument types, read from its C prototype: a pointer, ``int64_t`` or
    the scalar ``T``."""
    source = source.replace("\\\n", "\n")
    signatures = {}
    for name, arguments in PROTOTYPE.findall(source):
        kinds = [argument.split() for argument in arguments.replace("\n", " ").split(",")]
        signatures[name] = [ctypes.c_void_p if "*" in " ".join(kind) else ctypes.c_int64 if kind[0] == "int64_t"
                            else scalar for kind in kinds]
    return signatures


@lru_cache(maxsize=None)
def pointwise_library() -> dict[torch.dtype, dict[str, ctypes._CFuncPtr]] | None:
    """``{dtype: {name: C function}}`` for float32 and float64, or None where it cannot be built (no compiler,
    a failed compile: warned once) or ``RECNETS_POINTWISE=0``."""
    if os.environ.get("RECNETS_POINTWISE", "1") == "0":
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    try:
        library = ctypes.CDLL(str(_build(compiler)))
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        warnings.warn(f"recnets: the fused element-wise steps did not build ({' '.join(detail.split())[:300]}); "
                      "the BPTT kernels use torch ops instead", RuntimeWarning, stacklevel=2)
        return None
    functions: dict[torch.dtype, dict[str, ctypes._CFuncPtr]] = {}
    for dtype, suffix, scalar in ((torch.float32, "float", ctypes.c_float), (torch.float64, "double", ctypes.c_double)):
        functions[dtype] = {}
        for name, argument_types in _signatures(SOURCE.read_text(), scalar).items():
            function = getattr(library, f"{name}_{suffix}")
            function.argtypes, function.restype = argument_types, None
            functions[dtype][name] = function
    return functions


def uses_pointwise(*tensors: Tensor) -> dict[str, ctypes._CFuncPtr] | None:
    """The C steps for these tensors' dtype when all are on the CPU in float32 or float64 and the library
    exists; else None (the caller runs its torch ops)."""
    first = tensors[0]
    if first.device.type != "cpu" or first.dtype not in (torch.float32, torch.float64):
        return None
    if any(tensor.device.type != "cpu" or tensor.dtype != first.dtype for tensor in tensors):
        return None
    library = pointwise_library()
    return None if library is None else library[first.dtype]


def step_addresses(*sequences: Tensor | Sequence[Tensor] | None) -> list[tuple[int | None, ...]]:
    """The data address of every step of time-major sequences, zipped, as :func:`step_views` gives the views
    (a sequence of per-step views, e.g. :func:`previous_steps`, as it is; ``None`` stays ``None``). The caller
    keeps the sequences alive and their rows contiguous. ``(T, ...) -> T × (int,)``"""
    return [tuple(None if view is None else view.data_ptr() for view in views) for views in step_views(*sequences)]
