"""The task layer: what every command that starts or follows an ECS task uses.

Resolving the target (:mod:`.target`), following tasks, one or many, in one loop
(:mod:`.follow`, :mod:`.bulk`) under one run context (:mod:`.context`), reading their log
streams (:mod:`.logstream`), classifying how a task ended (:mod:`.outcome`), pacing the API
calls (:mod:`.pacing`) and cancellation (:mod:`.cancel`).
"""
