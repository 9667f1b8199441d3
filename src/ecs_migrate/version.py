"""The version of ecs-migrate, written once.

pyproject.toml reads it from here (``[tool.setuptools.dynamic]``, statically, without importing
the package), so the installed metadata, ``ecs-migrate --version`` and every module that shows
the version agree. Modules import it from here, not from the package's face (``ecs_migrate``).
"""

__version__ = "0.1.0"
