"""The task layer: what every command that starts or follows an ECS task uses.

Resolving the target (:mod:`.target`), following a task (:mod:`.follow`), reading its log
stream (:mod:`.logstream`), classifying how it ended (:mod:`.outcome`), pacing the API calls
(:mod:`.pacing`) and cancellation (:mod:`.cancel`).
"""
