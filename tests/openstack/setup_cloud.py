"""Create what the test cloud holds besides its services (tests/openstack/up.sh), with openstacksdk.

  setup_cloud.py identity   service users, the `demo` project and its member user, the catalog
  setup_cloud.py compute    the m1.* flavors, the test image in Glance

Idempotent: what exists is left as it is. Passwords come from the environment up.sh sets.
"""
import os
import sys

import openstack

AUTH = "http://127.0.0.1:5000/v3"
SERVICES = [
    # name, type, url
    ("heat", "orchestration", "http://127.0.0.1:8004/v1/%(tenant_id)s"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("glance", "image", "http://127.0.0.1:9292"),
]
FLAVORS = [("m1.small", 1, 2048, 20), ("m1.medium", 2, 4096, 40), ("m1.large", 4, 8192, 80),
           ("m1.xlarge", 8, 16384, 160)]


def admin():
    return openstack.connect(
        auth_url=AUTH, username="admin", password=os.environ["BRIDGE_OS_ADMIN_PASSWORD"],
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne", identity_api_version="3")


def identity(c):
    idn = c.identity
    service = idn.find_project("service", domain_id="default") or idn.create_project(
        name="service", domain_id="default")
    demo = idn.find_project("demo", domain_id="default") or idn.create_project(
        name="demo", domain_id="default")
    admin_role = idn.find_role("admin")
    member = idn.find_role("member")
    spw = os.environ["BRIDGE_OS_SERVICE_PASSWORD"]
    for name, _, _ in SERVICES:
        u = idn.find_user(name, domain_id="default") or idn.create_user(
            name=name, password=spw, domain_id="default")
        idn.assign_project_role_to_user(service, u, admin_role)
    u = idn.find_user("demo", domain_id="default") or idn.create_user(
        name="demo", password=os.environ["BRIDGE_OS_DEMO_PASSWORD"], domain_id="default")
    idn.assign_project_role_to_user(demo, u, member)
    for name, typ, url in SERVICES:
        svc = next(iter(idn.services(type=typ)), None) or idn.create_service(name=name, type=typ)
        have = {e.interface for e in idn.endpoints(service_id=svc.id)}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                idn.create_endpoint(service_id=svc.id, interface=iface, url=url,
                                    region_id="RegionOne")


def compute(c):
    for name, vcpus, ram, disk in FLAVORS:
        if not c.compute.find_flavor(name):
            c.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    image = os.environ["BRIDGE_OS_IMAGE"]
    if not c.image.find_image(image):
        c.create_image(image, filename=os.environ["BRIDGE_OS_IMAGE_FILE"], disk_format="raw",
                       container_format="bare", visibility="public", wait=True)


if __name__ == "__main__":
    {"identity": identity, "compute": compute}[sys.argv[1]](admin())
