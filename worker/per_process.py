"""One object per process, made at its first use: a forked child makes its own, for a thread or a
socket of its parent's is not in the child."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    """`get()`: this process's T, made by `make` at the first call in it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._current: tuple[int, T] | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._current is None or self._current[0] != os.getpid():
                self._current = (os.getpid(), self._make())
            return self._current[1]
