"""The ECS task metadata endpoint (v4): the variable that names it, and the task's path.

`apply` reads its task's ARN from it; the sandbox's agent serves it to the tasks it runs.
"""

from __future__ import annotations

METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"
TASK_PATH = "/task"  # under the URI: the task's metadata (its ARN, cluster, family)
