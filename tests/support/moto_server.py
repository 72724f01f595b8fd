#!/usr/bin/env python3
"""Runs moto's server (same arguments as `python -m moto.server`) with four bugs of moto fixed
and two gaps filled (5, 6).

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

5. moto's ECS drops `serviceConnectConfiguration`: CreateService and UpdateService ignore it and
   DescribeServices has none. Here both keep it and report it where ECS does, on the service's
   primary deployment (the Service shape has no such field), with the namespace as its ARN, and
   `serviceConnectResources` (the discovery names). They enforce ECS's rules first, answering a
   violation as ECS does (InvalidParameterException): the namespace (name or ARN, else the
   cluster's serviceConnectDefaults) exists in moto's Cloud Map; the task definition's network
   mode is bridge or awsvpc; each `portName` is a portMappings name of the task definition; each
   entry has exactly one client alias ("clientAliases must have 1 element."); a discoveryName
   (default: the portName) and a dnsName have ECS's characters; each discoveryName is unique in
   the namespace (no other service's, nor a Cloud Map service there already), and each client
   alias's name and port too (no other service's). Nothing is resolved: the proxy is ECS's.

6. moto's CreateService drops `deploymentConfiguration`, `placementConstraints`,
   `placementStrategy`, `healthCheckGracePeriodSeconds`, `enableExecuteCommand` and
   `capacityProviderStrategy` (its
   UpdateService keeps them, and DescribeServices reports what is kept). Here CreateService keeps
   them as UpdateService does, so DescribeServices reports them as ECS does.

Nothing else is changed.
"""

import json
import re
import sys
import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs import models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException
from moto.moto_api._internal import urls as moto_api_urls
from moto.moto_server import werkzeug_app
from moto.server import main
from moto.servicediscovery.models import servicediscovery_backends

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

_DISCOVERY_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,63}$")
_DNS_NAME = re.compile(r"^[a-z0-9_.][a-z0-9_.-]{0,126}$")


def _sc_namespace(resp, ref):
    backend = servicediscovery_backends[resp.current_account][resp.region]
    return next((n for n in backend.namespaces.values() if ref in (n.name, n.arn)), None), backend


def _sc_check(resp, conf, cluster_str, service_name, task_definition):
    """ECS's rules for a serviceConnectConfiguration (see the module's doc): the namespace it
    uses, or an InvalidParameterException."""
    backend = resp.ecs_backend
    cluster = backend._get_cluster(cluster_str)
    if not conf.get("enabled"):
        return None
    ref = conf.get("namespace") or (cluster.service_connect_defaults or {}).get("namespace")
    if not ref:
        raise InvalidParameterException(
            "Service Connect needs a namespace: none is given and the cluster has no serviceConnectDefaults.")
    ns, sd = _sc_namespace(resp, ref)
    if ns is None:
        raise InvalidParameterException(f"The Cloud Map namespace {ref} was not found.")
    td = backend.describe_task_definition(task_definition)
    if td.network_mode not in ("bridge", "awsvpc"):
        raise InvalidParameterException(
            f"Service Connect does not support the {td.network_mode} network mode.")
    port_names = {pm.get("name") for c in td.container_definitions
                  for pm in (c.get("portMappings") or []) if pm.get("name")}
    # What the namespace holds already: other services' endpoints and Cloud Map services.
    me = f"{cluster.name}:{service_name}"
    taken_names = {s.name for s in sd.services.values() if s.namespace_id == ns.id}
    taken_aliases = set()
    for key, other in backend.services.items():
        held = getattr(other, "_bridge_sc", None)
        if key == me or other.status != "ACTIVE" or not held or held[1] != ns.id:
            continue
        for e in held[0].get("services") or []:
            taken_names.add(e.get("discoveryName") or e["portName"])
            for a in e.get("clientAliases") or []:
                taken_aliases.add((a.get("dnsName"), a.get("port")))
    for e in conf.get("services") or []:
        pn = e["portName"]
        if pn not in port_names:
            raise InvalidParameterException(
                f"The portName {pn} does not match the name of any portMappings of the task definition {td.family}.")
        aliases = e.get("clientAliases") or []
        if len(aliases) != 1:
            raise InvalidParameterException("clientAliases must have 1 element.")
        disc = e.get("discoveryName") or pn
        if not _DISCOVERY_NAME.match(disc):
            raise InvalidParameterException(f"The discoveryName {disc} is not valid.")
        if disc in taken_names:
            raise InvalidParameterException(
                f"The discoveryName {disc} is already in use in the namespace {ns.name}.")
        taken_names.add(disc)
        a = aliases[0]
        dns = a.get("dnsName") or f"{disc}.{ns.name}"
        if not _DNS_NAME.match(dns):
            raise InvalidParameterException(f"The dnsName {dns} is not valid.")
        if (dns, a.get("port")) in taken_aliases:
            raise InvalidParameterException(
                f"The client alias {dns}:{a.get('port')} is already in use in the namespace {ns.name}.")
        taken_aliases.add((dns, a.get("port")))
    return ns


def _sc_keep(resp, cluster_str, service_name, conf, ns):
    """Keep the configuration on the service and report it on its primary deployment."""
    backend = resp.ecs_backend
    service = backend.services.get(f"{backend._get_cluster(cluster_str).name}:{service_name}")
    if service is None:
        return
    if ns is None:
        reported = dict(conf)
        service._bridge_sc = None
        resources = []
    else:
        reported = dict(conf, namespace=ns.arn)
        service._bridge_sc = (conf, ns.id)
        resources = [{"discoveryName": e.get("discoveryName") or e["portName"]}
                     for e in conf.get("services") or []]
    for d in service.deployments:
        if d.get("status") == "PRIMARY":
            d["serviceConnectConfiguration"] = reported
            d["serviceConnectResources"] = resources


_create_service = ecs_responses.EC2ContainerServiceResponse.create_service
_update_service = ecs_responses.EC2ContainerServiceResponse.update_service


def _create_service_connect(self):
    conf = self._get_param("serviceConnectConfiguration")
    cluster_str = self._get_param("cluster", "default")
    name = self._get_param("serviceName")
    ns = None
    if conf is not None:
        ns = _sc_check(self, conf, cluster_str, name, self._get_param("taskDefinition"))
    result = _create_service(self)
    if conf is not None:
        _sc_keep(self, cluster_str, name, conf, ns)
    _keep_on_create(self, cluster_str, name)
    return result


# (6) The CreateService members moto's create drops, under the attribute names its
# UpdateService sets (and DescribeServices reads).
_KEPT_ON_CREATE = {
    "deploymentConfiguration": "deployment_configuration",
    "placementConstraints": "placement_constraints",
    "placementStrategy": "placement_strategy",
    "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
    "enableExecuteCommand": "enable_execute_command",
    "capacityProviderStrategy": "capacity_provider_strategy",
}


def _keep_on_create(resp, cluster_str, service_name):
    backend = resp.ecs_backend
    service = backend.services.get(f"{backend._get_cluster(cluster_str).name}:{service_name}")
    if service is None:
        return
    for member, attr in _KEPT_ON_CREATE.items():
        value = resp._get_param(member)
        if value is not None:
            setattr(service, attr, value)


def _update_service_connect(self):
    conf = self._get_param("serviceConnectConfiguration")
    cluster_str = self._get_param("cluster", "default")
    name = self._get_param("service").split("/")[-1]
    ns = None
    if conf is not None:
        service = self.ecs_backend._get_service(cluster_str, name)
        td = self._get_param("taskDefinition") or getattr(service.task_definition, "arn", service.task_definition)
        ns = _sc_check(self, conf, cluster_str, name, td)
    result = _update_service(self)
    if conf is not None:
        _sc_keep(self, cluster_str, name, conf, ns)
    return result


ecs_responses.EC2ContainerServiceResponse.create_service = _create_service_connect
ecs_responses.EC2ContainerServiceResponse.update_service = _update_service_connect

_serial = threading.Lock()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _one_at_a_time(self, environ, start_response):
    with _serial:
        return list(_dispatch(self, environ, start_response))


werkzeug_app.DomainDispatcherApplication.__call__ = _one_at_a_time

if __name__ == "__main__":
    main(sys.argv[1:])
