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

Usage: moto_agent.py ENDPOINT REGION. Runs until killed; every error is printed and retried.
"""

import base64
import json
import re
import sys
import time

import boto3

endpoint, region = sys.argv[1], sys.argv[2]
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


while True:
    for step in (agent, scheduler):
        try:
            step()
        except Exception as e:  # noqa: BLE001  (moto reset or busy: try again)
            print(step.__name__ + ":", e, flush=True)
    time.sleep(0.3)
