"""Create what the test cloud holds besides its services (tests/openstack/up.sh), with openstacksdk.

  setup_cloud.py identity   service users, the `demo` project and its member user, the catalog
  setup_cloud.py compute    the m1.* flavors, the test image in Glance
  setup_cloud.py network    the `private` network (shared, the one Nova picks for a server
                            given no network), the external `public` network (floating IPs) and
                            the router `bridge-router` between them

The subnets use documentation ranges (RFC 5737): nothing is ever sent to them (the fake virt
driver runs no VM), they are addresses in Neutron's database only.

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
    ("neutron", "network", "http://127.0.0.1:9696"),
]
PRIVATE = ("private", "private-subnet", "198.51.100.0/24")
PUBLIC = ("public", "public-subnet", "203.0.113.0/24")
ROUTER = "bridge-router"
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
    # The service users also hold `service`: neutron's policy lets only a service token with it
    # change or delete a server's port, and Nova sends one.
    service_role = idn.find_role("service") or idn.create_role(name="service")
    spw = os.environ["BRIDGE_OS_SERVICE_PASSWORD"]
    for name, _, _ in SERVICES:
        u = idn.find_user(name, domain_id="default") or idn.create_user(
            name=name, password=spw, domain_id="default")
        idn.assign_project_role_to_user(service, u, admin_role)
        idn.assign_project_role_to_user(service, u, service_role)
    # Heat's stack user domain (heat.conf stack_user_domain_name) and its admin: wait condition
    # handles get a user there and its token, for members as for admins.
    heat_domain = idn.find_domain("heat") or idn.create_domain(name="heat")
    hda = idn.find_user("heat_domain_admin", domain_id=heat_domain.id) or idn.create_user(
        name="heat_domain_admin", password=spw, domain_id=heat_domain.id)
    idn.assign_domain_role_to_user(heat_domain, hda, admin_role)
    if not idn.find_role("heat_stack_user"):
        idn.create_role(name="heat_stack_user")
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


def network(c):
    net = c.network
    name, sname, cidr = PUBLIC
    public = net.find_network(name) or net.create_network(
        name=name, is_router_external=True, provider_network_type="flat",
        provider_physical_network="public")
    if not net.find_subnet(sname):
        net.create_subnet(name=sname, network_id=public.id, ip_version=4, cidr=cidr,
                          is_dhcp_enabled=False)
    name, sname, cidr = PRIVATE
    private = net.find_network(name) or net.create_network(name=name, is_shared=True)
    subnet = net.find_subnet(sname) or net.create_subnet(
        name=sname, network_id=private.id, ip_version=4, cidr=cidr, is_dhcp_enabled=True)
    router = net.find_router(ROUTER)
    if router is None:
        router = net.create_router(name=ROUTER, external_gateway_info={"network_id": public.id})
        net.add_interface_to_router(router, subnet_id=subnet.id)


if __name__ == "__main__":
    {"identity": identity, "compute": compute, "network": network}[sys.argv[1]](admin())
