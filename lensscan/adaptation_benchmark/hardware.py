"""A short description of the machine a benchmark cell ran on (CPU model, GPU name)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux, else what the platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_hardware(device: torch.device) -> dict[str, Any]:
    """Device, GPU name (None on the CPU), CPU model, cores and torch threads."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "device": str(device),
        "gpu": gpu,
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def hardware_label(hardware: dict[str, Any]) -> str:
    """One line: the GPU name, or the CPU model with the threads used."""
    if hardware.get("gpu"):
        return str(hardware["gpu"])
    threads = hardware.get("torch_threads")
    return f"{hardware.get('cpu', 'CPU')} ({threads} thread{'' if threads == 1 else 's'})"
