"""The task layer: what the commands that start or follow an ECS task share.

Resolving the target (:mod:`.target`); starting a task of a kind, retried while capacity is
short (:mod:`.start`); the queue behind other migrations (:mod:`.queue`); one task from start
to end, for `run` and the probes (:mod:`.oneoff`, :mod:`.probe`); following tasks, one or
many, in one loop (:mod:`.follow`, :mod:`.bulk`) under one run context (:mod:`.context`);
reading their log streams (:mod:`.logstream`); classifying how a task ended
(:mod:`.outcome`) and its result (:mod:`.result`); pacing the API calls (:mod:`.pacing`) and
cancellation (:mod:`.cancel`).
"""
