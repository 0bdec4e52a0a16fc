"""A one-line description of the machine a figure was measured on."""
from __future__ import annotations

import os
import platform

import torch

__all__ = ["describe_machine"]


def describe_machine(device: torch.device | str = "cpu") -> str:
    """CPU model, core count and torch threads; the GPU's name when ``device`` is CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
