"""Optional Numba compilation of the hot kernels, with a NumPy fallback always available.

A kernel is a plain Python function over NumPy arrays and scalars, written as explicit loops
(no Python objects inside). :func:`kernel` wraps it so that the first call compiles it with
``numba.njit(cache=True, nogil=True)`` (the machine code is cached beside the module, so later
processes load it in milliseconds); callers ask :func:`numba_enabled` whether to take the
compiled path or their NumPy reference.

Numba is the ``fast`` extra (``pip install posesynth[fast]``). Without it, or with the
environment variable ``POSESYNTH_KERNELS=numpy``, every caller takes its NumPy path. The
variable is read at each call, so tests and benchmarks can compare both paths in one process.

Ctrl-C: a kernel that takes a ``numpy.random.Generator`` is called with SIGINT's Python handler
held back (see :func:`_interrupt_held`). Numba unboxes a Generator by calling ``ctypes.cast``,
which is Python code: a KeyboardInterrupt raised there leaves the unboxed Generator half
built, and the process died by SIGSEGV (Numba 0.68; seen as an interrupted ``posesynth
generate`` that left its partial folder behind).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

#: Environment variable choosing the kernels: ``numba`` (default when installed) or ``numpy``.
ENV_VAR = "POSESYNTH_KERNELS"

#: Held while a kernel's module is set up for Numba: its helpers are replaced once, and a
#: helper compiled twice is an error.
_SETTING_UP = threading.Lock()

#: Per thread, how many :func:`interrupts_held` blocks are open (their kernels skip the
#: per-call guard: SIGINT is held for the whole block already).
_HELD = threading.local()


@functools.cache
def numba_installed() -> bool:
    """Whether Numba can be imported (checked once; importing it is deferred to first use)."""
    return importlib.util.find_spec("numba") is not None


def numba_enabled() -> bool:
    """True when the compiled kernels should run: Numba installed and not switched off."""
    choice = os.environ.get(ENV_VAR, "numba").strip().lower()
    if choice not in ("numba", "numpy"):
        raise ValueError(f"{ENV_VAR}: expected 'numba' or 'numpy', got {choice!r}")
    return choice == "numba" and numba_installed()


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled by Numba on first call (nopython, cached, GIL released).

    Call the result only when :func:`numba_enabled` is true. Compilation happens once per
    argument types and process; the compiled code is cached on disk for the next process.
    Helpers the kernel calls are plain functions of its module listed in the module's
    ``JIT_HELPERS`` tuple; they are compiled (inlined) together with the first kernel, and
    the name ``fma`` in the module becomes the fused multiply-add ``a * b + c`` (one rounding).
    """
    compiled: list[Callable[..., Any]] = []

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        if not compiled:
            with _SETTING_UP:  # two threads may call a module's first kernels at once
                if not compiled:
                    import numba

                    _compile_helpers(fn.__globals__)
                    compiled.append(numba.njit(cache=True, nogil=True, error_model="numpy")(fn))
        if not getattr(_HELD, "depth", 0) and any(isinstance(arg, np.random.Generator) for arg in args):
            with _interrupt_held():
                return compiled[0](*args)
        return compiled[0](*args)

    call.py_func = fn  # type: ignore[attr-defined]
    return call


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold back KeyboardInterrupt for a whole block of kernel calls that take a Generator
    (see the module docstring): SIGINT's handler is swapped once for the block instead of
    around each call, which costs 8.5 us a call (a generated shard of 20,000 samples makes
    about 150 such calls). An interrupt surfaces when the block ends. Blocks nest."""
    depth = getattr(_HELD, "depth", 0)
    with _interrupt_held() if depth == 0 else contextlib.nullcontext():
        _HELD.depth = depth + 1
        try:
            yield
        finally:
            _HELD.depth = depth


@contextlib.contextmanager
def _interrupt_held() -> Iterator[None]:
    """Hold back SIGINT's Python handler (KeyboardInterrupt) until the block ends, then
    deliver the signal again to that handler: the interrupt surfaces right after the block,
    never inside it. Only the main thread runs Python signal handlers, so elsewhere, or when
    SIGINT has no Python handler (ignored, default, set from C), nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)


def _compile_helpers(namespace: dict[str, Any]) -> None:
    """Replace a kernel module's helpers by their Numba versions, once per module."""
    import numba

    if namespace.get("_jit_ready"):
        return
    for name in namespace.get("JIT_HELPERS", ()):
        namespace[name] = numba.njit(cache=True, inline="always", error_model="numpy")(namespace[name])
    if "fma" in namespace:
        namespace["fma"] = _fma_intrinsic()
    namespace["_jit_ready"] = True


@functools.cache
def _fma_intrinsic() -> Any:
    """``fma(a, b, c) = a * b + c`` rounded once (LLVM's ``llvm.fma.f64``), for float64."""
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
        sig = types.float64(types.float64, types.float64, types.float64)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            d = ir.DoubleType()
            fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
            return builder.call(fn, args)

        return sig, codegen

    return fma


def fma_reference(a: float, b: float, c: float) -> float:
    """``a * b + c`` with one rounding, in pure Python (exact rationals); the Python
    stand-in of a kernel module's ``fma``, used only where a kernel runs uncompiled."""
    from fractions import Fraction

    return float(Fraction(a) * Fraction(b) + Fraction(c))
