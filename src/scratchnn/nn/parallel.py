"""A batch's work shared out over the CPU's cores.

NumPy runs each operation on one core; only matrix products (BLAS) use them
all. In a CNN most of a step is element-wise work on large feature maps (im2col
copies, pooling, ReLU, col2im), so one core did it while the others waited. And
BLAS's own threads keep spinning for a while after each product, in the way of
anything run beside them.

So the layers with heavy work cut the batch into one slice per core and run
each slice's work, matrix products included, in a thread of its own
(:func:`split_batch`), while BLAS is held to one thread per call
(:func:`one_blas_thread`). Each example's numbers depend only on its own slice, so the results are
those of one thread, except where a layer sums over the batch: a weight
gradient is then the sum of the slices' gradients, added in another order.
NumPy releases the GIL inside its loops and BLAS calls, so the threads do run
at once.

``SCRATCHNN_THREADS`` (or :func:`set_threads`) sets the number of threads; 1
turns the splitting off. The default is as many as BLAS would use, so
``OPENBLAS_NUM_THREADS=1`` keeps scratchnn on one core as before. Without a
BLAS that threadpoolctl can hold to one thread, nothing is split: slices that
each call a many-threaded BLAS are slower than one.
"""

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

# The least work (array elements handled) worth a thread of its own: handing a
# slice to a thread and waiting for it costs ~70 us here, the time numpy takes
# for ~100,000 elements.
MIN_SLICE_WORK = 1 << 17

_lock = threading.Lock()
_override: int | None = None  # set_threads(), which wins over SCRATCHNN_THREADS
_threads: int | None = None  # None: not decided yet
_pool: ThreadPoolExecutor | None = None
_blas = None  # threadpoolctl's controller of the BLAS libraries
_held = 0  # how many one_blas_thread() blocks are open
_saved: list = []  # (BLAS library, its thread count) while _held > 0


def _forget_the_pool_in_a_forked_child():
    """A forked process has only the thread that forked: the parent's pool workers do not
    exist there, so work handed to them would wait forever. The child makes its own."""
    global _lock, _pool
    _lock = threading.Lock()  # it may have been held by a thread that is not here
    _pool = None


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_forget_the_pool_in_a_forked_child)


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, or None if there is none."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    blas = ThreadpoolController().select(user_api="blas")
    return blas if blas.lib_controllers else None


def threads() -> int:
    """The number of threads a batch's work is shared out over (1: not split).

    Returns
    -------
    int
        ``SCRATCHNN_THREADS`` if set, else as many as BLAS would use (its own
        setting, such as ``OPENBLAS_NUM_THREADS``, capped at the cores this
        process may use); 1 when no BLAS library can be held to one thread.

    Raises
    ------
    ValueError
        If ``SCRATCHNN_THREADS`` is not a whole number >= 1.
    """
    global _threads, _blas
    if _threads is None:
        with _lock:
            if _threads is None:
                wanted = str(_override) if _override else os.environ.get("SCRATCHNN_THREADS", "").strip()
                if wanted and not (wanted.isdigit() and int(wanted) >= 1):
                    raise ValueError(f"SCRATCHNN_THREADS must be a whole number >= 1, got {wanted!r}")
                if _blas is None:
                    _blas = _blas_controller()
                if _blas is None:
                    _threads = 1
                elif wanted:
                    _threads = int(wanted)
                else:  # as many as BLAS was given (OPENBLAS_NUM_THREADS=1 means one core)
                    _threads = min(_usable_cores(), max(lib.num_threads for lib in _blas.lib_controllers))
    return _threads


def set_threads(count: int | None) -> None:
    """Share each batch's work out over ``count`` threads from now on.

    Parameters
    ----------
    count : int or None
        Threads, >= 1 (1: every layer works in the calling thread); None goes
        back to the default (``SCRATCHNN_THREADS``, else BLAS's thread count).

    Raises
    ------
    ValueError
        If ``count`` is not a whole number >= 1.
    """
    global _threads, _pool, _override
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"threads must be a whole number >= 1, got {count!r}")
    with _lock:
        if _held:
            raise RuntimeError("set_threads() inside a one_blas_thread() block")
        if _pool is not None:
            _pool.shutdown()
            _pool = None
        _override, _threads = count, None
    threads()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Hold BLAS to one thread per call inside the block (blocks may nest).

    Nothing changes when the work is not split (:func:`threads` is 1).

    Yields
    ------
    None
        Inside the block, every BLAS call runs in its caller's thread alone.
    """
    global _held, _saved
    if threads() == 1:
        yield
        return
    with _lock:
        if _held == 0:
            # The libraries' own calls (threadpoolctl's limit() takes ~15 us, these ~3).
            _saved = [(lib, lib.get_num_threads()) for lib in _blas.lib_controllers]  # type: ignore[union-attr]
            for lib, _ in _saved:
                lib.set_num_threads(1)
        _held += 1
    try:
        yield
    finally:
        with _lock:
            _held -= 1
            if _held == 0:
                for lib, count in _saved:
                    lib.set_num_threads(count)
                _saved = []


def slices(n: int, work: int) -> list[tuple[int, int]]:
    """How :func:`split_batch` cuts ``range(n)``: ``(start, stop)`` of each slice, in order.

    Parameters
    ----------
    n : int
        The batch size.
    work : int
        About how many array elements the whole batch's work handles.

    Returns
    -------
    list of tuple of int
        One slice per thread, fewer when each would get less than
        ``MIN_SLICE_WORK``; as equal as whole examples allow.
    """
    count = min(_threads or threads(), n, work // MIN_SLICE_WORK)
    if count <= 1:
        return [(0, n)]
    cuts = [n * i // count for i in range(count + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def split_batch(n: int, work: int, do: Callable[[int, int, int], None]) -> None:
    """Run ``do(start, stop, i)`` for each slice ``i`` of ``range(n)``, at once.

    The calling thread does the first slice and a pool the others; it returns
    when all are done, and re-raises the first error any of them raised. ``do``
    must only write to its own slice of arrays made beforehand, or to arrays of
    its own indexed by ``i``.

    Parameters
    ----------
    n : int
        The batch size.
    work : int
        About how many array elements the whole batch's work handles (see :func:`slices`).
    do : callable
        ``do(start, stop, i)``: the work for examples ``start:stop``.
    """
    if work < 2 * MIN_SLICE_WORK or (_threads or threads()) == 1:  # the common small case, quickly
        do(0, n, 0)
        return
    parts = slices(n, work)
    if len(parts) == 1:
        do(0, n, 0)
        return
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(len(parts) - 1, thread_name_prefix="scratchnn")
        pool = _pool
    with one_blas_thread():
        others = [pool.submit(do, start, stop, i) for i, (start, stop) in enumerate(parts[1:], 1)]
        try:
            do(*parts[0], 0)
        finally:
            errors = [future.exception() for future in others]  # waits for each
    for error in errors:
        if error is not None:
            raise error
