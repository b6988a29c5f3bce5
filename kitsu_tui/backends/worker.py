"""A dedicated thread pool per model so blocking calls and lazy generators never run on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()
STREAM_BUFFER = 256
"""The most items a stream's thread may produce ahead of its consumer."""
_background_nice = 0


def set_background_nice(increment: int) -> None:
    """Lower the CPU priority of model threads started from now on (and of the native threads they spawn).

    The interactive console calls this so its UI thread keeps the CPU while models run; 0 leaves it alone.
    """
    global _background_nice
    _background_nice = max(0, min(19, int(increment)))


def _lower_thread_priority() -> None:
    """Thread initializer: renice this worker thread (Linux nice values are per thread and inherited)."""
    if _background_nice <= 0 or not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + _background_nice))


class ModelWorker:
    """Runs a model's calls on its own thread(s); generators are iterated inside that thread."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"kitsu-{name}",
                                            initializer=_lower_thread_priority)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the worker thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def stream(self, make_iter: Callable[[], Iterator[T]], stop: threading.Event | None = None) -> AsyncIterator[T]:
        """Create and iterate make_iter() inside the worker thread, yielding items on the loop.

        At most STREAM_BUFFER items wait for the consumer; beyond that the thread waits (backpressure).
        Closing the async iterator (or setting `stop`) makes the thread stop after the current item.
        """
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()  # bounded by `slots`, which the thread can wait on
        slots = threading.Semaphore(STREAM_BUFFER)
        halt = threading.Event()  # set when the consumer goes away; `stop` belongs to the caller

        def stopping() -> bool:
            return halt.is_set() or (stop is not None and stop.is_set())

        def pump() -> None:
            try:
                iterator = make_iter()
                try:
                    for item in iterator:
                        while not slots.acquire(timeout=0.05):
                            if stopping():
                                return
                        loop.call_soon_threadsafe(items.put_nowait, item)
                        if stopping():
                            break
                finally:
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        with contextlib.suppress(Exception):
                            close()
            except BaseException as exc:  # delivered to the consumer, never lost in the thread
                loop.call_soon_threadsafe(items.put_nowait, _Failure(exc))
            finally:
                loop.call_soon_threadsafe(items.put_nowait, _DONE)

        future = loop.run_in_executor(self._executor, pump)
        try:
            while True:
                item = await items.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                slots.release()
                yield item
        finally:
            halt.set()
            if not future.done():
                # Let the thread finish its current item; never block the loop on it.
                future.add_done_callback(lambda f: f.exception())

    async def close(self, timeout_s: float = 10.0) -> bool:
        """Stop accepting work and wait (off the loop) for the running call to end; False on timeout.

        Native model code must not outlive its Python objects: freeing a model while its thread is
        still inside llama.cpp or onnxruntime aborts the process.
        """
        self._executor.shutdown(wait=False, cancel_futures=True)
        joiner = threading.Thread(target=self._executor.shutdown, kwargs={"wait": True}, daemon=True)
        joiner.start()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while joiner.is_alive():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class _Failure:
    """Wraps an exception raised inside the worker thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
