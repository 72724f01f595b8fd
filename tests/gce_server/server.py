#!/usr/bin/env python3
"""A Compute Engine v1 compatible test server (no official emulator exists).

It enforces the rules of the real API that the bridge GCE driver relies on:

- every request body is validated against the JSON Schema generated from the
  discovery document ``compute.v1.json`` (``tests/validators/gce_validate.py``:
  unknown and output-only fields rejected, patterns anchored, names, labels,
  metadata and URLs checked), and rejected in the real API's error shape
  (400, reason ``invalid``, status ``INVALID_ARGUMENT``);
- instances, disks and firewalls: insert / get / list (``filter`` on
  ``labels.KEY=VALUE``, ``name=...``; pages with ``nextPageToken``) / delete, instances setMetadata (412
  ``conditionNotMet`` on a stale or missing fingerprint), instances and disks
  setLabels (same, with ``labelFingerprint``), disks resize (grow only); 404 ``notFound`` and 409 ``alreadyExists`` as
  the real API; a disk attached to an instance cannot be deleted (400
  ``resourceInUseByAnotherResource``), an instance needs its disks to exist;
- long-running operations, zonal and global: PENDING -> RUNNING -> DONE
  over ``--op-seconds`` (by themselves, polled or not), errors reported
  inside the operation; an instance is PROVISIONING until its insert is DONE;
- ``requestId``: a repeated request id returns the original operation and
  does nothing (the real API remembers them for an hour);
- the OAuth2 token endpoint (``POST /token``, JWT-bearer grant): the RS256
  assertion is verified against the public key of the one service account
  the server is configured with (``iss``, ``aud`` = the token URL, ``scope``,
  ``iat``/``exp`` at most an hour apart); tokens live ``--token-ttl``
  seconds; every Compute call needs a live token it issued (401 otherwise);
- the refresh-token grant of gcloud's ``authorized_user`` credentials (one
  test user, constants below);
- Secret Manager v1 (under ``/secretmanager/v1/``): secrets create (body
  checked against ``secretmanager.v1.json``, ``secretId`` syntax, 409
  ``ALREADY_EXISTS``), get, list (label filter), delete, ``:addVersion`` and
  versions list; errors in that API's shape (no ``errors`` list);
- machineTypes list / get of the zone (the discovery document's ``MachineType`` shape; a
  catalogue wider than bridge's stock E2 list; query parameters checked against the discovery
  document); an instance whose ``machineType`` the zone does not list is rejected (400
  ``invalid``), as the real API does;
- the metadata server's token URL (``Metadata-Flavor: Google`` required), for
  the driver's on-GCE path (``GCE_METADATA_HOST``);
- Secret Manager's ``versions/<latest|N>:access`` (the VM's boot-time fetch): every
  Secret Manager URL is matched against ``secretmanager.v1.json``'s methods (404 ``Method not
  found.`` otherwise) and its query parameters against the method's (400 for an unknown
  one); ``payload.data`` must be base64 (standard or URL-safe) of at most 64 KiB, a given
  ``dataCrc32c`` must match; the access answer carries ``name`` and ``payload`` (``data``,
  ``dataCrc32c``), checked against ``AccessSecretVersionResponse``, pretty-printed as the
  real API answers; 404 for a missing secret or version;
- a VM's own metadata server, for a stand-in VM: ``/_vm/<zone>/<instance>`` +
  ``/computeMetadata/v1/instance/service-accounts/default/token`` (a token the Secret
  Manager endpoints accept) and ``/computeMetadata/v1/project/project-id``, for an instance
  that exists, ``Metadata-Flavor: Google`` required (else 403); and
  ``/computeMetadata/v1/instance/attributes/<key>`` serves that instance's metadata
  value as the real one does (``Metadata-Flavor: Google`` required, else 403; 404
  for a missing key; an ``ETag``; ``wait_for_change=true`` answers at once when
  ``last_etag`` is not the current one, else when the value changes, else after
  ``timeout_sec`` with the current value); a PUT to
  ``/computeMetadata/v1/instance/guest-attributes/<ns>/<key>`` writes a guest attribute
  (header required; refused unless the instance enables guest attributes).

Test control (no auth, not part of the real API), under ``/_control/``:
``revoke`` (all issued tokens become invalid), ``disable-key`` (the service
account's key stops working), ``terminate/<zone>/<name>`` (an instance becomes
TERMINATED), ``drift/<zone>/<name>`` (its metadata changed by hand),
``quota/<n>`` (instances per zone), ``oplog`` (every instance insert, delete, setMetadata
and start, timestamped, with the RUNNING instances after it), ``stall/<text>``
(instances whose user-data holds the text stay STAGING: the VM never boots),
``guest/<zone>/<name>/<ns>/<key>?value=V`` (a guest attribute, as the VM's PUT
to its metadata server writes it; served by ``instances.getGuestAttributes``),
``guestlog`` (every guest attribute a stand-in VM PUT, timestamped),
``guest-auto/on|off`` (on by default: a started VM with guest attributes enabled
reports ``bridge/health=healthy`` by itself), ``deny/<collection>`` (inserts lack
permission, 403; ``allow/<collection>`` undoes it), ``disable-api/secretmanager``
(that API is not enabled in the project), ``flaky/<n>`` (the next n Compute
calls answer 503), ``stats`` (counts of inserts per kind and
requests per status), ``dump`` (every stored resource).

Usage: server.py --project P --zones Z1,Z2 --client-email E --public-key PEM
[--token-ttl S] [--port N]. Prints ``listening PORT`` once ready.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validators"))
import gce_validate  # noqa: E402

BASE = "/compute/v1/"
SM_BASE = "/secretmanager/v1/"
# The one user of the refresh-token grant (gcloud's authorized_user credentials); test values.
USER_CLIENT_ID = "764086051850-test.apps.googleusercontent.com"
USER_CLIENT_SECRET = "test-client-secret"
USER_REFRESH_TOKEN = "1//test-refresh-token"
PUBLIC = "https://www.googleapis.com/compute/v1/"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, status: str, errors: bool = True):
        super().__init__(message)
        self.code, self.reason, self.message, self.status = code, reason, message, status
        self.errors = errors  # Compute lists `errors`; Secret Manager (a gRPC API) does not

    def body(self) -> dict:
        e = {"code": self.code, "message": self.message, "status": self.status}
        if self.errors:
            e["errors"] = [{"message": self.message, "domain": "global", "reason": self.reason}]
        return {"error": e}


def sm_error(code: int, status: str, message: str) -> ApiError:
    return ApiError(code, "", message, status, errors=False)


def invalid(msg: str) -> ApiError:
    return ApiError(400, "invalid", msg, "INVALID_ARGUMENT")


def not_found(path: str) -> ApiError:
    return ApiError(404, "notFound", "The resource '%s' was not found" % path, "NOT_FOUND")


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def schema_errors(def_name: str, obj) -> list[str]:
    """Validate against a discovery schema that is not an insert body (Metadata, ...)."""
    import jsonschema

    base = gce_validate.json_schema("Instance")
    schema = dict(base)
    schema["$ref"] = "#/$defs/%s" % def_name
    v = jsonschema.Draft202012Validator(schema)
    out = []
    for e in v.iter_errors(obj):
        out.extend(gce_validate._explain(e))
    return out


_SM: dict = {}


def sm_schema_errors(def_name: str, method: str, obj) -> list[str]:
    """Validate against the Secret Manager discovery document (``secretmanager.v1.json``),
    converted the same way as Compute's."""
    import jsonschema

    key = (def_name, method)
    if key not in _SM:
        path = os.path.join(os.path.dirname(gce_validate.discovery_path()), "secretmanager.v1.json")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        defs = {n: gce_validate._convert(x, method) for n, x in doc["schemas"].items()}
        _SM[key] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$ref": "#/$defs/%s" % def_name, "$defs": defs}
    out = []
    for e in jsonschema.Draft202012Validator(_SM[key]).iter_errors(obj):
        out.extend(gce_validate._explain(e))
    return out


_SM_DOC: list = []


def sm_doc() -> dict:
    if not _SM_DOC:
        path = os.path.join(os.path.dirname(gce_validate.discovery_path()), "secretmanager.v1.json")
        with open(path, encoding="utf-8") as fh:
            _SM_DOC.append(json.load(fh))
    return _SM_DOC[0]


def sm_method(http: str, path: str, query: dict) -> str:
    """The Secret Manager method a request is, matched against the discovery document's
    ``flatPath`` and ``httpMethod`` (path parameters: one segment, no ``/`` or ``:``), its query
    parameters checked against the method's (and the standard ones); 404 for a URL the API has
    no method at, 400 for an unknown query parameter, as the real API answers."""
    doc = sm_doc()

    def walk(res):
        for r in res.values():
            yield from r.get("methods", {}).values()
            yield from walk(r.get("resources", {}))

    for m in walk(doc["resources"]):
        if m["httpMethod"] != http:
            continue
        pat = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/:]+", re.escape(m["flatPath"]))
        if not re.fullmatch(pat, "v1/" + path):
            continue
        params = {k for k, v in m.get("parameters", {}).items() if v.get("location") == "query"}
        params.update(doc.get("parameters", {}))
        for k in query:
            if k not in params:
                raise sm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"%s\": Cannot bind query parameter. Field '%s' could not be found in request message." % (k, k))
        return m["id"]
    raise sm_error(404, "NOT_FOUND", "Method not found.")


_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}|[A-Za-z0-9_-]*={0,2}")


def b64_payload(data) -> bytes | None:
    """A ``format: byte`` field as the API's JSON parser reads it: standard or URL-safe base64,
    padding optional; None when it is not base64 (the value is never echoed)."""
    if not isinstance(data, str) or not _B64.fullmatch(data):
        return None
    bare = data.rstrip("=")
    if len(bare) % 4 == 1 or (len(data) != len(bare) and len(data) % 4):
        return None
    try:
        return base64.urlsafe_b64decode(bare.replace("+", "-").replace("/", "_") + "=" * (-len(bare) % 4))
    except ValueError:
        return None


def crc32c(b: bytes) -> int:
    """CRC-32C (Castagnoli), as the API reports a payload's ``dataCrc32c``."""
    crc = 0xFFFFFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _machine_types() -> list[tuple]:
    """The zone's machine types: name, guestCpus, memoryMb, isSharedCpu, architecture,
    accelerators. Real shapes of a us-central1 zone, and more than bridge's stock E2 list (E2
    highcpu-2, N2, N2D, shared-core e2-micro, ARM64 T2A, a GPU A2): a deploy that sizes from this
    list is told apart from one that used the stock list."""
    out = [("e2-micro", 2, 1024, True, "X86_64", None), ("e2-small", 2, 2048, True, "X86_64", None),
           ("e2-medium", 2, 4096, True, "X86_64", None)]
    for n in (2, 4, 8, 16, 32):
        out.append(("e2-standard-%d" % n, n, n * 4096, False, "X86_64", None))
        out.append(("e2-highcpu-%d" % n, n, n * 1024, False, "X86_64", None))
    for n in (2, 4, 8, 16):
        out.append(("e2-highmem-%d" % n, n, n * 8192, False, "X86_64", None))
    for n in (2, 4, 8):
        out.append(("n2-standard-%d" % n, n, n * 4096, False, "X86_64", None))
        out.append(("n2-highmem-%d" % n, n, n * 8192, False, "X86_64", None))
        out.append(("n2d-standard-%d" % n, n, n * 4096, False, "X86_64", None))
    for n in (1, 2, 4):
        out.append(("t2a-standard-%d" % n, n, n * 4096, False, "ARM64", None))
    out.append(("a2-highgpu-1g", 12, 87040, False, "X86_64", ("nvidia-tesla-a100", 1)))
    return out


MACHINE_TYPES = _machine_types()


def machine_type(project: str, zone: str, i: int, t: tuple) -> dict:
    """One ``MachineType`` as ``machineTypes.get`` / ``list`` return it (discovery shape)."""
    name, cpus, mem, shared, arch, acc = t
    r = {"kind": "compute#machineType", "id": str(801000 + i), "name": name,
         "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
         "description": "%s%d vCPU%s, %s GB RAM" % ("Efficient Instance, " if name.startswith("e2") else "",
                                                   cpus, "s" if cpus > 1 else "", ("%g" % (mem / 1024))),
         "guestCpus": cpus, "memoryMb": mem, "isSharedCpu": shared, "architecture": arch,
         "maximumPersistentDisks": 16 if shared else 128, "maximumPersistentDisksSizeGb": "3072" if shared else "263168",
         "zone": zone, "selfLink": full_url(project, "zones/%s/machineTypes/%s" % (zone, name))}
    if acc:
        r["accelerators"] = [{"guestAcceleratorType": acc[0], "guestAcceleratorCount": acc[1]}]
    return r


_PARAMS: dict = {}


def check_query(method_id: str, query: dict) -> None:
    """Reject a query parameter the discovery document does not define for the method (or as
    a standard parameter), as the real API does; and a ``maxResults`` out of its range."""
    if method_id not in _PARAMS:
        with open(gce_validate.discovery_path(), encoding="utf-8") as fh:
            doc = json.load(fh)
        res, meth = method_id.split(".")
        m = doc["resources"][res]["methods"][meth]
        params = {k: v for k, v in m.get("parameters", {}).items() if v.get("location") == "query"}
        params.update(doc.get("parameters", {}))
        _PARAMS[method_id] = params
    params = _PARAMS[method_id]
    for k, v in query.items():
        spec = params.get(k)
        if spec is None:
            raise invalid("Invalid JSON payload received. Unknown name \"%s\": Cannot bind query parameter." % k)
        if spec.get("type") == "integer":
            if not re.fullmatch(r"[0-9]+", v) or ("minimum" in spec and int(v) < int(spec["minimum"])) \
                    or ("maximum" in spec and int(v) > int(spec["maximum"])):
                raise invalid("Invalid value for field '%s': '%s'" % (k, v))
            if k == "maxResults" and int(v) > 500:
                # The documented range (0 to 500), which the document's schema does not carry.
                raise invalid("Invalid value for field 'maxResults': '%s'. Must be less than or equal to 500" % v)
        if spec.get("type") == "boolean" and v not in ("true", "false"):
            raise invalid("Invalid value for field '%s': '%s'" % (k, v))


def public(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}


class State:
    def __init__(self, args):
        self.project = args.project
        self.zones = set(args.zones.split(","))
        self.email = args.client_email
        self.ttl = args.token_ttl
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        with open(args.public_key, "rb") as fh:
            self.public_key = load_pem_public_key(fh.read())
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}
        # (scope, collection) -> name -> resource; scope is a zone or "global"
        self.res: dict[tuple, dict] = {}
        self.ops: dict[tuple, dict] = {}
        self.request_ids: dict[str, dict] = {}
        self.counter = 1000
        self.stats: dict[str, int] = {}
        self.op_seconds = args.op_seconds
        self.page_size = args.page_size
        self.disabled = False
        self.denied: set[str] = set()  # collections whose inserts lack permission
        self.flaky = 0  # the next N Compute calls answer 503
        self.disabled_apis: set[str] = set()  # "secretmanager": its API is not enabled
        self.quota = None  # instances per zone, None: unlimited
        self.oplog: list[dict] = []  # insert/delete/running events with the RUNNING instances
        self.stall: list[str] = []  # instances whose user-data holds one of these never start
        self.guest: dict[tuple, dict] = {}  # (zone, instance) -> guest attributes "ns/key" -> value
        self.guest_log: list[tuple] = []  # every VM's PUT: (time, zone, instance, "ns/key", value)
        self.guest_auto = True  # a started VM with guest attributes reports healthy by itself

    def log(self, event: str, scope: str, name: str) -> None:
        running = sorted(n for n, r in self.res.get((scope, "instances"), {}).items()
                         if r.get("status") == "RUNNING")
        self.oplog.append({"t": time.time(), "event": event, "instance": name, "running": running})

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    def next_id(self) -> str:
        self.counter += 1
        return str(self.counter)


def fingerprint(obj) -> str:
    return base64.b64encode(hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()[:8]).decode()


def full_url(project: str, ref: str) -> str:
    """A partial resource URL as the API returns it (full, with the project)."""
    if ref.startswith("https://"):
        return ref
    if ref.startswith("projects/"):
        return PUBLIC + ref
    return PUBLIC + "projects/%s/%s" % (project, ref)


def parse_filter(f: str):
    """`labels.k=v`, `labels.k = "v"`, `name=x`, joined by AND or spaces in parentheses."""
    preds = []
    for m in re.finditer(r'\(?\s*([a-zA-Z0-9_.-]+)\s*(=|!=|eq|ne)\s*"?([^"\s)]*)"?\s*\)?', f):
        field, op, value = m.groups()
        preds.append((field, op in ("=", "eq"), value))
    if f.strip() and not preds:
        raise invalid("Invalid value for field 'filter': '%s'. Invalid list filter expression." % f)

    def ok(r):
        for field, eq, value in preds:
            cur = r
            for part in field.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            if (str(cur) == value if cur is not None else False) != eq:
                return False
        return True

    return ok


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    st: State = None  # type: ignore

    def log_message(self, fmt, *args):  # quiet; errors go to stderr below
        pass

    def send(self, code: int, body: dict, pretty: bool = False) -> None:
        # Secret Manager answers pretty-printed (prettyPrint defaults to true), as the VM's
        # script reads it.
        data = json.dumps(body, indent=2 if pretty else None).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.st.lock:
            self.st.count("status_%d" % code)

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def do_PUT(self):
        self.route("PUT")

    def route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        raw = self.read_body()
        try:
            if url.path == "/token" and method == "POST":
                return self.token(raw)
            if url.path == "/computeMetadata/v1/instance/service-accounts/default/token":
                return self.metadata_token()
            m = re.fullmatch(r"/_vm/([^/]+)/([^/]+)/computeMetadata/v1/(instance/service-accounts/default/token|project/project-id)", url.path)
            if m and method == "GET":
                return self.vm_metadata(m.group(1), m.group(2), m.group(3))
            m = re.fullmatch(r"/_vm/([^/]+)/([^/]+)/computeMetadata/v1/instance/attributes/([^/]+)", url.path)
            if m and method == "GET":
                return self.vm_attribute(m.group(1), m.group(2), m.group(3), query)
            m = re.fullmatch(r"/_vm/([^/]+)/([^/]+)/computeMetadata/v1/instance/guest-attributes/([^/]+)/([^/]+)", url.path)
            if m and method == "PUT":
                return self.vm_guest_put(m.group(1), m.group(2), m.group(3), m.group(4), raw)
            if url.path.startswith("/_control/"):
                self.guest_value = query.get("value", "")
                return self.control(url.path[len("/_control/"):])
            if url.path.startswith(SM_BASE):
                self.auth()
                body = json.loads(raw or b"null") if method == "POST" else None
                with self.st.lock:
                    code, out = self.secrets(method, url.path[len(SM_BASE):].strip("/"), query, body)
                return self.send(code, out, pretty=True)
            if not url.path.startswith(BASE):
                raise not_found(url.path)
            with self.st.lock:
                if self.st.flaky > 0:
                    self.st.flaky -= 1
                    raise ApiError(503, "backendError", "The service is currently unavailable.", "UNAVAILABLE")
            self.auth()
            body = None
            if method == "POST":
                try:
                    body = json.loads(raw or b"null")
                except ValueError as e:
                    raise invalid("Invalid JSON payload received. %s" % e)
            with self.st.lock:
                self.advance()
                code, out = self.compute(method, url.path[len(BASE):].strip("/").split("/"), query, body)
            self.send(code, out)
        except ApiError as e:
            self.send(e.code, e.body())
        except Exception as e:  # a bug here must be visible, as a 500
            import traceback

            traceback.print_exc()
            self.send(500, ApiError(500, "backendError", "internal error: %s" % e, "INTERNAL").body())

    # --- OAuth2 -------------------------------------------------------------------------------

    def oauth_error(self, error: str, desc: str) -> None:
        self.send(400, {"error": error, "error_description": desc})

    def token(self, raw: bytes) -> None:
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if form.get("grant_type") == "refresh_token":
            return self.refresh(form)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.oauth_error("unsupported_grant_type", "Invalid grant_type: %s" % form.get("grant_type"))
        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return self.oauth_error("invalid_request", "Invalid JWT: malformed assertion")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except ValueError:
            return self.oauth_error("invalid_request", "Invalid JWT: not base64url JSON")
        if header.get("alg") != "RS256":
            return self.oauth_error("invalid_grant", "Invalid JWT: alg must be RS256")
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            self.st.public_key.verify(sig, (parts[0] + "." + parts[1]).encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        host = self.headers.get("Host", "")
        if self.st.disabled:
            return self.oauth_error("invalid_grant", "Invalid grant: account not found")
        if claims.get("iss") != self.st.email:
            return self.oauth_error("invalid_grant", "Invalid JWT: unknown issuer %r" % claims.get("iss"))
        if claims.get("aud") != "http://%s/token" % host:
            return self.oauth_error("invalid_grant", "Invalid JWT: aud must be the token URL")
        if not claims.get("scope"):
            return self.oauth_error("invalid_scope", "Invalid JWT: no scope")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or exp <= iat:
            return self.oauth_error("invalid_grant", "Invalid JWT: iat and exp must be at most an hour apart")
        if exp < now or iat > now + 60:
            return self.oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        tok = "ya29.test-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
        with self.st.lock:
            self.st.tokens[tok] = now + self.st.ttl
            self.st.count("tokens_issued")
        self.send(200, {"access_token": tok, "expires_in": int(self.st.ttl), "token_type": "Bearer"})

    def issue(self, counter: str) -> None:
        tok = "ya29.test-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
        with self.st.lock:
            self.st.tokens[tok] = time.time() + self.st.ttl
            self.st.count(counter)
        self.send(200, {"access_token": tok, "expires_in": int(self.st.ttl), "token_type": "Bearer"})

    def refresh(self, form: dict) -> None:
        """The refresh-token grant of gcloud's user credentials (the one user it knows)."""
        if form.get("client_id") != USER_CLIENT_ID or form.get("client_secret") != USER_CLIENT_SECRET:
            return self.send(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
        if self.st.disabled or form.get("refresh_token") != USER_REFRESH_TOKEN:
            return self.oauth_error("invalid_grant", "Token has been expired or revoked.")
        return self.issue("user_tokens_issued")

    def metadata_token(self) -> None:
        """The metadata server's token, as on a GCE VM (needs ``Metadata-Flavor: Google``)."""
        if self.headers.get("Metadata-Flavor") != "Google":
            data = b"Missing Metadata-Flavor:Google header."
            self.send_response(403)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        tok = "ya29.metadata-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
        with self.st.lock:
            if self.st.disabled:
                return self.send(404, {"error": "not_found"})
            self.st.tokens[tok] = time.time() + self.st.ttl
            self.st.count("metadata_tokens_issued")
        self.send(200, {"access_token": tok, "expires_in": int(self.st.ttl), "token_type": "Bearer"})

    def vm_metadata(self, zone: str, name: str, what: str) -> None:
        """A stand-in VM's metadata server: its service account's token (JSON, as
        ``metadata_token``) or the project id (text). Only for an instance that exists, and only
        with ``Metadata-Flavor: Google`` (403 otherwise, as the real one)."""
        def text(code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/text")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        if self.headers.get("Metadata-Flavor") != "Google":
            return text(403, "Missing Metadata-Flavor:Google header.")
        with self.st.lock:
            known = name in self.st.res.get((zone, "instances"), {})
        if not known:
            return text(404, "not found")
        if what == "project/project-id":
            return text(200, self.st.project)
        with self.st.lock:
            self.st.count("vm_tokens_issued")
        return self.metadata_token()

    def send_text(self, code: int, text: str, etag: str | None = None) -> None:
        """A plain-text answer, as the metadata server sends them."""
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/text")
        self.send_header("Content-Length", str(len(data)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def vm_guest_put(self, zone: str, name: str, ns: str, key: str, raw: bytes) -> None:
        """A guest attribute written by the VM (PUT to its metadata server, the body the
        value): ``Metadata-Flavor: Google`` required (403), the instance must exist (404) and
        have ``enable-guest-attributes=TRUE`` in its metadata (403: nothing can be written
        otherwise); namespace and key ``[A-Za-z0-9_-]+`` (400). Stored where
        ``instances.getGuestAttributes`` reads it, and counted in ``stats`` (``guest_puts``)."""
        send_text = self.send_text

        if self.headers.get("Metadata-Flavor") != "Google":
            return send_text(403, "Missing Metadata-Flavor:Google header.")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", ns) or not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            return send_text(400, "Invalid guest attribute path.")
        with self.st.lock:
            inst = self.st.res.get((zone, "instances"), {}).get(name)
            if inst is None:
                return send_text(404, "Not found")
            items = {i.get("key"): i.get("value") for i in inst["metadata"].get("items", [])}
            if str(items.get("enable-guest-attributes", "")).upper() != "TRUE":
                return send_text(403, "Guest attributes endpoint access is disabled.")
            st = self.st.guest.setdefault((zone, name), {})
            st["%s/%s" % (ns, key)] = raw.decode("utf-8", "replace")
            self.st.guest_log.append((time.time(), zone, name, "%s/%s" % (ns, key), st["%s/%s" % (ns, key)]))
        return send_text(200, "")

    def vm_attribute(self, zone: str, name: str, key: str, query: dict) -> None:
        """An instance attribute as the VM's metadata server serves it (see the module doc)."""
        send_text = self.send_text

        if self.headers.get("Metadata-Flavor") != "Google":
            return send_text(403, "Missing Metadata-Flavor:Google header.")

        def current():
            with self.st.lock:
                inst = self.st.res.get((zone, "instances"), {}).get(name)
                if inst is None:
                    return None
                for i in inst["metadata"].get("items", []):
                    if i.get("key") == key:
                        v = i.get("value", "")
                        return v, hashlib.sha256(v.encode()).hexdigest()[:16]
                return None

        got = current()
        if query.get("wait_for_change") == "true" and got is not None \
                and query.get("last_etag", "0") == got[1]:
            end = time.time() + float(query.get("timeout_sec", "300"))
            while time.time() < end:
                time.sleep(0.1)
                got = current()
                if got is None or got[1] != query.get("last_etag"):
                    break
        if got is None:
            return send_text(404, "not found")
        with self.st.lock:
            self.st.count("vm_metadata_reads")
        send_text(200, got[0], got[1])

    def auth(self) -> None:
        h = self.headers.get("Authorization", "")
        tok = h[len("Bearer "):] if h.startswith("Bearer ") else None
        with self.st.lock:
            exp = self.st.tokens.get(tok or "")
            if exp is not None and exp > time.time():
                return
            self.st.count("unauthenticated")
        raise ApiError(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "UNAUTHENTICATED")

    # --- control ------------------------------------------------------------------------------

    def control(self, path: str) -> None:
        st = self.st
        with st.lock:
            parts = path.split("/")
            if parts[0] == "revoke":
                st.tokens.clear()
                return self.send(200, {})
            if parts[0] == "dump":
                return self.send(200, {"resources": {"%s/%s" % k: v for k, v in st.res.items()}})
            if parts[0] == "stats":
                return self.send(200, dict(st.stats))
            if parts[0] == "oplog":
                return self.send(200, {"events": st.oplog})
            if parts[0] == "guestlog":
                return self.send(200, {"puts": [list(e) for e in st.guest_log]})
            if parts[0] == "stall" and len(parts) == 2:
                st.stall.append(urllib.parse.unquote(parts[1]))
                return self.send(200, {})
            if parts[0] == "guest-auto" and len(parts) == 2:
                st.guest_auto = parts[1] == "on"
                return self.send(200, {})
            if parts[0] == "guest" and len(parts) == 5:
                # guest/<zone>/<instance>/<namespace>/<key>?value=...: what the VM's PUT to its
                # metadata server does
                inst = st.res.get((parts[1], "instances"), {}).get(parts[2])
                if inst is None:
                    raise not_found(path)
                st.guest.setdefault((parts[1], parts[2]), {})["%s/%s" % (parts[3], parts[4])] = \
                    self.guest_value
                return self.send(200, {})
            if parts[0] == "disable-key":
                st.disabled = True
                st.tokens.clear()
                return self.send(200, {})
            if parts[0] == "flaky" and len(parts) == 2:
                st.flaky = int(parts[1])
                return self.send(200, {})
            if parts[0] == "disable-api" and len(parts) == 2:
                st.disabled_apis.add(parts[1])
                return self.send(200, {})
            if parts[0] in ("deny", "allow") and len(parts) == 2:
                (st.denied.add if parts[0] == "deny" else st.denied.discard)(parts[1])
                return self.send(200, {})
            if parts[0] == "quota" and len(parts) == 2:
                st.quota = int(parts[1])
                return self.send(200, {})
            if parts[0] == "drift" and len(parts) == 3:
                inst = st.res.get((parts[1], "instances"), {}).get(parts[2])
                if inst is None:
                    raise not_found(path)
                items = [i for i in inst["metadata"]["items"] if i.get("key") != "startup-script"]
                items.append({"key": "startup-script", "value": "echo changed by hand"})
                inst["metadata"]["items"] = items
                inst["metadata"]["fingerprint"] = fingerprint(items)
                return self.send(200, {})
            if parts[0] == "terminate" and len(parts) == 3:
                inst = st.res.get((parts[1], "instances"), {}).get(parts[2])
                if inst is None:
                    raise not_found(path)
                inst["status"] = "TERMINATED"
                return self.send(200, {})
        raise not_found(path)

    # --- Compute ------------------------------------------------------------------------------

    def compute(self, method, p, query, body):
        st = self.st
        if len(p) < 2 or p[0] != "projects":
            raise not_found("/".join(p))
        if p[1] != st.project:
            raise not_found("projects/%s" % p[1])
        rest = p[2:]
        if not rest:
            if method != "GET":
                raise ApiError(405, "httpMethodNotAllowed", "method not allowed", "INVALID_ARGUMENT")
            return 200, {"kind": "compute#project", "name": st.project, "id": "4242",
                         "selfLink": PUBLIC + "projects/" + st.project}
        if rest[0] == "zones":
            if len(rest) < 2 or rest[1] not in st.zones:
                raise not_found("projects/%s/zones/%s" % (st.project, rest[1] if len(rest) > 1 else ""))
            scope, rest = rest[1], rest[2:]
            if not rest:
                return 200, {"kind": "compute#zone", "name": scope, "status": "UP",
                             "selfLink": full_url(st.project, "zones/" + scope)}
        elif rest[0] == "global":
            scope, rest = "global", rest[1:]
        else:
            raise not_found("/".join(p))
        if not rest:
            raise not_found("/".join(p))
        coll = rest[0]
        allowed = {"instances": scope != "global", "disks": scope != "global",
                   "firewalls": scope == "global", "operations": True, "machineTypes": scope != "global"}
        if not allowed.get(coll):
            raise not_found("/".join(p))
        if coll == "machineTypes":
            return self.machine_types(scope, rest[1:], method, query)
        if coll == "operations":
            return self.operation(scope, rest[1:], method)
        prefix = ("zones/%s/" % scope if scope != "global" else "global/") + coll
        items = st.res.setdefault((scope, coll), {})
        if len(rest) == 1:
            if method == "GET":
                ok = parse_filter(query.get("filter", ""))
                found = [r for r in sorted(items.values(), key=lambda r: r["name"]) if ok(r)]
                size = min(int(query.get("maxResults") or 500), st.page_size)
                start = int(query.get("pageToken") or 0)
                out = {"kind": "compute#%sList" % coll[:-1], "items": found[start:start + size],
                       "selfLink": full_url(st.project, prefix)}
                if start + size < len(found):
                    out["nextPageToken"] = str(start + size)
                return 200, out
            if method == "POST":
                return self.insert(scope, coll, prefix, items, body, query)
        name = rest[1]
        path = "projects/%s/%s/%s" % (st.project, prefix, name)
        r = items.get(name)
        if len(rest) == 2:
            if r is None:
                raise not_found(path)
            if method == "GET":
                return 200, r
            if method == "DELETE":
                return self.delete(scope, coll, items, name, path, query)
        if len(rest) == 3 and coll == "instances" and rest[2] == "getGuestAttributes" and method == "GET":
            if r is None:
                raise not_found(path)
            return self.guest_attributes(scope, r, path, query)
        if len(rest) == 3 and coll in ("instances", "disks") and method == "POST":
            if r is None:
                raise not_found(path)
            if rest[2] == "setMetadata" and coll == "instances":
                return self.set_metadata(scope, r, path, body, query)
            if rest[2] == "setLabels":
                req = "InstancesSetLabelsRequest" if coll == "instances" else "ZoneSetLabelsRequest"
                return self.set_labels(scope, r, path, body, query, req)
            if rest[2] == "resize" and coll == "disks":
                return self.resize(scope, r, path, body, query)
        raise not_found("/".join(p))

    def machine_types(self, scope, rest, method, query):
        """machineTypes.list (``filter``, ``maxResults``, pages with ``nextPageToken``) and
        machineTypes.get; read only."""
        st = self.st
        if method != "GET" or len(rest) > 1:
            raise not_found("projects/%s/zones/%s/machineTypes/%s" % (st.project, scope, "/".join(rest)))
        items = [machine_type(st.project, scope, i, t) for i, t in enumerate(MACHINE_TYPES)]
        st.count("machineTypes." + ("get" if rest else "list"))
        if rest:
            check_query("machineTypes.get", query)
            for it in items:
                if it["name"] == rest[0]:
                    return 200, it
            raise not_found("projects/%s/zones/%s/machineTypes/%s" % (st.project, scope, rest[0]))
        check_query("machineTypes.list", query)
        ok = parse_filter(query.get("filter", ""))
        found = [r for r in items if ok(r)]
        size = min(int(query.get("maxResults") or 500) or 500, st.page_size)
        start = int(query.get("pageToken") or 0)
        out = {"kind": "compute#machineTypeList", "id": "projects/%s/zones/%s/machineTypes" % (st.project, scope),
               "items": found[start:start + size],
               "selfLink": full_url(st.project, "zones/%s/machineTypes" % scope)}
        if start + size < len(found):
            out["nextPageToken"] = str(start + size)
        return 200, out

    def guest_attributes(self, scope, r, path, query):
        """instances.getGuestAttributes: only the discovery document's query parameters; the
        attributes the VM wrote under ``queryPath`` (404 when none, or when the instance's
        metadata does not set enable-guest-attributes=TRUE, so nothing could be written)."""
        allowed = {"queryPath", "variableKey"}
        extra = set(query) - allowed
        if extra:
            raise invalid("Invalid JSON payload received. Unknown name \"%s\": Cannot bind query parameter." % sorted(extra)[0])
        items = {i.get("key"): i.get("value") for i in r.get("metadata", {}).get("items", [])}
        enabled = str(items.get("enable-guest-attributes", "")).upper() == "TRUE"
        attrs = self.st.guest.get((scope, r["name"]), {}) if enabled else {}
        qp = query.get("queryPath", "")
        found = [{"namespace": k.split("/", 1)[0], "key": k.split("/", 1)[1], "value": v}
                 for k, v in sorted(attrs.items()) if k.startswith(qp)]
        if not found:
            raise not_found("%s/guestAttributes/%s" % (path, qp))
        return 200, {"kind": "compute#guestAttributes", "queryPath": qp,
                     "queryValue": {"items": found},
                     "selfLink": full_url(self.st.project, path.split("/", 2)[2] + "/guestAttributes/" + qp)}

    def op(self, scope, kind, target, query, error=None):
        st = self.st
        rid = query.get("requestId")
        oid = st.next_id()
        name = "operation-%s-%s" % (int(time.time() * 1000), oid)
        where = ("zones/%s" % scope) if scope != "global" else "global"
        o = {"kind": "compute#operation", "id": oid, "name": name, "operationType": kind,
             "targetLink": full_url(st.project, target), "status": "PENDING", "progress": 0,
             "insertTime": time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime()),
             "selfLink": full_url(st.project, "%s/operations/%s" % (where, name))}
        if scope != "global":
            o["zone"] = full_url(st.project, "zones/" + scope)
        o["_start"] = time.time()
        if error:
            o["_error"] = error
        st.ops[(scope, name)] = o
        if rid:
            st.request_ids[rid] = o
        return 200, {k: v for k, v in o.items() if not k.startswith("_")}

    def replay(self, query):
        rid = query.get("requestId")
        if rid is None:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", rid) \
                or set(rid) <= {"0", "-"}:
            raise invalid("Invalid value for field 'requestId': '%s'. The request id must be a valid UUID with the exception that zero UUID is not supported (00000000-0000-0000-0000-000000000000)." % rid)
        o = self.st.request_ids.get(rid)
        if o is not None:
            self.st.count("replayed")
            return 200, {k: v for k, v in o.items() if not k.startswith("_")}
        return None

    def operation(self, scope, rest, method):
        st = self.st
        if len(rest) < 1:
            raise not_found("operations")
        o = st.ops.get((scope, rest[0]))
        if o is None:
            raise not_found("projects/%s/%s/operations/%s" % (st.project, "zones/" + scope if scope != "global" else "global", rest[0]))
        if method == "GET" or (len(rest) == 2 and rest[1] == "wait" and method == "POST"):
            return 200, {k: v for k, v in o.items() if not k.startswith("_")}
        raise not_found("operations")

    # --- Secret Manager -----------------------------------------------------------------------

    def secrets(self, method, path, query, body):
        st = self.st
        method_id = sm_method(method, path, query)
        m = re.fullmatch(r"projects/([^/]+)/secrets(?:/([^/:]+))?(?:(/versions)|:(addVersion)|/versions/([^/:]+):access)?", path)
        if not m:
            raise sm_error(404, "NOT_FOUND", "Method not found.")
        project, sid, versions, add, access = m.groups()
        if "secretmanager" in st.disabled_apis:
            raise sm_error(403, "PERMISSION_DENIED", "Secret Manager API has not been used in project 4242 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview?project=4242 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.")
        if project != st.project:
            raise sm_error(403, "PERMISSION_DENIED", "Permission 'secretmanager.secrets.list' denied for resource 'projects/%s' (or it may not exist)." % project)
        secrets = st.res.setdefault(("global", "secrets"), {})
        full = "projects/4242/secrets/%s" % sid
        if sid is None:
            if method == "GET":
                ok = parse_filter(query.get("filter", ""))
                found = [x for _, x in sorted(secrets.items()) if ok(x)]
                start = int(query.get("pageToken") or 0)
                out = {"secrets": found[start:start + st.page_size], "totalSize": len(found)}
                if start + st.page_size < len(found):
                    out["nextPageToken"] = str(start + st.page_size)
                return 200, out
            if method == "POST":
                sid = query.get("secretId", "")
                if not re.fullmatch(r"[a-zA-Z0-9_-]{1,255}", sid):
                    raise sm_error(400, "INVALID_ARGUMENT", "Secret id [%s] must match [a-zA-Z0-9_-]{1,255}" % sid)
                errs = sm_schema_errors("Secret", "secretmanager.projects.secrets.create", body)
                gce_validate._check_labels((body or {}).get("labels"), "labels", errs)
                if not (body or {}).get("replication"):
                    errs.append("replication: required")
                if errs:
                    raise sm_error(400, "INVALID_ARGUMENT", "Invalid Secret: " + "; ".join(errs))
                if sid in secrets:
                    raise sm_error(409, "ALREADY_EXISTS", "Secret [projects/4242/secrets/%s] already exists." % sid)
                secrets[sid] = dict(body, name="projects/4242/secrets/%s" % sid,
                                    createTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                    etag='"%s"' % st.next_id(), _versions=[])
                st.count("secret_create")
                return 200, public(secrets[sid])
        sec = secrets.get(sid)
        if sec is None:
            raise sm_error(404, "NOT_FOUND", "Secret [%s] not found or has no versions." % full)
        if add and method == "POST":
            errs = sm_schema_errors("AddSecretVersionRequest", "secretmanager.projects.secrets.addVersion", body)
            payload = (body or {}).get("payload") or {}
            data = payload.get("data")
            raw = b64_payload(data) if data else None
            if not data:
                errs.append("payload.data: required")
            elif raw is None:
                errs.append("payload.data (TYPE_BYTES): Base64 decoding failed")
            elif len(raw) > 65536:
                errs.append("payload.data: must be no larger than 64KiB")
            elif "dataCrc32c" in payload and str(payload["dataCrc32c"]) != str(crc32c(raw)):
                raise sm_error(400, "INVALID_ARGUMENT", "Data integrity check failed: dataCrc32c does not match the payload.")
            if errs:
                raise sm_error(400, "INVALID_ARGUMENT", "Invalid AddSecretVersionRequest: " + "; ".join(errs))
            n = len(sec["_versions"]) + 1
            v = {"name": "%s/versions/%d" % (full, n), "state": "ENABLED",
                 "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "_data": base64.b64encode(raw).decode(), "_crc": str(crc32c(raw))}
            sec["_versions"].append(v)
            st.count("secret_add_version")
            return 200, public(v)
        if method_id == "secretmanager.projects.secrets.versions.access":
            vs = sec["_versions"]
            if access == "latest":
                v = vs[-1] if vs else None
            elif re.fullmatch(r"[1-9][0-9]*", access):
                v = vs[int(access) - 1] if int(access) <= len(vs) else None
            else:
                raise sm_error(400, "INVALID_ARGUMENT", "Invalid resource field value in the request.")
            if v is None:
                raise sm_error(404, "NOT_FOUND", "Secret Version [%s/versions/%s] not found." % (full, access))
            if v["state"] != "ENABLED":
                raise sm_error(400, "FAILED_PRECONDITION", "%s is in %s state." % (v["name"], v["state"]))
            st.count("secret_access")
            out = {"name": v["name"], "payload": {"data": v["_data"], "dataCrc32c": v["_crc"]}}
            errs = sm_schema_errors("AccessSecretVersionResponse", method_id, out)
            if errs:  # the server's own answer must be the API's shape
                raise ApiError(500, "backendError", "; ".join(errs), "INTERNAL")
            return 200, out
        if versions and method == "GET":
            vs = [public(v) for v in reversed(sec["_versions"])]
            return 200, ({"versions": vs, "totalSize": len(vs)} if vs else {})
        if method == "GET":
            return 200, public(sec)
        if method == "DELETE":
            del secrets[sid]
            st.count("secret_delete")
            return 200, {}
        raise sm_error(404, "NOT_FOUND", "Method not found.")

    def advance(self) -> None:
        """Operations progress by themselves, as on the real API: PENDING for the first fifth
        of --op-seconds, then RUNNING, then DONE (the instance becomes RUNNING with it)."""
        now = time.time()
        for o in self.st.ops.values():
            if o["status"] == "DONE":
                continue
            age = now - o["_start"]
            if age < self.st.op_seconds / 5:
                continue
            if age < self.st.op_seconds:
                o["status"], o["progress"] = "RUNNING", 50
                continue
            o["status"], o["progress"] = "DONE", 100
            o["endTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())
            if "_error" in o:
                code, reason, msg = o["_error"]
                o["error"] = {"errors": [{"code": reason, "message": msg}]}
                o["httpErrorStatusCode"] = code
            elif "_then" in o:
                o.pop("_then")()

    def validate(self, kind: str, body) -> None:
        errs = gce_validate.validate(kind, body) if kind in gce_validate.KINDS else schema_errors(kind, body)
        if errs:
            raise invalid("Invalid value in the %s request body: %s" % (kind, "; ".join(errs)))

    def insert(self, scope, coll, prefix, items, body, query):
        st = self.st
        again = self.replay(query)
        if again:
            return again
        kind = {"instances": "Instance", "disks": "Disk", "firewalls": "Firewall"}[coll]
        if coll in st.denied:
            raise ApiError(403, "forbidden", "Required 'compute.%s.create' permission for 'projects/%s/%s/%s'"
                           % (coll, st.project, prefix, (body or {}).get("name", "")), "PERMISSION_DENIED")
        self.validate(kind, body)
        name = body.get("name")
        if not name:
            raise ApiError(400, "required", "Required field 'resource.name' not specified", "INVALID_ARGUMENT")
        path = "projects/%s/%s/%s" % (st.project, prefix, name)
        if name in items:
            raise ApiError(409, "alreadyExists", "The resource '%s' already exists" % path, "ALREADY_EXISTS")
        if kind == "Instance" and st.quota is not None and len(items) >= st.quota:
            # Refused when the operation runs: nothing is created or attached.
            st.count("quota_refused")
            return self.op(scope, "insert", "%s/%s" % (prefix, name), query,
                           error=(403, "QUOTA_EXCEEDED", "Quota 'INSTANCES' exceeded.  Limit: %d.0 in region %s." % (st.quota, scope.rsplit("-", 1)[0])))
        r = json.loads(json.dumps(body))
        r.update({"kind": "compute#%s" % kind[0].lower() + kind[1:], "id": st.next_id(),
                  "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime()),
                  "selfLink": full_url(st.project, "%s/%s" % (prefix, name))})
        if "labels" in r or kind != "Firewall":
            r.setdefault("labels", {})
            r["labelFingerprint"] = fingerprint(r["labels"])
        if kind == "Instance":
            for i, d in enumerate(r.get("disks", [])):
                src = d.get("source")
                if src:
                    dn = src.rsplit("/", 1)[1]
                    disk = st.res.get((scope, "disks"), {}).get(dn)
                    if disk is None:
                        raise not_found("projects/%s/zones/%s/disks/%s" % (st.project, scope, dn))
                    if disk.get("users"):
                        raise ApiError(400, "resourceInUseByAnotherResource",
                                       "The disk resource '%s' is already being used by '%s'"
                                       % (disk["selfLink"], disk["users"][0]), "INVALID_ARGUMENT")
                    d["source"] = full_url(st.project, src)
                else:
                    d["source"] = full_url(st.project, "zones/%s/disks/%s" % (scope, name if d.get("boot") else "%s-%d" % (name, i)))
                    d.pop("initializeParams", None)
                d.setdefault("mode", "READ_WRITE")
                d.setdefault("type", "PERSISTENT")
                d["index"] = i
                d["kind"] = "compute#attachedDisk"
            parts = r["machineType"].split("/")
            mt = parts[-1]
            if len(parts) < 2 or parts[-2] != "machineTypes" or parts[-4:-3] not in ([], ["zones"]) \
                    or (len(parts) >= 3 and parts[-3] != scope) or not any(t[0] == mt for t in MACHINE_TYPES):
                raise invalid("Invalid value for field 'resource.machineType': '%s'. Machine type with name '%s' does not exist in zone '%s'."
                              % (r["machineType"], mt, scope))
            r["machineType"] = full_url(st.project, r["machineType"])
            for n in r.get("networkInterfaces", []):
                n["network"] = full_url(st.project, n.get("network", "global/networks/default"))
                if "subnetwork" in n:
                    n["subnetwork"] = full_url(st.project, n["subnetwork"])
                n["networkIP"] = "10.128.0.%d" % (int(r["id"]) % 250 + 2)
                for a in n.get("accessConfigs", []):
                    a["kind"] = "compute#accessConfig"
                    a["natIP"] = "203.0.113.%d" % (int(r["id"]) % 250 + 2)
            md = r.setdefault("metadata", {})
            md.setdefault("items", [])
            md["kind"] = "compute#metadata"
            md["fingerprint"] = fingerprint(md["items"])
            if "tags" in r:
                r["tags"]["fingerprint"] = fingerprint(r["tags"].get("items", []))
            for sa in r.get("serviceAccounts", []):
                if sa.get("email") == "default":
                    sa["email"] = "4242-compute@developer.gserviceaccount.com"
            r["zone"] = full_url(st.project, "zones/" + scope)
            r["status"] = "PROVISIONING"
            for d in r.get("disks", []):
                if not d.get("boot") and d["source"].rsplit("/", 1)[1] in st.res.get((scope, "disks"), {}):
                    st.res[(scope, "disks")][d["source"].rsplit("/", 1)[1]].setdefault("users", []).append(r["selfLink"])
        elif kind == "Disk":
            r["type"] = full_url(st.project, r.get("type", "zones/%s/diskTypes/pd-standard" % scope))
            r["zone"] = full_url(st.project, "zones/" + scope)
            r["status"] = "READY"
        elif kind == "Firewall":
            r["network"] = full_url(st.project, r.get("network", "global/networks/default"))
            r.setdefault("direction", "INGRESS")
            r.setdefault("priority", 1000)
            r.setdefault("disabled", False)
        items[name] = r
        st.count("insert_" + coll)
        code, o = self.op(scope, "insert", "%s/%s" % (prefix, name), query)
        if kind == "Instance":
            st.log("insert", scope, name)
            md = {i.get("key"): i.get("value") for i in r["metadata"]["items"]}
            stalled = any(x in str(md.get("user-data", "")) for x in st.stall)

            def start():
                if r.get("status") != "PROVISIONING" or items.get(name) is not r:
                    return
                if stalled:  # the VM never boots: STAGING for ever
                    r["status"] = "STAGING"
                    return
                r["status"] = "RUNNING"
                st.guest.pop((scope, name), None)
                if st.guest_auto and str(md.get("enable-guest-attributes", "")).upper() == "TRUE":
                    st.guest[(scope, name)] = {"bridge/health": "healthy", "bridge/output": ""}
                st.log("running", scope, name)
            st.ops[(scope, o["name"])]["_then"] = start
        return code, o

    def delete(self, scope, coll, items, name, path, query):
        st = self.st
        again = self.replay(query)
        if again:
            return again
        r = items[name]
        if coll == "disks" and r.get("users"):
            raise ApiError(400, "resourceInUseByAnotherResource",
                           "The disk resource '%s' is already being used by '%s'" % (r["selfLink"], r["users"][0]),
                           "INVALID_ARGUMENT")
        del items[name]
        if coll == "instances":
            st.log("delete", scope, name)
            st.guest.pop((scope, name), None)
            for d in r.get("disks", []):
                dn = d["source"].rsplit("/", 1)[1]
                disk = st.res.get((scope, "disks"), {}).get(dn)
                if disk is not None and r["selfLink"] in disk.get("users", []):
                    disk["users"].remove(r["selfLink"])
                    if not disk["users"]:
                        del disk["users"]
        st.count("delete_" + coll)
        prefix = ("zones/%s/" % scope if scope != "global" else "global/") + coll
        return self.op(scope, "delete", "%s/%s" % (prefix, name), query)

    def set_metadata(self, scope, r, path, body, query):
        again = self.replay(query)
        if again:
            return again
        self.validate("Metadata", body)
        fp = body.get("fingerprint")
        if fp != r["metadata"]["fingerprint"]:
            raise ApiError(412, "conditionNotMet",
                           "Supplied fingerprint does not match current metadata fingerprint.",
                           "FAILED_PRECONDITION")
        keys = [i.get("key") for i in body.get("items", [])]
        if len(keys) != len(set(keys)):
            raise invalid("Invalid value for field 'metadata': duplicate keys")
        r["metadata"] = {"kind": "compute#metadata", "items": body.get("items", []),
                         "fingerprint": fingerprint(body.get("items", []))}
        self.st.count("setMetadata")
        self.st.log("setMetadata", scope, r["name"])
        return self.op(scope, "setMetadata", path.split("/", 2)[2], query)

    def resize(self, scope, r, path, body, query):
        again = self.replay(query)
        if again:
            return again
        self.validate("DisksResizeRequest", body)
        new = int(body.get("sizeGb") or 0)
        if new <= int(r.get("sizeGb") or 0):
            raise invalid("Invalid value for field 'sizeGb': '%s'. New disk size '%s' GiB must be larger than existing size '%s' GiB."
                          % (body.get("sizeGb"), body.get("sizeGb"), r.get("sizeGb")))
        r["sizeGb"] = str(new)
        self.st.count("resize")
        return self.op(scope, "resize", path.split("/", 2)[2], query)

    def set_labels(self, scope, r, path, body, query, req="InstancesSetLabelsRequest"):
        again = self.replay(query)
        if again:
            return again
        self.validate(req, body)
        gce_errs: list = []
        gce_validate._check_labels(body.get("labels"), "labels", gce_errs)
        if gce_errs:
            raise invalid("; ".join(gce_errs))
        if body.get("labelFingerprint") != r.get("labelFingerprint"):
            raise ApiError(412, "conditionNotMet",
                           "Labels fingerprint either invalid or resource labels have changed",
                           "FAILED_PRECONDITION")
        r["labels"] = body.get("labels", {})
        r["labelFingerprint"] = fingerprint(r["labels"])
        self.st.count("setLabels")
        return self.op(scope, "setLabels", path.split("/", 2)[2], query)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=True)
    ap.add_argument("--zones", required=True)
    ap.add_argument("--client-email", required=True)
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--token-ttl", type=float, default=3600)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--page-size", type=int, default=500,
                    help="list pages hold at most this many items (the API's maximum is 500)")
    ap.add_argument("--op-seconds", type=float, default=0.5,
                    help="how long an operation takes (PENDING, RUNNING, DONE)")
    args = ap.parse_args()
    Handler.st = State(args)
    gce_validate.json_schema("Instance")  # build the schema before saying we are ready
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
