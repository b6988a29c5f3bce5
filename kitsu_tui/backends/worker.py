"""A dedicated thread pool per model so blocking calls and lazy generators never run on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

_DONE = object()
STREAM_BUFFER = 256
"""The most items a stream's thread may produce ahead of its consumer."""
_background_nice = 0
_abandoned: list[threading.Thread] = []
"""Model threads still inside a call when their worker closed (see abandoned_calls)."""


def abandoned_calls() -> list[str]:
    """Names of model threads still inside a native call after their worker closed: the process should os._exit."""
    return [thread.name for thread in _abandoned if thread.is_alive()]


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


_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool(Executor):
    """A fixed pool of daemon threads: a native call still running at exit never holds the interpreter open."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"kitsu-{name}_{i}", daemon=True)
                         for i in range(max(1, threads))]
        self._lock = threading.Lock()
        self._started = False
        self._shut = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue fn(*args, **kwargs) for the pool's threads (started on the first call)."""
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new calls after shutdown")
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()
            future: Future[T] = Future()
            self._work.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        """Thread body: run queued calls until the shutdown marker."""
        _lower_thread_priority()
        while (item := self._work.get()) is not None:
            future, fn, args, kwargs = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # delivered to the awaiting caller
                    future.set_exception(exc)
            del future, fn, args, kwargs

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls (dropping queued ones when asked); with `wait`, join the threads."""
        with self._lock:
            if not self._shut:
                self._shut = True
                while cancel_futures:
                    try:
                        item = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
                for _ in self._threads:
                    self._work.put(None)
        if wait:
            for thread in self.live_threads():
                thread.join()

    def live_threads(self) -> list[threading.Thread]:
        """The pool's threads still running (a call in progress, or not yet at the shutdown marker)."""
        return [thread for thread in self._threads if thread.is_alive()]


class ModelWorker:
    """Runs a model's calls on its own thread(s); generators are iterated inside that thread."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._executor = DaemonPool(name, threads)

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

    async def close(self, timeout_s: float = 2.0) -> bool:
        """Stop accepting work and wait (off the loop) for the running call to end; False on timeout.

        Native model code must not outlive its Python objects: freeing a model while its thread is
        still inside llama.cpp or onnxruntime aborts the process. A call that overruns (an LLM warm-up
        cannot be stopped) is left to its daemon thread and listed by abandoned_calls(), so the CLI
        ends the process with os._exit instead of finalizing the objects under it.
        """
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while live := self._executor.live_threads():
            if asyncio.get_running_loop().time() > deadline:
                _abandoned.extend(thread for thread in live if thread not in _abandoned)
                return False
            await asyncio.sleep(0.02)
        return True


class _Failure:
    """Wraps an exception raised inside the worker thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
