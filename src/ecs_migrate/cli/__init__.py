"""The command line: one module per command (or group), the shared options, the one exit.

Only this package parses flags, prints (through :mod:`ecs_migrate.render`) and exits. It
imports click only, so ``ecs-migrate --help`` stays fast; each command imports its core
module when it runs.
"""
