#!/usr/bin/env python3
"""Runs moto's server (same arguments as `python -m moto.server`) with two bugs of moto fixed.

1. moto sums the containers' `memory` to place a task, and fails with a TypeError when a container
   has none. ECS allows that (on Fargate, and on EC2 when the task sets memory): the sum falls back
   to the task-level memory, as ECS itself does.
2. moto refuses an EC2-compatible container that has only `memoryReservation` ("At least one of
   'memory' or 'memoryReservation' must be specified"), although that is what it names. ECS's
   documented rule (ContainerDefinition.memoryReservation): "If a task-level memory value is not
   specified, you must specify a non-zero integer for one or both of memory or memoryReservation in
   a container definition." The validation below is moto's own with only that check corrected.

Nothing else is changed.
"""

import sys

from moto.ecs import models
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

if __name__ == "__main__":
    main(sys.argv[1:])
