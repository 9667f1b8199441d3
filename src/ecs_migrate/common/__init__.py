"""Neutral constants and small helpers that several commands share.

Nothing here imports a command, the task layer or AWS: a command that needs another's
constant (a pinned action, the Session Manager plugin's name, the task metadata variable)
finds it here instead of reaching sideways into that command's package.
"""
