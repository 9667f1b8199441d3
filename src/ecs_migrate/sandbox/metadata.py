"""The task metadata endpoint (v4) that ECS gives every container, for sandbox tasks.

Each task's container gets ``ECS_CONTAINER_METADATA_URI_V4=http://127.0.0.1:PORT/v4/ID``;
``GET $URI`` answers the container's metadata and ``GET $URI/task`` the task's, with the
fields `apply` reads (TaskARN, Cluster, Family, Revision).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class MetadataServer:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.containers: dict[str, dict[str, Any]] = {}
        tasks, containers = self.tasks, self.containers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                body: dict[str, Any] | None = None
                if len(parts) == 2 and parts[0] == "v4":
                    body = containers.get(parts[1])
                elif len(parts) == 3 and parts[0] == "v4" and parts[2] == "task":
                    body = tasks.get(parts[1])
                data = json.dumps(body or {"error": "not found"}).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tasks' requests are not the sandbox user's business

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-metadata", daemon=True
        )
        self._thread.start()

    def register(self, task: Any, container_name: str, taskdef_arn: str) -> str:
        """Publish a task's metadata; the URI its container gets."""
        family, _, revision = taskdef_arn.rsplit("/", 1)[-1].partition(":")
        self.tasks[task.id] = {
            "Cluster": task.cluster_arn,
            "TaskARN": task.task_arn,
            "Family": family,
            "Revision": revision,
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "LaunchType": "FARGATE",
        }
        self.containers[task.id] = {"Name": container_name, "DockerId": task.id}
        return f"http://127.0.0.1:{self._server.server_address[1]}/v4/{task.id}"

    def forget(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)
        self.containers.pop(task_id, None)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
