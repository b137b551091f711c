"""Run one function on a forked copy of this process while this one does other work.

Large trees use the machine's second core this way (kubeconform uses its workers the
same way). The child sees everything the parent has loaded (fork), runs the function,
sends the pickled result through a pipe and exits without tearing the interpreter
down. When fork is unavailable or the child fails for any reason, the function runs in
this process instead, so results (and errors) are the same either way.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def can_fork() -> bool:
    """Whether a second core and ``os.fork`` are available."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2


class Forked(Generic[T]):
    """``fn()`` running in a forked child; :meth:`result` waits for its value.

    Always call :meth:`result` or :meth:`close` (``try``/``finally``), which reap the child.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._pid = 0
        self._read = -1
        try:
            read, write = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
            code = 0
            try:
                os.close(read)
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as out:
                    out.write(data)
            except BaseException:  # the parent reruns fn() and so raises the same error
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> T:
        """Wait for the child and return its value (computed here if the child failed)."""
        if self._pid:
            with os.fdopen(self._read, "rb") as src:
                data = src.read()
            self._read = -1
            _pid, status = os.waitpid(self._pid, 0)
            self._pid = 0
            if status == 0 and data:
                value: T = pickle.loads(data)
                return value
        return self._fn()

    def close(self) -> None:
        """Stop waiting: close the pipe (the child's write fails, so it exits) and reap it."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        if self._pid:
            os.waitpid(self._pid, 0)
            self._pid = 0
