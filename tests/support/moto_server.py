#!/usr/bin/env python3
"""Runs moto's server (same arguments as `python -m moto.server`) with four bugs of moto fixed.

1. moto sums the containers' `memory` to place a task, and fails with a TypeError when a container
   has none. ECS allows that (on Fargate, and on EC2 when the task sets memory): the sum falls back
   to the task-level memory, as ECS itself does.
2. moto refuses an EC2-compatible container that has only `memoryReservation` ("At least one of
   'memory' or 'memoryReservation' must be specified"), although that is what it names. ECS's
   documented rule (ContainerDefinition.memoryReservation): "If a task-level memory value is not
   specified, you must specify a non-zero integer for one or both of memory or memoryReservation in
   a container definition." The validation below is moto's own with only that check corrected.

3. moto's containers say `healthStatus: HEALTHY` whether or not they have a health check; ECS
   says UNKNOWN until a check reports (and always, for a container without one). Here they start
   UNKNOWN.

And one route moto does not have, standing in for the channel on which the real ECS agent
reports container health to ECS (it is not a public API call): `POST /moto-api/bridge/ecs-health`
with `{"region", "cluster", "task", "containers": {NAME: HEALTHY|UNHEALTHY|UNKNOWN}, "essential":
[NAME, ...]}` sets those containers' `healthStatus` and the task's, which ECS derives from its
essential containers that have a check: UNHEALTHY if one is, HEALTHY if all are, else UNKNOWN.
moto_agent.py calls it with what the Docker Engine reports of the health checks it runs.

4. moto's server is threaded but its backends are not thread-safe: a request racing another (the
   agent's RunTask beside bridge's calls) fails with a KeyError (HTTP 500) or sees half-made state,
   which AWS never answers. Here requests are served one at a time, as a consistent API would
   order them; the response is read whole under the lock.

Nothing else is changed.
"""

import json
import sys
import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs import models
from moto.moto_api._internal import urls as moto_api_urls
from moto.moto_server import werkzeug_app
from moto.server import main

_orig = models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def _fixed(task_definition):
    defs = task_definition.container_definitions
    if any(d.get("memory") is None and d.get("memoryReservation") is None
           and d.get("Memory") is None and d.get("MemoryReservation") is None for d in defs):
        task_memory = int(getattr(task_definition, "memory", None) or 0)
        share = task_memory // max(len(defs), 1)
        patched = []
        for d in defs:
            d = dict(d)
            if d.get("memory") is None and d.get("memoryReservation") is None:
                d["memory"] = share
            patched.append(d)

        class _View:
            container_definitions = patched

        return _orig(_View)
    return _orig(task_definition)


models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(_fixed)


def _validate_container_defs(memory, container_definitions, requires_compatibilities):
    for cd in container_definitions:
        if "name" not in cd and "Name" not in cd:
            raise models.TaskDefinitionMissingPropertyError("name")
        if "image" not in cd and "Image" not in cd:
            raise models.TaskDefinitionMissingPropertyError("image")
        if not memory and not any(
            cd.get(k) for k in ("memory", "Memory", "memoryReservation", "MemoryReservation")
        ):
            raise models.TaskDefinitionMemoryError(cd["name"])


models.EC2ContainerServiceBackend._validate_container_defs = staticmethod(_validate_container_defs)

_container_init = models.Container.__init__


def _container_unknown(self, task_def):
    _container_init(self, task_def)
    self.health_status = "UNKNOWN"


models.Container.__init__ = _container_unknown


def _ecs_health(request, full_url, headers):
    """The agent's health report for one task (see the module's doc)."""
    size = int(headers.get("Content-Length") or 0)
    body = json.loads(request.environ["wsgi.input"].read(size).decode("utf-8") or "{}")
    backend = models.ecs_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body["region"]]
    cluster = backend._get_cluster(body["cluster"])
    task_id = body["task"].split("/")[-1]
    task = next((t for arn, t in backend.tasks.get(cluster.name, {}).items()
                 if arn.endswith(task_id)), None)
    if task is None:
        return 404, {}, json.dumps({"message": f"no task {body['task']}"})
    reported = body.get("containers", {})
    for c in task.containers:
        if c.name in reported:
            c.health_status = reported[c.name]
    checked = [reported[n] for n in body.get("essential", []) if n in reported]
    if "UNHEALTHY" in checked:
        task.health_status = "UNHEALTHY"
    elif checked and all(h == "HEALTHY" for h in checked):
        task.health_status = "HEALTHY"
    else:
        task.health_status = "UNKNOWN"
    return 200, {}, json.dumps({"healthStatus": task.health_status})


moto_api_urls.url_paths["{0}/moto-api/bridge/ecs-health"] = _ecs_health

_serial = threading.Lock()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _one_at_a_time(self, environ, start_response):
    with _serial:
        return list(_dispatch(self, environ, start_response))


werkzeug_app.DomainDispatcherApplication.__call__ = _one_at_a_time

if __name__ == "__main__":
    main(sys.argv[1:])
