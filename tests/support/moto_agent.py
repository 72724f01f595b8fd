#!/usr/bin/env python3
"""Plays, beside a moto server, the parts of AWS that moto does not run.

- The ECS agent on every EC2 instance bridge launched: it reads ECS_CLUSTER from the instance's
  user data and registers the instance with that cluster (RegisterContainerInstance with the
  instance identity document, as the agent does on the VM); when an instance is terminated its
  container instance is deregistered (as ECS does).
- ECS's service scheduler: moto's services start no tasks. For every ACTIVE service it runs the
  missing tasks (RunTask, group `service:<name>`, the service's launch type, task definition and
  network configuration; on EC2 moto places them on registered container instances by cpu and
  memory) and stops the extra ones; tasks of deleted services are stopped.

- The container health checks the ECS agent runs. For every RUNNING task whose task definition
  gives a container a `healthCheck`, the agent does what the real one does on its instance: it
  creates that container on the Docker Engine (the machine's, through /var/run/docker.sock) with
  the task definition's image, entryPoint, command and environment, and the check as Docker's
  `Healthcheck` (`command` is Docker's `Test` as is: CMD-SHELL / CMD; interval, timeout, retries
  and startPeriod in seconds, ECS's defaults 30/5/3/0), so the Docker Engine runs the check.
  What Docker reports (starting / healthy / unhealthy) is reported to moto as the container's
  UNKNOWN / HEALTHY / UNHEALTHY, and the task's health follows (see moto_server.py's
  `/moto-api/bridge/ecs-health`, which stands in for the agent's reporting channel). Only images
  the local engine has run (nothing is pulled): a task whose image is missing keeps UNKNOWN and
  the agent logs why. The engine containers are labelled `bridge.moto-agent=AGENT_ID` and removed
  when their task stops.
- ECS's Service Connect, for the tasks of services that are clients of a namespace: all their
  containers on a network of their own, with a proxy answering the namespace's client aliases
  and forwarding to the owning services' endpoints (see "Service Connect, played" below).
- What ECS's service scheduler does with the result: a task whose essential container turns
  UNHEALTHY is stopped with ECS's reason "Task failed container health checks" and replaced; a
  task whose essential container exits is stopped with "Essential container in task exited".
  Every health transition is logged as `health: TASK CONTAINER STATUS` with the time.

Usage: moto_agent.py ENDPOINT REGION [AGENT_ID]. Runs until killed; every error is printed and
retried.
"""

import base64
import http.client
import json
import re
import socket
import sys
import time
import urllib.request

import boto3

endpoint, region = sys.argv[1], sys.argv[2]
agent_id = sys.argv[3] if len(sys.argv) > 3 else "moto-agent"
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
          aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
ecs = boto3.client("ecs", **kw)
registered = {}  # instance id -> (cluster, container instance arn)


def agent():
    res = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["bridge.app"]}])
    for r in res["Reservations"]:
        for i in r["Instances"]:
            iid, state = i["InstanceId"], i["State"]["Name"]
            if state in ("shutting-down", "terminated"):
                if iid in registered:
                    cluster, arn = registered.pop(iid)
                    try:
                        # ECS stops the tasks of an instance that is gone, then drops it.
                        for t in ecs.list_tasks(cluster=cluster, containerInstance=arn)["taskArns"]:
                            ecs.stop_task(cluster=cluster, task=t, reason="instance terminated")
                        ecs.deregister_container_instance(cluster=cluster, containerInstance=arn, force=True)
                    except Exception as e:  # noqa: BLE001
                        print("agent: deregister", iid, e, flush=True)
                continue
            if iid in registered:
                continue
            ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
            data = ud.get("UserData", {}).get("Value")
            if not data:
                continue
            m = re.search(r"ECS_CLUSTER=(\S+)", base64.b64decode(data).decode("utf-8", "replace"))
            if not m:
                continue
            cluster = m.group(1)
            doc = json.dumps({"instanceId": iid, "region": region, "instanceType": i["InstanceType"],
                              "imageId": i["ImageId"], "accountId": "123456789012"})
            try:
                ci = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=doc)
            except Exception as e:  # noqa: BLE001  (the cluster may not exist yet)
                print("agent: register", iid, e, flush=True)
                continue
            registered[iid] = (cluster, ci["containerInstance"]["containerInstanceArn"])


def tasks_of(cluster):
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    out = []
    for k in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=cluster, tasks=arns[k:k + 100])["tasks"]
    return [t for t in out if t.get("lastStatus") == "RUNNING"]


def scheduler():
    for cluster in ecs.list_clusters()["clusterArns"]:
        services = ecs.list_services(cluster=cluster)["serviceArns"]
        described = []
        for k in range(0, len(services), 10):
            described += ecs.describe_services(cluster=cluster, services=services[k:k + 10])["services"]
        running = tasks_of(cluster)
        active = set()
        for s in described:
            group = "service:" + s["serviceName"]
            mine = [t for t in running if t.get("group") == group]
            if s["status"] != "ACTIVE":
                continue
            active.add(group)
            want = s.get("desiredCount", 0)
            td = s.get("taskDefinition")
            fresh = [t for t in mine if t["taskDefinitionArn"] == td]
            stale = [t for t in mine if t["taskDefinitionArn"] != td]
            for t in stale + fresh[want:]:
                ecs.stop_task(cluster=cluster, task=t["taskArn"], reason="scheduler: scaled in or replaced")
            current = min(len(fresh), want)
            if current < want and td:
                args = dict(cluster=cluster, taskDefinition=td, count=want - current, group=group,
                            startedBy="ecs-svc/moto-agent", launchType=s.get("launchType") or "EC2")
                if s.get("networkConfiguration"):
                    args["networkConfiguration"] = s["networkConfiguration"]
                try:
                    ecs.run_task(**args)
                except Exception as e:  # noqa: BLE001  (no container instance yet)
                    print("scheduler: run", s["serviceName"], e, flush=True)
        for t in running:
            g = t.get("group", "")
            if g.startswith("service:") and g not in active:
                ecs.stop_task(cluster=cluster, task=t["taskArn"], reason="scheduler: service deleted")


class _Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def engine(method, path, body=None):
    """One Docker Engine API call: (status, parsed JSON or text)."""
    c = _Unix("localhost", timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/v1.41" + path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    raw = r.read().decode("utf-8", "replace")
    c.close()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, raw


task_defs = {}  # task definition arn -> its description
engine_containers = {}  # (task arn, container name) -> engine container name
task_networks = {}  # task arn -> the task's own engine network (Service Connect clients only)
reported = {}  # task arn -> {container: status} last reported
missing_logged = set()
refused = set()  # task arns stopped for a Service Connect configuration their definition breaks
namespace_names = {}  # Cloud Map namespace ARN -> its name
NS = 1_000_000_000
DOCKER_HEALTH = {"starting": "UNKNOWN", "healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}
PROXY_IMAGE = "bridge-test/busybox:1"  # the proxy's image: busybox `nc` (tests/support/engine.rs)
sd = boto3.client("servicediscovery", **kw)


class ServiceConnectError(Exception):
    """A Service Connect configuration the task's definition cannot serve."""


def task_definition(arn):
    if arn not in task_defs:
        task_defs[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return task_defs[arn]


def engine_name(task_arn, container):
    return f"bridge-{agent_id}-{task_arn.rsplit('/', 1)[-1][:12]}-{container}"


def labels(task_arn, group, container):
    return {"bridge.moto-agent": agent_id, "bridge.moto-task": task_arn,
            "bridge.moto-group": group, "bridge.moto-container": container}


def network(name):
    """Create the engine network `name` (labelled for the agent) unless it is there."""
    code, out = engine("POST", "/networks/create",
                       {"Name": name, "CheckDuplicate": True, "Labels": {"bridge.moto-agent": agent_id}})
    if code not in (201, 409):
        raise RuntimeError(f"engine network {name}: {code} {out}")


def create(name, spec, image):
    """Create a container; False when its image is not on the engine (logged once)."""
    code, out = engine("POST", f"/containers/create?name={name}", spec)
    if code == 404 and "image" in str(out).lower():
        if image not in missing_logged:
            missing_logged.add(image)
            print(f"agent: image {image} is not on the engine: its containers are not run", flush=True)
        return False
    if code != 409 and code != 201:  # 409: already there (an agent restart)
        raise RuntimeError(f"engine create {name}: {code} {out}")
    return True


def start(name):
    code, out = engine("POST", f"/containers/{name}/start")
    if code not in (204, 304):
        raise RuntimeError(f"engine start {name}: {code} {out}")


def start_container(task_arn, group, cd, net="none", ns_net=None, ns_aliases=()):
    """Create and start one of the task's containers on the engine (its image, entryPoint,
    command, environment, and its check as Docker's Healthcheck) on network `net`, and when
    `ns_aliases` are given on the namespace's network `ns_net` under them; False when its image
    is not there."""
    name = engine_name(task_arn, cd["name"])
    spec = {
        "Image": cd["image"],
        "Env": [f"{e['name']}={e['value']}" for e in cd.get("environment", [])],
        "Labels": labels(task_arn, group, cd["name"]),
        # Names the engine's DNS does not know are not looked up off the machine.
        "HostConfig": {"NetworkMode": net, "Dns": ["127.0.0.1"] if net != "none" else []},
    }
    hc = cd.get("healthCheck")
    if hc and hc.get("command", ["NONE"])[0] != "NONE":
        spec["Healthcheck"] = {
            "Test": hc["command"],
            "Interval": hc.get("interval", 30) * NS,
            "Timeout": hc.get("timeout", 5) * NS,
            "Retries": hc.get("retries", 3),
            "StartPeriod": hc.get("startPeriod", 0) * NS,
        }
    if cd.get("entryPoint"):
        spec["Entrypoint"] = cd["entryPoint"]
    if cd.get("command"):
        spec["Cmd"] = cd["command"]
    if not create(name, spec, cd["image"]):
        return False
    if ns_aliases:
        connect_to(ns_net, name, ns_aliases)
    start(name)
    return True


def connect_to(net, container, aliases):
    code, out = engine("POST", f"/networks/{net}/connect",
                       {"Container": container, "EndpointConfig": {"Aliases": list(aliases)}})
    if code != 200 and "already exists" not in str(out):
        raise RuntimeError(f"engine connect {container} to {net}: {code} {out}")


# --- Service Connect, played -------------------------------------------------------------------
# What ECS does for a task of a service that is a Service Connect client of a namespace
# (serviceConnectConfiguration enabled, on the service's primary deployment), played on the
# engine:
# - the task gets its own network (`bridge-AGENT-TASK`), on which all its containers run;
# - ECS's proxy joins the task: here one busybox container on that network per set of client
#   aliases that do not clash (one address per name, as ECS gives each alias its own address in
#   the task), answering each `dnsName` of every client alias in the namespace (the engine's DNS
#   resolves it to the proxy) and listening on its `port`; each connection is forwarded to the
#   endpoints of the service that owns the alias (the one whose entry it is);
# - the endpoints: a task of a service with entries registers, for each entry, the container
#   whose port mapping is the entry's `portName` in the namespace (Cloud Map's part, played by
#   the namespace's network `bridge-AGENT-ns-ID`, where that container carries the alias
#   `sc-DISCOVERYNAME`: the engine's DNS answers the current tasks, following replacements), on
#   its `containerPort`; the proxy reaches them on that network;
# - the client aliases a task's proxy answers are the namespace's when the task starts: ECS's
#   "existing tasks can't resolve and connect to the new endpoint";
# - a task that is no client of the namespace gets no proxy for it: its names do not resolve.
# The proxy relies on each entry's portName being a port mapping of the task definition: a task
# whose definition lacks it is stopped, with the reason, and the agent says so (ECS refuses such
# a deployment).


def primary_connect(service):
    """The enabled Service Connect configuration of a service (its primary deployment's), or None."""
    for d in service.get("deployments") or []:
        if d.get("status") == "PRIMARY":
            c = d.get("serviceConnectConfiguration") or {}
            return c if c.get("enabled") and c.get("namespace") else None
    return None


def namespace_name(arn):
    if arn not in namespace_names:
        for page in sd.get_paginator("list_namespaces").paginate():
            for n in page["Namespaces"]:
                namespace_names[n["Arn"]] = n["Name"]
    return namespace_names.get(arn, arn.rsplit("/", 1)[-1])


def port_mapping(td, port_name):
    """(container name, containerPort) of the port mapping named `port_name` in `td`."""
    for cd in td["containerDefinitions"]:
        for pm in cd.get("portMappings") or []:
            if pm.get("name") == port_name:
                return cd["name"], pm["containerPort"]
    raise ServiceConnectError(
        f"the portName {port_name} is not the name of a portMappings of the task definition "
        f"{td['family']}:{td['revision']}")


def entries(conf, ns_name):
    """(portName, discoveryName, dnsName, port) of each entry, with ECS's defaults."""
    for e in conf.get("services") or []:
        disc = e.get("discoveryName") or e["portName"]
        for a in e.get("clientAliases") or []:
            yield e["portName"], disc, a.get("dnsName") or f"{disc}.{ns_name}", a["port"]


def client_aliases(services, ns_arn):
    """Every client alias of the namespace: (dnsName, port) -> (owning service, discoveryName,
    containerPort) of its endpoints."""
    out = {}
    ns_name = namespace_name(ns_arn)
    for s in services:
        conf = primary_connect(s)
        if s["status"] != "ACTIVE" or not conf or conf["namespace"] != ns_arn:
            continue
        td = task_definition(s["taskDefinition"])
        for port_name, disc, dns, port in entries(conf, ns_name):
            try:
                _, container_port = port_mapping(td, port_name)
            except ServiceConnectError as e:
                print(f"connect: ERROR {s['serviceName']}: {e}: its alias {dns}:{port} has no endpoint",
                      flush=True)
                continue
            out[(dns, port)] = (s["serviceArn"], disc, container_port)
    return out


def proxies(aliases):
    """The proxy containers a client task needs: (names, [(port, (discoveryName,
    containerPort))]), one address per container, so that names share one only when each of
    their ports goes to the same endpoints (the same service's port), as if each name had its
    own address, as in ECS."""
    boxes = []  # [(names, {port: (service, containerPort)}, rows)]
    by_name = {}
    for (dns, port), (service, disc, cport) in sorted(aliases.items()):
        by_name.setdefault(dns, []).append((port, (service, cport), (disc, cport)))
    for dns, ports in sorted(by_name.items()):
        for names, routes, rows in boxes:
            if all(routes.get(p, to) == to for p, to, _ in ports):
                break
        else:
            names, routes, rows = set(), {}, []
            boxes.append((names, routes, rows))
        names.add(dns)
        for p, to, via in ports:
            if p not in routes:
                routes[p] = to
                rows.append((p, via))
    return [(sorted(n), rows) for n, _, rows in boxes]


def run_client_task(cluster, task, service, conf, services):
    """Run a Service Connect client task's containers and its proxy on the engine (see above)."""
    task_arn, group = task["taskArn"], task.get("group", "")
    td = task_definition(task["taskDefinitionArn"])
    ns_arn = conf["namespace"]
    ns_name = namespace_name(ns_arn)
    # The endpoints this task serves: the container of each entry's portName.
    serves = {}
    for port_name, disc, _, _ in entries(conf, ns_name):
        container, _ = port_mapping(td, port_name)  # ServiceConnectError: the task is refused
        serves.setdefault(container, []).append(f"sc-{disc}")
    net = f"bridge-{agent_id}-{task_arn.rsplit('/', 1)[-1][:12]}"
    ns_net = f"bridge-{agent_id}-ns-{ns_arn.rsplit('/', 1)[-1]}"
    network(net)
    network(ns_net)
    task_networks[task_arn] = net
    for cd in td["containerDefinitions"]:
        key = (task_arn, cd["name"])
        if key not in engine_containers and start_container(
                task_arn, group, cd, net, ns_net, serves.get(cd["name"], ())):
            engine_containers[key] = engine_name(task_arn, cd["name"])
    for k, (names, rows) in enumerate(proxies(client_aliases(services, ns_arn))):
        pname = f"ecs-service-connect-{k}"
        key = (task_arn, pname)
        if key in engine_containers:
            continue
        listen = " & ".join(f"busybox nc -ll -p {p} -e busybox nc sc-{disc} {cport}"
                            for p, (disc, cport) in rows)
        spec = {
            "Image": PROXY_IMAGE,
            "Cmd": ["sh", "-c", f"{listen} & wait"],
            "Labels": labels(task_arn, group, pname),
            "HostConfig": {"NetworkMode": net, "Dns": ["127.0.0.1"]},
            "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": names}}},
        }
        name = engine_name(task_arn, pname)
        if not create(name, spec, PROXY_IMAGE):
            continue
        connect_to(ns_net, name, ())
        start(name)
        engine_containers[key] = name
        print(f"connect: {task_arn} proxy {pname} answers "
              + ", ".join(f"{n}" for n in names) + " on "
              + ", ".join(f"{p} -> sc-{d}:{c}" for p, (d, c) in rows), flush=True)


def report(cluster, task_arn, containers, essential):
    body = json.dumps({"region": region, "cluster": cluster, "task": task_arn,
                       "containers": containers, "essential": essential}).encode()
    req = urllib.request.Request(endpoint + "/moto-api/bridge/ecs-health", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def services_of(cluster):
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    out = []
    for k in range(0, len(arns), 10):
        out += ecs.describe_services(cluster=cluster, services=arns[k:k + 10])["services"]
    return out


def tasks():
    """Service Connect clients run with their proxy, then every task's health checks."""
    live = set()
    clusters = ecs.list_clusters()["clusterArns"]
    described = {c: services_of(c) for c in clusters}
    every = [s for c in clusters for s in described[c]]
    for cluster in clusters:
        by_group = {"service:" + s["serviceName"]: s for s in described[cluster] if s["status"] == "ACTIVE"}
        for t in tasks_of(cluster):
            task_arn = t["taskArn"]
            if task_arn in refused:
                continue
            service = by_group.get(t.get("group", ""))
            conf = primary_connect(service) if service else None
            if conf:
                live.add(task_arn)
                try:
                    run_client_task(cluster, t, service, conf, every)
                except ServiceConnectError as e:
                    refused.add(task_arn)
                    print(f"connect: REFUSED {task_arn} of {service['serviceName']}: {e}", flush=True)
                    ecs.stop_task(cluster=cluster, task=task_arn, reason=f"Service Connect: {e}")
                    continue
            health(cluster, t, live)
    return live


def health(cluster, t, live):
    """The task's container health checks (see the module's doc)."""
    task_arn = t["taskArn"]
    td = task_definition(t["taskDefinitionArn"])
    checked = [cd for cd in td["containerDefinitions"] if cd.get("healthCheck")
               and cd["healthCheck"].get("command", ["NONE"])[0] != "NONE"]
    if not checked:
        return
    live.add(task_arn)
    status, exited = {}, None
    for cd in checked:
        key = (task_arn, cd["name"])
        if key not in engine_containers:
            if not start_container(task_arn, t.get("group", ""), cd):
                continue
            engine_containers[key] = engine_name(task_arn, cd["name"])
        code, info = engine("GET", f"/containers/{engine_containers[key]}/json")
        if code != 200:
            continue
        state = info["State"]
        status[cd["name"]] = DOCKER_HEALTH.get((state.get("Health") or {}).get("Status"), "UNKNOWN")
        if not state.get("Running") and cd.get("essential", True):
            exited = (cd["name"], state.get("ExitCode"))
    essential = [cd["name"] for cd in checked if cd.get("essential", True)]
    if status and status != reported.get(task_arn):
        report(cluster, task_arn, status, essential)
        for n, h in sorted(status.items()):
            if reported.get(task_arn, {}).get(n) != h:
                print(f"health: {time.time():.3f} {task_arn} {n} {h}", flush=True)
        reported[task_arn] = status
    if exited is not None:
        print(f"health: {time.time():.3f} {task_arn} {exited[0]} exited {exited[1]}", flush=True)
        ecs.stop_task(cluster=cluster, task=task_arn, reason="Essential container in task exited")
    elif any(status.get(n) == "UNHEALTHY" for n in essential) and t.get("group", "").startswith("service:"):
        ecs.stop_task(cluster=cluster, task=task_arn, reason="Task failed container health checks")


def cleanup(live):
    """Remove the engine containers and networks of tasks that are no longer running."""
    for key in [k for k in engine_containers if k[0] not in live]:
        engine("DELETE", f"/containers/{engine_containers.pop(key)}?force=true")
    for task_arn in [a for a in task_networks if a not in live]:
        engine("DELETE", f"/networks/{task_networks.pop(task_arn)}")


while True:
    for step in (agent, scheduler):
        try:
            step()
        except Exception as e:  # noqa: BLE001  (moto reset or busy: try again)
            print(step.__name__ + ":", e, flush=True)
    try:
        # Only after a whole pass: a pass cut short knows too few live tasks to clean up.
        cleanup(tasks())
    except Exception as e:  # noqa: BLE001
        print("tasks:", e, flush=True)
    time.sleep(0.3)
