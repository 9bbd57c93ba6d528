"""Builds: an actor version's files made into something runnable.

- job.py: execute_build, the RQ entry point (`worker.builds.execute_build`): claim, make, finish, tag;
- directory.py: build directories, made once per content and owner (files, venv, node_modules);
- steps.py: the programs a build runs, sandboxed, under its deadline and abort;
- installs.py: the automatic pip and npm installs of a build without Dockerfile steps;
- dockerfile.py (which Dockerfile, parsed), stages.py (its stages run), images.py (FROM mapped to the
  worker's toolchains), fileops.py (COPY and ADD, run sandboxed): Dockerfiles without Docker;
- start.py: the runs' start command, checked before a Dockerfile build succeeds;
- reading.py: reading a build directory without following a step's symlinks out of it.
"""

from worker.builds.job import execute_build

__all__ = ["execute_build"]
