#!/usr/bin/env python3
"""Strict validation of Google Compute Engine request bodies.

Usage:
    gce_validate.py --kind Instance|Firewall|Disk FILE...
    gce_validate.py --kind Instance --print-schema      (the generated JSON Schema)

The JSON Schema is generated at run time from the Compute discovery document
that google-api-python-client ships
(``googleapiclient/discovery_cache/documents/compute.v1.json``), for the
insert method of the kind (``compute.instances.insert``, ...):

- ``schemas`` become ``$defs``; ``$ref``, ``type``, ``properties``,
  ``items``, ``additionalProperties``, ``enum`` are carried over;
- objects with ``properties`` forbid unknown properties;
- ``format``: int64/uint64 are JSON strings in Google's JSON mapping, and a
  number is also accepted (as the API does), both range-checked; int32 /
  uint32 get their integer ranges; byte is base64; google-duration is
  ``<seconds>s``;
- ``pattern`` is anchored (``^(?:...)$``) unless it already is;
- output-only fields (``readOnly`` or "[Output Only]" in the description)
  are rejected in requests;
- fields annotated ``required`` for the insert method are required.

Extra rules the discovery document does not encode (Compute Engine docs):
resource names ``[a-z]([-a-z0-9]{0,61}[a-z0-9])?``; label keys and values
(lowercase, at most 63 characters, keys start with a letter, at most 64
labels); unique metadata keys, total metadata size under 512 KB; a
``user-data`` item must parse as YAML and start with ``#cloud-config``;
``machineType``, ``sourceImage``, ``network``, ``subnetwork``, disk ``type``
must look like full or partial resource URLs; firewall ``allowed`` /
``denied`` exclusive, port specs well formed.

Output: ``FILE: path.to.field: message``; exit 1 if any, 0 if clean, 2 on
usage errors. Importable: ``validate(kind, obj) -> list[str]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

KINDS = {"Instance": "compute.instances.insert",
         "Firewall": "compute.firewalls.insert",
         "Disk": "compute.disks.insert"}

_DOC = None
_SCHEMAS: dict = {}


def discovery_path() -> str:
    import googleapiclient

    return os.path.join(os.path.dirname(googleapiclient.__file__),
                        "discovery_cache", "documents", "compute.v1.json")


def discovery() -> dict:
    global _DOC
    if _DOC is None:
        with open(discovery_path(), encoding="utf-8") as fh:
            _DOC = json.load(fh)
    return _DOC


def _anchor(p: str) -> str:
    if p.startswith("^") and p.endswith("$") and not p.endswith("\\$"):
        return p
    return "^(?:%s)$" % p


def _output_only(prop: dict) -> bool:
    return bool(prop.get("readOnly")) or "[Output Only]" in prop.get("description", "")


_INT_RANGES = {"int32": (-(2 ** 31), 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
               "int64": (-(2 ** 63), 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1)}


def _convert(node: dict, method: str) -> dict | bool:
    """One discovery schema node -> JSON Schema."""
    if "$ref" in node:
        return {"$ref": "#/$defs/%s" % node["$ref"]}
    out: dict = {}
    t = node.get("type")
    fmt = node.get("format")
    if t == "string" and fmt in ("int64", "uint64"):
        lo, hi = _INT_RANGES[fmt]
        digits = r"^-?[0-9]+$" if fmt == "int64" else r"^[0-9]+$"
        out["anyOf"] = [{"type": "string", "pattern": digits},
                        {"type": "integer", "minimum": lo, "maximum": hi}]
        out["x-int64-range"] = [lo, hi]  # checked for strings in _int64_strings
    elif t == "integer":
        out["type"] = "integer"
        if fmt in _INT_RANGES:
            out["minimum"], out["maximum"] = _INT_RANGES[fmt]
    elif t == "number":
        out["type"] = "number"
    elif t == "string":
        out["type"] = "string"
        if fmt == "byte":
            out["pattern"] = r"^[A-Za-z0-9+/_-]*={0,2}$"
        elif fmt == "google-duration":
            out["pattern"] = r"^-?[0-9]+(\.[0-9]{1,9})?s$"
        elif fmt == "google-datetime":
            out["pattern"] = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"
    elif t in ("boolean", "array", "object"):
        out["type"] = t
    elif t == "any":
        pass
    if "enum" in node:
        out["enum"] = node["enum"]
    if "pattern" in node:
        out["pattern"] = _anchor(node["pattern"])
    if "minimum" in node:
        out["minimum"] = int(node["minimum"])
    if "maximum" in node:
        out["maximum"] = int(node["maximum"])
    if t == "array" and "items" in node:
        out["items"] = _convert(node["items"], method)
    if t == "object":
        props = node.get("properties")
        if props is not None:
            out["properties"] = {}
            req = []
            for k, v in props.items():
                if _output_only(v):
                    out["properties"][k] = {"not": {}, "x-output-only": True}
                    continue
                out["properties"][k] = _convert(v, method)
                if method in v.get("annotations", {}).get("required", []):
                    req.append(k)
            if req:
                out["required"] = req
            if "additionalProperties" in node:
                out["additionalProperties"] = _convert(node["additionalProperties"], method)
            else:
                out["additionalProperties"] = False
        elif "additionalProperties" in node:
            out["additionalProperties"] = _convert(node["additionalProperties"], method)
    return out


def json_schema(kind: str) -> dict:
    """The JSON Schema (draft 2020-12) of a request body for KIND's insert method."""
    if kind in _SCHEMAS:
        return _SCHEMAS[kind]
    method = KINDS[kind]
    doc = discovery()
    defs = {name: _convert(s, method) for name, s in doc["schemas"].items()}
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$comment": "generated from compute.v1.json revision %s for %s"
                          % (doc.get("revision"), method),
              "$ref": "#/$defs/%s" % kind, "$defs": defs}
    _SCHEMAS[kind] = schema
    return schema


def _path(parts) -> str:
    s = ""
    for p in parts:
        s += "[%d]" % p if isinstance(p, int) else (".%s" % p if s else str(p))
    return s or "(root)"


def _schema_errors(kind: str, obj) -> list[str]:
    import jsonschema

    schema = json_schema(kind)
    cls = jsonschema.Draft202012Validator
    v = cls(schema, format_checker=None)
    out = []
    for e in sorted(v.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        out.extend(_explain(e))
    return out


def _explain(e) -> list[str]:
    """One jsonschema error -> readable lines (descending into anyOf/$ref)."""
    where = _path(e.absolute_path)
    if e.validator == "not" and e.schema.get("x-output-only"):
        return ["%s: output-only field, not allowed in a request" % where]
    if e.validator == "additionalProperties" and e.validator_value is False:
        allowed = set(e.schema.get("properties", {}))
        extra = sorted(k for k in e.instance if k not in allowed)
        return ["%s: unknown field %r" % (_path(list(e.absolute_path) + [k]), k) for k in extra]
    if e.validator == "required":
        missing = [k for k in e.validator_value if isinstance(e.instance, dict) and k not in e.instance]
        return ["%s: required field missing" % _path(list(e.absolute_path) + [k]) for k in missing]
    if e.validator == "anyOf" and e.context:
        return ["%s: %s" % (where, "expected an int64 as a string of digits or an integer in range"
                            if "x-int64-range" in e.schema else e.message)]
    return ["%s: %s" % (where, e.message)]


NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_URL_PREFIX = r"(https://(www|compute)\.googleapis\.com/compute/(v1|beta|alpha)/)?"
_PROJ = r"projects/[a-z][-a-z0-9.:]*[a-z0-9]/"
URLS = {
    "machineType": re.compile(
        r"^%s(%s)?zones/[a-z0-9-]+/machineTypes/[a-z0-9-]+$" % (_URL_PREFIX, _PROJ)),
    "sourceImage": re.compile(
        r"^%s(%s)?global/images/(family/)?[a-z]([-a-z0-9]*[a-z0-9])?$" % (_URL_PREFIX, _PROJ)),
    "network": re.compile(
        r"^%s(%s)?global/networks/[a-z]([-a-z0-9]*[a-z0-9])?$" % (_URL_PREFIX, _PROJ)),
    "subnetwork": re.compile(
        r"^%s(%s)?regions/[a-z0-9-]+/subnetworks/[a-z]([-a-z0-9]*[a-z0-9])?$" % (_URL_PREFIX, _PROJ)),
    "diskType": re.compile(
        r"^%s(%s)?zones/[a-z0-9-]+/diskTypes/[a-z0-9-]+$|^[a-z0-9-]+$" % (_URL_PREFIX, _PROJ)),
    "zoneDiskType": re.compile(
        r"^%s(%s)?zones/[a-z0-9-]+/diskTypes/[a-z0-9-]+$" % (_URL_PREFIX, _PROJ)),
}


def _label_key_ok(k: str) -> bool:
    # Keys: 1-63 characters, lowercase letters, digits, '_' and '-'
    # (international lowercase letters allowed), must start with a letter.
    return (0 < len(k) <= 63 and k[0].isalpha() and k[0] == k[0].lower()
            and all((ch.isalnum() and ch == ch.lower()) or ch in "_-" for ch in k))


def _label_value_ok(v: str) -> bool:
    return len(v) <= 63 and all((ch.isalnum() and ch == ch.lower()) or ch in "_-" for ch in v)


def _check_labels(labels, path: str, out: list) -> None:
    if not isinstance(labels, dict):
        return
    if len(labels) > 64:
        out.append("%s: %d labels, at most 64 allowed" % (path, len(labels)))
    for k, v in labels.items():
        if not _label_key_ok(k):
            out.append("%s.%s: bad label key %r (1-63 lowercase letters, digits, '_' or '-', "
                       "starting with a letter)" % (path, k, k))
        if isinstance(v, str) and not _label_value_ok(v):
            out.append("%s.%s: bad label value %r (at most 63 lowercase letters, digits, '_' or '-')"
                       % (path, k, v))


def _check_name(obj: dict, out: list) -> None:
    n = obj.get("name")
    if isinstance(n, str) and not NAME.match(n):
        out.append("name: %r must match [a-z]([-a-z0-9]{0,61}[a-z0-9])? (1-63 characters)" % n)


def _check_url(v, rx: str, path: str, out: list) -> None:
    if isinstance(v, str) and not URLS[rx].match(v):
        out.append("%s: %r does not look like a %s URL or partial URL" % (path, v, rx))


def _check_metadata(md, out: list) -> None:
    if not isinstance(md, dict):
        return
    items = md.get("items")
    if not isinstance(items, list):
        return
    seen: dict = {}
    total = 0
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            continue
        k, v = it.get("key"), it.get("value")
        p = "metadata.items[%d]" % i
        if isinstance(k, str):
            if k in seen:
                out.append("%s.key: duplicate metadata key %r (also items[%d])" % (p, k, seen[k]))
            else:
                seen[k] = i
            total += len(k.encode())
        if isinstance(v, str):
            total += len(v.encode())
            if len(v.encode()) > 256 * 1024:
                out.append("%s.value: %d bytes, a metadata value may have at most 256 KB" % (p, len(v.encode())))
        if k == "user-data" and isinstance(v, str):
            if not v.startswith("#cloud-config"):
                out.append("%s.value: user-data must start with '#cloud-config'" % p)
            else:
                import yaml

                try:
                    doc = yaml.safe_load(v)
                except yaml.YAMLError as e:
                    mark = getattr(e, "problem_mark", None)
                    where = "line %d, column %d: " % (mark.line + 1, mark.column + 1) if mark else ""
                    problem = getattr(e, "problem", None) or str(e).replace("\n", " ")
                    out.append("%s.value: user-data is not valid YAML: %s%s" % (p, where, problem))
                else:
                    if doc is not None and not isinstance(doc, dict):
                        out.append("%s.value: cloud-config must be a YAML mapping, got %s"
                                   % (p, type(doc).__name__))
    if total > 512 * 1024:
        out.append("metadata.items: %d bytes in total, must be less than 512 KB" % total)


def _check_ports(rules, path: str, out: list) -> None:
    for i, r in enumerate(rules or []):
        if not isinstance(r, dict):
            continue
        proto = r.get("IPProtocol")
        ports = r.get("ports") or []
        if ports and proto not in ("tcp", "udp", "sctp", "6", "17", "132"):
            out.append("%s[%d].ports: ports only apply to tcp, udp and sctp (IPProtocol %r)"
                       % (path, i, proto))
        for j, p in enumerate(ports):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", p) if isinstance(p, str) else None
            if not m or not all(0 <= int(x) <= 65535 for x in m.groups() if x) or (
                    m.group(2) and int(m.group(2)) < int(m.group(1))):
                out.append("%s[%d].ports[%d]: %r is not a port or port range" % (path, i, j, p))


def _extra_rules(kind: str, obj, out: list) -> None:
    if not isinstance(obj, dict):
        return
    _check_name(obj, out)
    _check_labels(obj.get("labels"), "labels", out)
    if kind == "Instance":
        _check_url(obj.get("machineType"), "machineType", "machineType", out)
        _check_metadata(obj.get("metadata"), out)
        for i, d in enumerate(obj.get("disks") or []):
            if not isinstance(d, dict):
                continue
            ip = d.get("initializeParams")
            if isinstance(ip, dict):
                p = "disks[%d].initializeParams" % i
                _check_url(ip.get("sourceImage"), "sourceImage", p + ".sourceImage", out)
                _check_url(ip.get("diskType"), "diskType", p + ".diskType", out)
                _check_labels(ip.get("labels"), p + ".labels", out)
                if ip.get("diskName") is not None and isinstance(ip["diskName"], str) \
                        and not NAME.match(ip["diskName"]):
                    out.append("%s.diskName: %r is not a valid resource name" % (p, ip["diskName"]))
            elif not d.get("source"):
                out.append("disks[%d]: needs initializeParams (new disk) or source (existing disk)" % i)
        boots = [i for i, d in enumerate(obj.get("disks") or []) if isinstance(d, dict) and d.get("boot")]
        if obj.get("disks") and len(boots) != 1:
            out.append("disks: exactly one disk must have boot: true, found %d" % len(boots))
        for i, n in enumerate(obj.get("networkInterfaces") or []):
            if isinstance(n, dict):
                _check_url(n.get("network"), "network", "networkInterfaces[%d].network" % i, out)
                _check_url(n.get("subnetwork"), "subnetwork", "networkInterfaces[%d].subnetwork" % i, out)
    elif kind == "Disk":
        _check_url(obj.get("sourceImage"), "sourceImage", "sourceImage", out)
        _check_url(obj.get("type"), "zoneDiskType", "type", out)
    elif kind == "Firewall":
        if obj.get("allowed") and obj.get("denied"):
            out.append("allowed: a firewall rule has either allowed or denied, not both")
        if not obj.get("allowed") and not obj.get("denied"):
            out.append("allowed: a firewall rule needs allowed or denied")
        _check_ports(obj.get("allowed"), "allowed", out)
        _check_ports(obj.get("denied"), "denied", out)
        _check_url(obj.get("network"), "network", "network", out)
        import ipaddress

        for k in ("sourceRanges", "destinationRanges"):
            for i, r in enumerate(obj.get(k) or []):
                try:
                    ipaddress.ip_network(r, strict=False)
                except (ValueError, TypeError):
                    out.append("%s[%d]: %r is not an IP range" % (k, i, r))


def validate(kind: str, obj) -> list[str]:
    """Return ``["path: message", ...]`` for one request body (empty if valid)."""
    if kind not in KINDS:
        raise ValueError("unknown kind %r (one of %s)" % (kind, ", ".join(KINDS)))
    out = _schema_errors(kind, obj)
    _int64_strings(json_schema(kind), obj, out)
    _extra_rules(kind, obj, out)
    return out


def _int64_strings(schema: dict, obj, out: list) -> None:
    """Range-check int64 values given as strings (a pattern can't)."""
    defs = schema["$defs"]

    def walk(s, v, path):
        if "$ref" in s:
            s = defs[s["$ref"].rsplit("/", 1)[1]]
        if "x-int64-range" in s and isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
            lo, hi = s["x-int64-range"]
            if not lo <= int(v) <= hi:
                out.append("%s: %s is out of range %d..%d" % (_path(path), v, lo, hi))
        elif isinstance(v, dict) and "properties" in s:
            for k, x in v.items():
                if k in s["properties"]:
                    walk(s["properties"][k], x, path + [k])
                elif isinstance(s.get("additionalProperties"), dict):
                    walk(s["additionalProperties"], x, path + [k])
        elif isinstance(v, dict) and isinstance(s.get("additionalProperties"), dict):
            for k, x in v.items():
                walk(s["additionalProperties"], x, path + [k])
        elif isinstance(v, list) and isinstance(s.get("items"), dict):
            for i, x in enumerate(v):
                walk(s["items"], x, path + [i])

    walk(schema, obj, [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", required=True, choices=sorted(KINDS))
    ap.add_argument("--print-schema", action="store_true", help="print the generated JSON Schema")
    ap.add_argument("files", nargs="*", metavar="FILE")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.print_schema:
        json.dump(json_schema(args.kind), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    if not args.files:
        print("gce_validate.py: error: no FILE given", file=sys.stderr)
        return 2
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
        for line in validate(args.kind, obj):
            print("%s: %s" % (f, line))
            bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
