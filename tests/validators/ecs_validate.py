#!/usr/bin/env python3
"""Strict validation of Amazon ECS request bodies.

Usage:
    ecs_validate.py --shape RegisterTaskDefinitionRequest|CreateServiceRequest|UpdateServiceRequest FILE...

Two layers:

1. The ECS API model that botocore ships (``botocore/data/ecs/2014-11-13/
   service-2.json.gz``, loaded with botocore's own loader): unknown keys at
   every depth, required members, types (string, integer, long, double,
   boolean, list, map, structure, timestamp, document, union structures),
   enums, and the model's min/max (string length, number range, list/map
   size) and patterns. ``null`` is rejected: the SDKs never send it.
2. Rules that ECS enforces but the model does not encode (task definitions):
   container names/images present and unique, links / dependsOn /
   volumesFrom / mountPoints.sourceVolume refer to things that exist,
   Fargate networking and cpu/memory combinations, memory rules, health
   check ranges, one essential container, unique port mappings, secrets
   valueFrom shape. The sources are the ECS developer guide's task
   definition parameter pages and RegisterTaskDefinition's error messages.

Output: ``FILE: path.to.field: message`` per violation; exit 1 if any, 0 if
all files are clean, 2 on usage errors (bad option, unreadable file, not
JSON). Importable: ``validate(shape, obj) -> list[str]`` (``path: message``).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

SHAPES = ("RegisterTaskDefinitionRequest", "CreateServiceRequest", "UpdateServiceRequest")

_MODEL = None


def model() -> dict:
    """The ECS service model (shapes) as botocore ships it."""
    global _MODEL
    if _MODEL is None:
        from botocore.loaders import Loader

        _MODEL = Loader().load_service_model("ecs", "service-2", api_version="2014-11-13")
    return _MODEL


# Java regex classes used by the model's patterns, in Python's re syntax.
_JAVA_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{N}": r"\w",
    r"\p{Z}": " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
}


def _pattern(p: str) -> re.Pattern:
    for k, v in _JAVA_CLASSES.items():
        p = p.replace(k, v)
    return re.compile(p)


def _join(path: str, key: str) -> str:
    return key if not path else "%s.%s" % (path, key)


def _tname(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _check_shape(shapes: dict, name: str, v, path: str, out: list) -> None:
    s = shapes[name]
    t = s["type"]
    where = path or "(root)"
    if v is None:
        out.append("%s: must not be null (%s)" % (where, t))
        return
    if t == "structure":
        if not isinstance(v, dict):
            out.append("%s: expected object (%s), got %s" % (where, name, _tname(v)))
            return
        members = s.get("members", {})
        for k in v:
            if k not in members:
                out.append("%s: unknown key %r for %s" % (_join(path, k), k, name))
        for r in s.get("required", []):
            if r not in v:
                out.append("%s: required member missing (%s)" % (_join(path, r), name))
        if s.get("union"):
            given = [k for k in v if k in members]
            if len(given) != 1:
                out.append("%s: %s is a union: exactly one member must be set, got %d"
                           % (where, name, len(given)))
        for k, val in v.items():
            if k in members:
                _check_shape(shapes, members[k]["shape"], val, _join(path, k), out)
        return
    if t == "list":
        if not isinstance(v, list):
            out.append("%s: expected array (%s), got %s" % (where, name, _tname(v)))
            return
        _check_range(s, len(v), where, out, "items")
        for i, item in enumerate(v):
            _check_shape(shapes, s["member"]["shape"], item, "%s[%d]" % (path, i), out)
        return
    if t == "map":
        if not isinstance(v, dict):
            out.append("%s: expected object (%s), got %s" % (where, name, _tname(v)))
            return
        _check_range(s, len(v), where, out, "entries")
        for k, val in v.items():
            _check_shape(shapes, s["key"]["shape"], k, "%s{key %r}" % (path, k), out)
            _check_shape(shapes, s["value"]["shape"], val, _join(path, k), out)
        return
    if t == "string":
        if not isinstance(v, str):
            out.append("%s: expected string, got %s" % (where, _tname(v)))
            return
        if "enum" in s and v not in s["enum"]:
            out.append("%s: %r is not one of %s" % (where, v, ", ".join(s["enum"])))
        _check_range(s, len(v), where, out, "characters")
        if "pattern" in s and not _pattern(s["pattern"]).fullmatch(v):
            out.append("%s: %r does not match pattern %s" % (where, v, s["pattern"]))
        return
    if t in ("integer", "long"):
        if isinstance(v, bool) or not isinstance(v, int):
            out.append("%s: expected integer, got %s" % (where, _tname(v)))
            return
        bits = 31 if t == "integer" else 63
        if not -(2 ** bits) <= v < 2 ** bits:
            out.append("%s: %d does not fit in a %d-bit %s" % (where, v, bits + 1, t))
        _check_range(s, v, where, out, None)
        return
    if t in ("double", "float"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (
                isinstance(v, float) and not math.isfinite(v)):
            out.append("%s: expected number, got %s" % (where, _tname(v)))
            return
        _check_range(s, v, where, out, None)
        return
    if t == "boolean":
        if not isinstance(v, bool):
            out.append("%s: expected boolean, got %s" % (where, _tname(v)))
        return
    if t == "timestamp":
        # JSON protocols send epoch seconds; botocore also accepts ISO 8601.
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            out.append("%s: expected timestamp (epoch seconds or ISO 8601), got %s" % (where, _tname(v)))
        elif isinstance(v, str) and not re.fullmatch(
                r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?", v):
            out.append("%s: %r is not an ISO 8601 timestamp" % (where, v))
        return
    if t == "document":
        return
    out.append("%s: shape %s has unsupported type %s" % (where, name, t))


def _check_range(s: dict, n, where: str, out: list, unit: str | None) -> None:
    lo, hi = s.get("min"), s.get("max")
    what = "%d %s" % (n, unit) if unit else repr(n)
    if lo is not None and n < lo:
        out.append("%s: %s is below the minimum %s" % (where, what, _num(lo)))
    if hi is not None and n > hi:
        out.append("%s: %s is above the maximum %s" % (where, what, _num(hi)))


def _num(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


# Fargate task sizes (ECS developer guide, "Task CPU and memory"): cpu units
# -> allowed memory MiB.
FARGATE_SIZES = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}

_UNITS_CPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(vcpu)?\s*$", re.I)
_UNITS_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gb)?\s*$", re.I)

# Secrets: a Secrets Manager / SSM ARN, or an SSM parameter name (when the
# parameter is in the task's region): letters, digits and . _ - / only,
# optionally with a leading /.
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(secretsmanager|ssm):[a-z0-9-]+:\d{12}:(secret:|parameter/).+$")
_SSM_NAME = re.compile(r"^/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+)*$")


def _task_size(v, rx, scale) -> int | None:
    """ECS accepts '1024', '1 vCPU' / '1 GB' for task cpu / memory."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if not isinstance(v, str):
        return None
    m = rx.match(v)
    if not m:
        return None
    x = float(m.group(1))
    if m.group(2):
        x *= scale
    return int(x) if x.is_integer() else None


def _task_rules(td: dict, out: list) -> None:
    containers = td.get("containerDefinitions")
    if not isinstance(containers, list):
        return
    cds = [c if isinstance(c, dict) else {} for c in containers]
    names = {}
    for i, c in enumerate(cds):
        p = "containerDefinitions[%d]" % i
        if not c.get("name"):
            out.append("%s.name: every container needs a name" % p)
        elif isinstance(c["name"], str):
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,255}", c["name"]):
                out.append("%s.name: %r: up to 255 letters, numbers, hyphens and underscores"
                           % (p, c["name"]))
            if c["name"] in names:
                out.append("%s.name: duplicate container name %r (also containerDefinitions[%d])"
                           % (p, c["name"], names[c["name"]]))
            else:
                names[c["name"]] = i
        if not c.get("image"):
            out.append("%s.image: every container needs an image" % p)

    volumes = {v.get("name") for v in td.get("volumes") or [] if isinstance(v, dict)}
    compat = td.get("requiresCompatibilities") or []
    fargate = isinstance(compat, list) and "FARGATE" in compat
    network = td.get("networkMode", "bridge")
    awsvpc = network == "awsvpc"

    cpu = _task_size(td.get("cpu"), _UNITS_CPU, 1024) if "cpu" in td else None
    mem = _task_size(td.get("memory"), _UNITS_MEM, 1024) if "memory" in td else None
    if "cpu" in td and cpu is None:
        out.append("cpu: %r is not a cpu amount (units like '1024' or '1 vCPU')" % (td["cpu"],))
    if "memory" in td and mem is None:
        out.append("memory: %r is not a memory amount (MiB like '2048' or '2 GB')" % (td["memory"],))

    if fargate:
        if network != "awsvpc":
            out.append("networkMode: Fargate requires networkMode 'awsvpc', got %r" % (network,))
        if "cpu" not in td:
            out.append("cpu: Fargate requires a task-level cpu")
        if "memory" not in td:
            out.append("memory: Fargate requires a task-level memory")
        if cpu is not None and mem is not None:
            if cpu not in FARGATE_SIZES:
                out.append("cpu: %d is not a Fargate cpu value (%s)"
                           % (cpu, ", ".join(map(str, FARGATE_SIZES))))
            elif mem not in FARGATE_SIZES[cpu]:
                allowed = FARGATE_SIZES[cpu]
                out.append("memory: %d MiB is not valid with cpu %d on Fargate (allowed: %d..%d in steps of %d)"
                           % (mem, cpu, allowed[0], allowed[-1],
                              allowed[1] - allowed[0] if len(allowed) > 1 else 0))
    elif mem is None:
        for i, c in enumerate(cds):
            if "memory" not in c and "memoryReservation" not in c:
                out.append("containerDefinitions[%d]: on EC2 a container needs memory or "
                           "memoryReservation when the task has no memory" % i)

    if cpu is not None:
        total = sum(c.get("cpu", 0) for c in cds if isinstance(c.get("cpu"), int))
        if total > cpu:
            out.append("cpu: containers reserve %d cpu units, more than the task's %d" % (total, cpu))
    if mem is not None:
        for i, c in enumerate(cds):
            for k in ("memory", "memoryReservation"):
                if isinstance(c.get(k), int) and c[k] > mem:
                    out.append("containerDefinitions[%d].%s: %d MiB is more than the task's %d MiB"
                               % (i, k, c[k], mem))

    essential = [c.get("essential", True) for c in cds]
    if cds and not any(e is True for e in essential):
        out.append("containerDefinitions: at least one container must be essential")

    for i, c in enumerate(cds):
        p = "containerDefinitions[%d]" % i
        m, r = c.get("memory"), c.get("memoryReservation")
        if isinstance(m, int) and isinstance(r, int) and r > m:
            out.append("%s.memoryReservation: %d is greater than memory %d" % (p, r, m))
        for k in ("memory", "memoryReservation"):
            if isinstance(c.get(k), int) and not isinstance(c.get(k), bool) and c[k] < 6:
                out.append("%s.%s: %d MiB is below the 6 MiB Docker minimum" % (p, k, c[k]))

        links = c.get("links") or []
        if links and network != "bridge":
            out.append("%s.links: links are only supported with networkMode bridge, not %s" % (p, network))
        for j, link in enumerate(links if isinstance(links, list) else []):
            if isinstance(link, str):
                target = link.split(":", 1)[0]
                if target not in names:
                    out.append("%s.links[%d]: %r is not a container in this task" % (p, j, target))
                elif target == c.get("name"):
                    out.append("%s.links[%d]: a container cannot link to itself" % (p, j))
        for j, dep in enumerate(c.get("dependsOn") or []):
            if isinstance(dep, dict) and isinstance(dep.get("containerName"), str):
                if dep["containerName"] not in names:
                    out.append("%s.dependsOn[%d].containerName: %r is not a container in this task"
                               % (p, j, dep["containerName"]))
                elif dep["containerName"] == c.get("name"):
                    out.append("%s.dependsOn[%d].containerName: a container cannot depend on itself" % (p, j))
        for j, vf in enumerate(c.get("volumesFrom") or []):
            if isinstance(vf, dict) and isinstance(vf.get("sourceContainer"), str) \
                    and vf["sourceContainer"] not in names:
                out.append("%s.volumesFrom[%d].sourceContainer: %r is not a container in this task"
                           % (p, j, vf["sourceContainer"]))
        for j, mp in enumerate(c.get("mountPoints") or []):
            if isinstance(mp, dict):
                sv = mp.get("sourceVolume")
                if sv is None:
                    out.append("%s.mountPoints[%d].sourceVolume: required" % (p, j))
                elif sv not in volumes:
                    out.append("%s.mountPoints[%d].sourceVolume: %r is not a volume of this task"
                               % (p, j, sv))
                if not mp.get("containerPath"):
                    out.append("%s.mountPoints[%d].containerPath: required" % (p, j))

        seen = {}
        for j, pm in enumerate(c.get("portMappings") or []):
            if not isinstance(pm, dict):
                continue
            q = "%s.portMappings[%d]" % (p, j)
            cp, hp = pm.get("containerPort"), pm.get("hostPort")
            if cp is None and "containerPortRange" not in pm:
                out.append("%s.containerPort: required (or containerPortRange)" % q)
            if isinstance(cp, int) and not 1 <= cp <= 65535:
                out.append("%s.containerPort: %d is not a port (1-65535)" % (q, cp))
            if isinstance(hp, int) and not 0 <= hp <= 65535:
                out.append("%s.hostPort: %d is not a port (0-65535)" % (q, hp))
            if (awsvpc or network == "host") and hp is not None and cp is not None and hp != cp:
                out.append("%s.hostPort: with networkMode %s hostPort must equal containerPort (%s), got %s"
                           % (q, network, cp, hp))
            key = (cp, pm.get("protocol", "tcp"))
            if cp is not None:
                if key in seen:
                    out.append("%s: duplicate containerPort %s/%s (also portMappings[%d])"
                               % (q, cp, key[1], seen[key]))
                else:
                    seen[key] = j

        hc = c.get("healthCheck")
        if isinstance(hc, dict):
            for k, lo, hi in (("interval", 5, 300), ("timeout", 2, 120), ("retries", 1, 10),
                              ("startPeriod", 0, 300)):
                v = hc.get(k)
                if isinstance(v, int) and not isinstance(v, bool) and not lo <= v <= hi:
                    out.append("%s.healthCheck.%s: %d is outside %d-%d" % (p, k, v, lo, hi))
            cmd = hc.get("command")
            if isinstance(cmd, list) and cmd and cmd[0] not in ("CMD", "CMD-SHELL", "NONE"):
                out.append("%s.healthCheck.command: must start with CMD, CMD-SHELL or NONE, got %r"
                           % (p, cmd[0]))
            elif isinstance(cmd, list) and not cmd:
                out.append("%s.healthCheck.command: must not be empty" % p)

        for j, sec in enumerate(c.get("secrets") or []):
            if isinstance(sec, dict) and isinstance(sec.get("valueFrom"), str):
                vf = sec["valueFrom"]
                if not (_ARN.match(vf) or _SSM_NAME.match(vf)):
                    out.append("%s.secrets[%d].valueFrom: %r is neither a Secrets Manager/SSM ARN "
                               "nor an SSM parameter name" % (p, j, vf))

        if fargate:
            if c.get("privileged"):
                out.append("%s.privileged: not supported on Fargate" % p)
            lp = c.get("linuxParameters") or {}
            if isinstance(lp, dict) and lp.get("devices"):
                out.append("%s.linuxParameters.devices: not supported on Fargate" % p)

    if fargate:
        for i, v in enumerate(td.get("volumes") or []):
            if isinstance(v, dict) and isinstance(v.get("host"), dict) and v["host"].get("sourcePath"):
                out.append("volumes[%d].host.sourcePath: host paths are not supported on Fargate" % i)
        if td.get("ipcMode") or td.get("pidMode") == "host":
            out.append("ipcMode/pidMode: not supported on Fargate")


def validate(shape: str, obj) -> list[str]:
    """Return ``["path: message", ...]`` for one request body (empty if valid)."""
    m = model()
    shapes = m["shapes"]
    if shape not in SHAPES:
        raise ValueError("unknown shape %r (one of %s)" % (shape, ", ".join(SHAPES)))
    out: list[str] = []
    _check_shape(shapes, shape, obj, "", out)
    if shape == "RegisterTaskDefinitionRequest" and isinstance(obj, dict):
        _task_rules(obj, out)
    if shape in ("CreateServiceRequest", "UpdateServiceRequest") and isinstance(obj, dict):
        dc = obj.get("desiredCount")
        if isinstance(dc, int) and dc < 0:
            out.append("desiredCount: must not be negative")
        if obj.get("launchType") and obj.get("capacityProviderStrategy"):
            out.append("launchType: cannot be given together with capacityProviderStrategy")
        if obj.get("schedulingStrategy") == "DAEMON" and "desiredCount" in obj:
            out.append("desiredCount: must not be given with schedulingStrategy DAEMON")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", required=True, choices=SHAPES)
    ap.add_argument("files", nargs="+", metavar="FILE")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    docs = []
    for f in args.files:
        try:
            with open(f, encoding="utf-8") as fh:
                docs.append((f, json.load(fh)))
        except (OSError, ValueError) as e:
            print("%s: cannot read JSON: %s" % (f, e), file=sys.stderr)
            return 2
    bad = False
    for f, obj in docs:
        for line in validate(args.shape, obj):
            print("%s: %s" % (f, line))
            bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
