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
reported = {}  # task arn -> {container: status} last reported
missing_logged = set()
NS = 1_000_000_000
DOCKER_HEALTH = {"starting": "UNKNOWN", "healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


def task_definition(arn):
    if arn not in task_defs:
        task_defs[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return task_defs[arn]


def engine_name(task_arn, container):
    return f"bridge-{agent_id}-{task_arn.rsplit('/', 1)[-1][:12]}-{container}"


def start_container(task_arn, cd):
    """Create and start the task's container with its check on the engine; False when its image
    is not there."""
    name = engine_name(task_arn, cd["name"])
    hc = cd["healthCheck"]
    spec = {
        "Image": cd["image"],
        "Env": [f"{e['name']}={e['value']}" for e in cd.get("environment", [])],
        "Labels": {"bridge.moto-agent": agent_id, "bridge.moto-task": task_arn},
        "Healthcheck": {
            "Test": hc["command"],
            "Interval": hc.get("interval", 30) * NS,
            "Timeout": hc.get("timeout", 5) * NS,
            "Retries": hc.get("retries", 3),
            "StartPeriod": hc.get("startPeriod", 0) * NS,
        },
        "HostConfig": {"NetworkMode": "none"},
    }
    if cd.get("entryPoint"):
        spec["Entrypoint"] = cd["entryPoint"]
    if cd.get("command"):
        spec["Cmd"] = cd["command"]
    code, out = engine("POST", f"/containers/create?name={name}", spec)
    if code == 404 and "image" in str(out).lower():
        if cd["image"] not in missing_logged:
            missing_logged.add(cd["image"])
            print(f"health: image {cd['image']} is not on the engine: its health stays UNKNOWN", flush=True)
        return False
    if code == 409:  # already there (an agent restart)
        pass
    elif code != 201:
        raise RuntimeError(f"engine create {name}: {code} {out}")
    code, out = engine("POST", f"/containers/{name}/start")
    if code not in (204, 304):
        raise RuntimeError(f"engine start {name}: {code} {out}")
    return True


def report(cluster, task_arn, containers, essential):
    body = json.dumps({"region": region, "cluster": cluster, "task": task_arn,
                       "containers": containers, "essential": essential}).encode()
    req = urllib.request.Request(endpoint + "/moto-api/bridge/ecs-health", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def health():
    live = set()
    for cluster in ecs.list_clusters()["clusterArns"]:
        for t in tasks_of(cluster):
            task_arn = t["taskArn"]
            td = task_definition(t["taskDefinitionArn"])
            checked = [cd for cd in td["containerDefinitions"] if cd.get("healthCheck")
                       and cd["healthCheck"].get("command", ["NONE"])[0] != "NONE"]
            if not checked:
                continue
            live.add(task_arn)
            status, exited = {}, None
            for cd in checked:
                key = (task_arn, cd["name"])
                if key not in engine_containers:
                    if not start_container(task_arn, cd):
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
    for key in [k for k in engine_containers if k[0] not in live]:
        engine("DELETE", f"/containers/{engine_containers.pop(key)}?force=true")


while True:
    for step in (agent, scheduler, health):
        try:
            step()
        except Exception as e:  # noqa: BLE001  (moto reset or busy: try again)
            print(step.__name__ + ":", e, flush=True)
    time.sleep(0.3)
