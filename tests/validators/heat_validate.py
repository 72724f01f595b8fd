#!/usr/bin/env python3
"""Validate OpenStack Heat (HOT) templates offline with the real Heat engine.

Usage:
    heat_validate.py [--param K=V]... [--fill-required] [--env FILE]...
                     [--file REF=PATH]... [--template-only] FILE...

What runs is Heat's own code (PyPI ``openstack-heat``), the same path a
``openstack stack create`` takes inside heat-engine before anything is
created (``EngineService._parse_template_and_validate_stack``):

1. the client side of ``openstack stack create`` (python-heatclient's
   ``resolve_template_get_files``): ``get_file`` and nested template
   resource types (``type: foo.yaml``) are read relative to the template's
   folder into the ``files`` map, and ``--env`` files are processed;
2. ``heat.common.template_format.parse`` parses the text;
3. ``Template(tpl, files)`` + ``env_util.merge_environments`` + ``Environment``;
4. ``Template.validate()`` and the ``max_resources_per_stack`` limit
   (``EngineService._validate_template``);
5. the resource-type policy check (``resource_enforcer.enforce_stack``) with
   Heat's built-in default policies and a non-admin context;
6. ``Stack(..., strict_validate=True).validate()``: template sections,
   parameters and their constraints, parameter groups, conditions, every
   resource's properties (unknown, missing required, types, constraints,
   nested property schemas), each resource plugin's own ``validate()`` (for
   example OS::Nova::Server's block-device and network rules), nested
   template resources, and outputs.

``--template-only`` instead runs what ``openstack orchestration template
validate`` runs (``EngineService.validate_template``: non-strict, resource
``validate_template()`` only), which checks much less (property values and
required properties are not checked); it exists for comparison.

Nothing here talks to a cloud, a database or a message bus. The patches
below replace exactly the steps that need a live cloud (see PATCHES).

Parameters: a parameter without a default must be given with ``--param``
(Heat's own rule, error "The Parameter (x) was not provided"), unless
``--fill-required`` is set: then each missing one gets a dummy value of its
type that satisfies its own constraints (checked with Heat's own parameter
validation), and property values that come from such a dummy are treated as
unknown, the way Heat already treats values that come from resources that do
not exist yet: their type is converted and checked, their constraints are not.
Hidden parameters are allowed like any other.

Output: ``FILE: path.to.field: message`` for each violation (Heat stops at
its first error, so at most one per file); exit 1 if any, 0 if all are
clean, 2 on usage errors. Importable: ``validate(path, ...) -> list[str]``.
"""

from __future__ import annotations

import argparse
import warnings
import logging
import os
import sys
import tempfile
import urllib.parse
import urllib.request

_READY = False
_DUMMY_PARAMS: set[str] = set()


class LiveCloudRequired(Exception):
    """Raised when Heat code tries to build an OpenStack API client.

    Every live lookup that validation needs is patched out below; if some
    plugin still asks for a client, the template uses a feature whose
    validation needs a cloud that this validator does not stub, and the
    message says which client was asked for (instead of a confusing
    "Authorization failed").
    """


# Each patch: (what, why it needs a live cloud).
PATCHES = [
    ("heat.engine.resource.Resource.is_service_available -> (True, None)",
     "asks Keystone's service catalog whether the service (nova, neutron, "
     "zun, ...) that implements the resource type has an endpoint in this "
     "cloud; offline every type Heat knows is taken as available"),
    ("heat.engine.constraints.BaseCustomConstraint.validate -> True, only for "
     "the constraints that inherit it (nova.flavor, nova.keypair, "
     "glance.image, neutron.network, neutron.port, cinder.volume, ...)",
     "those look the value up with the service's API (does this flavor / "
     "image / network exist?). The offline custom constraints (ip_addr, "
     "net_cidr, mac_addr, dns_name, iso_8601, cron_expression, timezone, "
     "json_string, expiration, ...) override validate() and still run"),
    ("heat.engine.resources.openstack.nova.server.Server."
     "_validate_image_flavor -> no-op",
     "fetches the image from Glance and the flavor from Nova to compare "
     "image status, min_ram and min_disk with the flavor"),
    ("heat.engine.clients.os.nova.NovaClientPlugin.get_max_microversion -> "
     "the newest microversion this novaclient knows; "
     "NovaClientPlugin.is_version_supported follows from it",
     "asks the live Nova API for its maximum microversion; used by "
     "OS::Nova::Server validation (tags, network 'none'/'auto', ...), so "
     "offline every microversion-gated feature is allowed"),
    ("heat.engine.clients.os.nova.NovaClientPlugin.absolute_limits -> Nova's "
     "default quotas (maxServerMeta 128, maxPersonality 5, "
     "maxPersonalitySize 10240)",
     "asks the live Nova API for this project's limits; used by "
     "OS::Nova::Server validation to bound metadata and personality"),
    ("heat.common.context.RequestContext.auth_plugin -> raise "
     "LiveCloudRequired",
     "guard, not a stub: every OpenStack API client is built on a Keystone "
     "session; a template whose validation still needs one fails with a "
     "message naming the client instead of 'Authorization failed'"),
]


def _setup() -> None:
    """Configure oslo.config in-process, load Heat's plugins, apply PATCHES."""
    global _READY
    if _READY:
        return
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL if not os.environ.get("HEAT_VALIDATE_DEBUG") else logging.NOTSET)  # Heat logs a lot at import; stdout stays ours

    from oslo_config import cfg

    from heat.common import config as heat_config  # noqa: F401  registers options

    tmp = tempfile.mkdtemp(prefix="heat-validate-")
    # No config files: Heat's option defaults, plus paths that point at an
    # empty temp dir so nothing is read from /etc/heat or plugin dirs.
    cfg.CONF([], project="heat", default_config_files=[], default_config_dirs=[])
    cfg.CONF.set_override("environment_dir", tmp)
    cfg.CONF.set_override("plugin_dirs", [])
    cfg.CONF.set_override("template_dir", tmp)

    # No message bus: oslo.messaging's in-memory "fake" driver (what Heat's
    # own unit tests use). Group resources build an RPC client object while
    # validating (GroupInspector), but a stack that does not exist yet sends
    # nothing over it.
    from heat.common import messaging

    messaging.setup("fake://", optional=True)

    from heat.engine import resources

    resources.initialise()

    from heat.common import context as hcontext
    from heat.engine import constraints, properties, resource
    from heat.engine.clients import client_plugin
    from heat.engine.clients.os import nova
    from heat.engine.resources.openstack.nova import server

    resource.Resource.is_service_available = classmethod(lambda cls, context: (True, None))
    constraints.BaseCustomConstraint.validate = lambda self, value, context: True
    server.Server._validate_image_flavor = lambda self, image, flavor: None

    import novaclient

    max_mv = novaclient.API_MAX_VERSION.get_string()
    nova.NovaClientPlugin.get_max_microversion = lambda self: max_mv

    nova.NovaClientPlugin.absolute_limits = lambda self: {
        "maxServerMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240}

    def _no_auth(self):
        who = "an OpenStack"
        frame = sys._getframe(1)
        while frame is not None:
            me = frame.f_locals.get("self")
            if isinstance(me, client_plugin.ClientPlugin):
                who = "the %r" % ((me.service_types or [type(me).__name__])[0],)
                break
            frame = frame.f_back
        raise LiveCloudRequired("needs a live cloud: validation asked for %s API client" % who)

    hcontext.RequestContext.auth_plugin = property(_no_auth)

    # --fill-required: values derived from dummy parameters are "not known
    # yet", like values derived from resources that do not exist yet.
    orig_find = properties.Properties._find_deps_any_in_init

    def _find_deps(self, unresolved_value):
        if orig_find(self, unresolved_value):
            return True
        return bool(_DUMMY_PARAMS) and _refs_dummy(unresolved_value)

    properties.Properties._find_deps_any_in_init = _find_deps
    _READY = True


def _refs_dummy(value) -> bool:
    """Whether an unresolved property value uses get_param on a dummy parameter."""
    from heat.engine import function
    from heat.engine.cfn import functions as cfn_functions
    from heat.engine.hot import functions as hot_functions

    if isinstance(value, (hot_functions.GetParam, cfn_functions.ParamRef)):
        args = value.args
        name = args[0] if isinstance(args, list) and args else args
        if isinstance(name, str) and name in _DUMMY_PARAMS:
            return True
        return _refs_dummy(args)
    if isinstance(value, function.Function):
        return _refs_dummy(value.args)
    if isinstance(value, dict):
        return any(_refs_dummy(k) or _refs_dummy(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_refs_dummy(v) for v in value)
    return False


def _dummy_candidates(name: str, schema) -> list:
    """Values to try for a parameter without a value, most plausible first.

    Resource plugins' own validate() sometimes parse a string property
    (OS::Neutron::Subnet checks gateway_ip is an address), so the name of the
    parameter picks the first string candidate: *cidr* gets a CIDR, *ip*,
    *gateway*, *address*, *pool_start/end* get an address. --param wins.
    """
    from heat.engine import constraints as c

    lname = name.lower()

    t = schema.type
    if t == "number":
        cands = ["1", "0", "10", "100", "1000", "50000", "65535"]
        for con in schema.constraints:
            if isinstance(con, c.Range):
                lo, hi = con.min, con.max
                for v in (lo, hi):
                    if v is not None:
                        cands.insert(0, str(v))
                if lo is not None and hi is not None:
                    cands.insert(0, str((lo + hi) // 2 if isinstance(lo, int) else (lo + hi) / 2))
            if isinstance(con, c.AllowedValues):
                cands = [str(v) for v in con.allowed] + cands
        return cands
    if t == "boolean":
        return ["true", "false"]
    if t == "json":
        return ["{}", '{"a": "b"}']
    if t == "comma_delimited_list":
        base = ["dummy"]
    else:
        base = ["dummy", "Dummy123", "dummy-1", "10.0.0.0/24", "10.0.0.1"]
        if "cidr" in lname:
            base.insert(0, "10.0.0.0/24")
        elif any(w in lname for w in ("ip", "gateway", "address", "pool_start", "pool_end")):
            base.insert(0, "10.0.0.1")
    extra = []
    for con in schema.constraints:
        if isinstance(con, c.AllowedValues):
            extra += [str(v) for v in con.allowed]
        if isinstance(con, c.Length):
            n = con.min or 1
            extra += ["D" + "1" * max(n - 1, 0), "D" + "a" * max(n - 1, 0), "d" * n]
    return extra + base


def _fill_params(tmpl, given: dict) -> dict:
    """Dummy values for parameters that have neither a default nor a value."""
    from heat.engine import parameters as hparams

    out = {}
    for name, schema in tmpl.param_schemata().items():
        if name in given or schema.default is not None:
            continue
        for cand in _dummy_candidates(name, schema):
            try:
                p = hparams.Parameter(name, schema, cand)
                p.validate(validate_value=True, context=None)
            except Exception:
                continue
            out[name] = cand
            break
        else:
            raise ValueError(
                "parameters.%s: cannot invent a value that satisfies its "
                "constraints; pass --param %s=VALUE" % (name, name))
    return out


def _load(path: str, env_files: list[str], file_overrides: dict[str, str]):
    """What python-heatclient does before sending a stack-create request."""
    from heatclient.common import template_utils

    from heat.common import template_format

    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    tpl = template_format.parse(text)
    base_url = urllib.parse.urljoin("file:", urllib.request.pathname2url(os.path.abspath(path)))
    base_dir = base_url.rsplit("/", 1)[0] + "/"
    overrides = {urllib.parse.urljoin(base_dir, ref): p for ref, p in file_overrides.items()}

    def fetch(method, url):
        local = overrides.get(url)
        if local is None:
            if not url.startswith("file:"):
                raise LiveCloudRequired("%s is not a local file; only local files can be read offline" % url)
            local = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
        try:
            with open(local, "rb") as fh:
                data = fh.read()
            try:  # as heatclient.common.utils.read_url_content does
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return data
        except OSError as e:
            raise FileNotFoundError(
                "cannot read %r referenced by the template (%s); give it with --file REF=PATH"
                % (urllib.parse.unquote(url[len(base_dir):] if url.startswith(base_dir) else url),
                   e.strerror)) from None

    files: dict = {}
    template_utils.resolve_template_get_files(tpl, files, base_dir, is_object=True, object_request=fetch)
    env: dict = {}
    env_names = None
    if env_files:
        env_files_map, env = template_utils.process_multiple_environments_and_files(env_paths=env_files)
        files.update(env_files_map)
    return tpl, files, env, env_names


def _msg(ex) -> tuple[str, str]:
    from heat.common import exception

    if isinstance(ex, exception.HeatExceptionWithPath) and ex.path:
        path = ".".join(str(p) for p in ex.path)
        msg = ex.error_message
        if ex.error and ex.error not in ("Property error",) and ex.error not in msg:
            msg = "%s: %s" % (ex.error, msg)
        return path, msg
    if isinstance(ex, exception.HeatExceptionWithPath):
        return "template", ex.error_message or str(ex)
    return "template", str(ex)


def validate(path: str, params: dict | None = None, fill_required: bool = False,
             env_files: list[str] | None = None, file_overrides: dict[str, str] | None = None,
             template_only: bool = False) -> list[str]:
    """Validate one template file; return ``["path: message", ...]`` (empty if valid)."""
    _setup()
    from oslo_config import cfg

    from heat.common import context as hcontext
    from heat.common import exception
    from heat.common import policy
    from heat.engine import environment, template as templatem
    from heat.engine import stack as parser
    from heat.common import environment_util as env_util

    _DUMMY_PARAMS.clear()
    try:
        tpl, files, env, env_names = _load(path, env_files or [], file_overrides or {})
        tmpl = templatem.Template(tpl, files=files)
        declared = set(tmpl.param_schemata())
        user_params = {k: v for k, v in (params or {}).items() if k in declared}
        env.setdefault("parameters", {})
        env["parameters"].update(user_params)
        if fill_required:
            dummies = _fill_params(tmpl, env["parameters"])
            _DUMMY_PARAMS.update(dummies)
            env["parameters"].update(dummies)
        env_util.merge_environments(env_names, files, env, tmpl.all_param_schemata(files))
        tmpl.env = environment.Environment(env)
        ctx = hcontext.RequestContext(user_id="validator", project_id="validator",
                                      is_admin=False, roles=["member"])
        # EngineService._validate_template
        tmpl.validate()
        max_resources = cfg.CONF.max_resources_per_stack
        if max_resources != -1 and len(tmpl[tmpl.RESOURCES]) > max_resources:
            raise exception.RequestLimitExceeded(message=exception.StackResourceLimitExceeded.msg_fmt)
        if template_only:
            stack = parser.Stack(ctx, "validate", tmpl, strict_validate=False)
            stack.validate(validate_res_tmpl_only=True)
        else:
            stack = parser.Stack(ctx, "validate", tmpl, strict_validate=True)
            policy.ResourceEnforcer().enforce_stack(stack, is_registered_policy=True)
            stack.validate()
    except Exception as ex:  # every error is a finding; Heat raises many kinds
        if os.environ.get("HEAT_VALIDATE_DEBUG"):
            import traceback

            traceback.print_exc()
        p, m = _msg(ex)
        return ["%s: %s" % (p, m)]
    finally:
        _DUMMY_PARAMS.clear()
    return []


def _kv(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise argparse.ArgumentTypeError("expected K=V, got %r" % s)
    k, v = s.split("=", 1)
    return k, v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--param", "-P", action="append", type=_kv, default=[],
                    help="parameter value K=V (applies to templates that declare K)")
    ap.add_argument("--fill-required", action="store_true",
                    help="give parameters without value or default a dummy value of their type")
    ap.add_argument("--env", "-e", action="append", default=[], help="environment file")
    ap.add_argument("--file", action="append", type=_kv, default=[],
                    help="serve get_file / nested template REF (as written in the template) from PATH")
    ap.add_argument("--template-only", action="store_true",
                    help="only what 'openstack orchestration template validate' checks")
    ap.add_argument("--list-patches", action="store_true", help="print the live-cloud stubs and exit")
    ap.add_argument("files", nargs="*", metavar="FILE")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.list_patches:
        for what, why in PATCHES:
            print("- %s\n    %s" % (what, why))
        return 0
    if not args.files:
        ap.print_usage(sys.stderr)
        print("heat_validate.py: error: no FILE given", file=sys.stderr)
        return 2
    params = dict(args.param)
    overrides = dict(args.file)
    bad = False
    for f in args.files:
        for line in validate(f, params, args.fill_required, args.env, overrides, args.template_only):
            print("%s: %s" % (f, line))
            bad = True
    sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
