"""Reading a build directory as the worker (root): never through a symlink a build step left."""

from __future__ import annotations

import os
from pathlib import Path


def read_inside(root: Path, path: Path) -> str:
    """A file of a build directory, read by the worker (root) only if it is within `root` (a build
    step can leave symlinks to anywhere). Raises OSError otherwise."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise PermissionError(f"{path} leads out of its build directory")
    return real.read_text(errors="replace")
