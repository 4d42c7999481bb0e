"""Ctrl-C (or a scheduler's SIGTERM) that lets a training loop finish its step and save before stopping.

The first SIGINT or SIGTERM only records the request; the loop checks `StopRequest.requested` at a safe point
(between steps), saves its checkpoint and raises KeyboardInterrupt. A second signal interrupts at once, as Ctrl-C
normally does. SLURM and Kubernetes send SIGTERM some seconds before SIGKILL: enough to save one step.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger("skingan")


@dataclass
class StopRequest:
    requested: bool = False


@contextlib.contextmanager
def stop_after_step(enabled: bool = True) -> Iterator[StopRequest]:
    """Within the block, Ctrl-C/SIGTERM set `requested` instead of stopping (where a handler can be installed)."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum: int, frame: object) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        log.warning("%s: stopping after this step and saving a checkpoint (press Ctrl-C again to stop now)", name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
