"""A one-line description of the machine a figure was measured on."""
from __future__ import annotations

import os
import platform

import torch

__all__ = ["describe_machine", "cpu_model"]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def describe_machine(device: torch.device | str = "cpu") -> str:
    """CPU model, core count and torch threads; the GPU's name when ``device`` is CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"{cpu_model()}, {os.cpu_count()} cores, {threads} torch thread{'' if threads == 1 else 's'}"
