"""Run one stage in a fresh child process (spawned, not forked), so that the peak RSS it reports
(`resource.getrusage`) is that stage's alone; the child is ended if the parent gives up."""

from __future__ import annotations

import multiprocessing
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
KIB_PER_MIB = 1024
EXIT_TIMEOUT_S = 30


def in_child(function: Callable[..., T], *arguments: Any) -> tuple[T, float]:
    """`function(*arguments)` in a spawned process: its result and the process's peak RSS
    in MiB. An exception in the child is raised here as a RuntimeError with its traceback."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sending, function, arguments))
    process.start()
    sending.close()
    try:
        kind, value, peak = receiving.recv()
    except EOFError:
        process.join(EXIT_TIMEOUT_S)
        raise RuntimeError(f"{function.__name__}: child exited with {process.exitcode}"
                           " without an answer") from None
    except BaseException:
        process.terminate()  # the parent is stopping (SIGTERM, Ctrl-C): so is the stage
        raise
    finally:
        receiving.close()
        process.join(EXIT_TIMEOUT_S)
        if process.is_alive():
            process.terminate()
            process.join(EXIT_TIMEOUT_S)
    if kind == "error":
        raise RuntimeError(f"{function.__name__} failed in its child process:\n{value}")
    return value, peak


def _child(sending: Connection, function: Callable[..., Any], arguments: tuple[Any, ...]) -> None:
    try:
        result = function(*arguments)
    except BaseException:
        sending.send(("error", traceback.format_exc(), 0.0))
        raise
    # ru_maxrss is in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB
    sending.send(("ok", result, peak))
