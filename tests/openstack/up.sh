#!/usr/bin/env bash
# Bring up a real OpenStack on 127.0.0.1 for the OpenStack driver's tests: MariaDB and RabbitMQ
# (Debian packages), Keystone, Heat, Placement, Glance, Nova with the fake virt driver and Neutron
# (PyPI, pinned by tests/openstack/constraints.txt, in their own venv). Neutron is the real
# neutron API (ML2, type drivers flat and vxlan, the `test` mechanism driver neutron ships, the
# router service plugin, no agents): ports bind, servers get fixed IPs, floating IPs exist, Heat
# offers OS::Neutron::*. setup_cloud.py creates the `private` network (shared) and the external
# `public` one with a router between them. Facts and pitfalls: ../shared/peers/openstack.md.
#
#   tests/openstack/up.sh      # prints the path of the clouds.yaml it wrote, on the last line
#   tests/openstack/down.sh    # stops exactly the processes this script started
#
# Idempotent: a cloud this script started (every pid in its state dir alive, Keystone answering)
# is reused as it is. Otherwise whatever it had started is stopped and the cloud is built anew
# (about a minute after the first venv build). Unattended: apt (with services kept from
# auto-starting), pip into the venv, no questions. Fails loudly, naming the step and its log.
#
# Environment: BRIDGE_OS_STATE (default $HOME/.cache/bridge-openstack: pids, logs, configs,
# data), BRIDGE_OS_VENV (default $HOME/.cache/bridge-openstack-venv).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${BRIDGE_OS_STATE:-$HOME/.cache/bridge-openstack}"
venv="${BRIDGE_OS_VENV:-$HOME/.cache/bridge-openstack-venv}"
pids="$state/pids"
logs="$state/logs"
etc="$state/etc"
clouds="$state/clouds.yaml"
# One bring-up at a time: two test runs (or helpers) starting the cloud at once would each stop
# what the other started. The second waits here, then finds the cloud up and reuses it.
mkdir -p "$state"
exec 9>"$state/up.lock"
flock 9
uv_version="0.13.9"
# Test-only credentials of a throwaway cloud on the loopback interface.
export BRIDGE_OS_ADMIN_PASSWORD="bridge-admin-pw"
export BRIDGE_OS_DEMO_PASSWORD="bridge-demo-pw"
export BRIDGE_OS_SERVICE_PASSWORD="bridge-service-pw"
export BRIDGE_OS_IMAGE="bridge-test-image"
db_pw="bridge-db-pw"
# Short-lived tokens, so the driver's renewal is exercised by the tests.
token_seconds="${BRIDGE_OS_TOKEN_SECONDS:-180}"
compute_host="host-ovs-filter-active"
ports=(3306 4369 5672 25672 5000 8004 8774 8778 9292 9696)

t0=$(date +%s)
log() { echo "openstack-up: [$(($(date +%s) - t0))s] $*" >&2; }
die() { log "error: $*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
    local i
    for ((i = 0; i < $3 * 2; i++)); do
        port_open "$2" && return 0
        alive "$pids/$1.pid" || die "$1 exited while starting; see $logs/$1.log"
        sleep 0.5
    done
    die "$1 did not listen on 127.0.0.1:$2 within $3 s; see $logs/$1.log"
}

start() { # name command...  (own session, pid recorded)
    local name="$1"
    shift
    setsid nohup "$@" >"$logs/$name.log" 2>&1 </dev/null 9>&- &   # 9: up.sh's lock, not inherited
    echo $! >"$pids/$name.pid"
}

write_clouds() {
    cat >"$clouds" <<EOF
# written by tests/openstack/up.sh: the test cloud on 127.0.0.1
clouds:
  bridge-admin:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: $BRIDGE_OS_ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
  bridge-demo:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: demo
      password: $BRIDGE_OS_DEMO_PASSWORD
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
}

# -- reuse a running cloud --------------------------------------------------------------------
if [ -f "$state/up.ok" ] && [ -d "$pids" ]; then
    ok=1
    for p in "$pids"/*.pid; do alive "$p" || ok=0; done
    if [ "$ok" = 1 ] && curl -fsS -o /dev/null http://127.0.0.1:5000/v3; then
        write_clouds
        log "reusing the running cloud (pids in $pids)"
        echo "$clouds"
        exit 0
    fi
fi
"$here/down.sh" >&2 || true
start_time=$(date +%s)
for p in "${ports[@]}"; do
    port_open "$p" && die "port 127.0.0.1:$p is taken by a process this script did not start: stop it (ss -ltnp 'sport = :$p')"
done

# -- packages ---------------------------------------------------------------------------------
if ! command -v mariadbd >/dev/null || ! [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    log "installing mariadb and rabbitmq (Debian), services kept from auto-starting"
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if ! [ -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        rabbitmq-server mariadb-server-core mariadb-client-core >&2 || { [ "$made_policy" = 0 ] || rm -f "$policy"; die "apt-get install failed"; }
    [ "$made_policy" = 0 ] || rm -f "$policy"
fi
stamp="$venv/.bridge-constraints-hash"
hash="$( { cat "$here/constraints.txt"; echo "uv $uv_version"; } | sha256sum | cut -d' ' -f1)"
if ! [ -x "$venv/bin/keystone-manage" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "building the venv $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet "uv==$uv_version" >&2
    "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -c "$here/constraints.txt" \
        keystone openstack-heat nova openstack-placement glance neutron gunicorn PyMySQL \
        oslo.messaging python-openstackclient >&2
    echo "$hash" >"$stamp"
fi
bin="$venv/bin"

# -- state dir --------------------------------------------------------------------------------
rm -rf "$state"
mkdir -p "$pids" "$logs" "$etc" "$state/data/nova" "$state/data/images"
cp "$here/wsgi_launch.py" "$state/"

# -- MariaDB ----------------------------------------------------------------------------------
log "mariadb"
mariadb-install-db --no-defaults --datadir="$state/data/mysql" --user=root \
    --auth-root-authentication-method=normal >"$logs/mariadb-install.log" 2>&1 \
    || die "mariadb-install-db failed; see $logs/mariadb-install.log"
start mariadb mariadbd --no-defaults --datadir="$state/data/mysql" --user=root \
    --bind-address=127.0.0.1 --port=3306 --socket="$state/mysql.sock" --skip-name-resolve \
    --max-connections=500 --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 \
    --pid-file="$state/mariadb.pid"
wait_port mariadb 3306 60
sql=""
for d in keystone heat nova_api nova nova_cell0 placement glance neutron; do
    sql+="CREATE DATABASE IF NOT EXISTS $d; "
done
sql+="CREATE USER IF NOT EXISTS 'bridge'@'127.0.0.1' IDENTIFIED BY '$db_pw'; GRANT ALL ON *.* TO 'bridge'@'127.0.0.1'; FLUSH PRIVILEGES;"
mariadb --no-defaults --socket="$state/mysql.sock" -uroot -e "$sql"
dburl() { echo "mysql+pymysql://bridge:$db_pw@127.0.0.1:3306/$1?charset=utf8"; }

# -- RabbitMQ ---------------------------------------------------------------------------------
log "rabbitmq"
mkdir -p "$state/rabbit/home"
start epmd env HOME="$state/rabbit/home" epmd -address 127.0.0.1 -port 4369
wait_port epmd 4369 20
start rabbitmq env HOME="$state/rabbit/home" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME=bridge@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 \
    RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$state/rabbit/mnesia" \
    RABBITMQ_LOG_BASE="$state/rabbit/log" RABBITMQ_CONFIG_FILE="$state/rabbit/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$state/rabbit/enabled_plugins" \
    RABBITMQ_SERVER_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
transport="rabbit://guest:guest@127.0.0.1:5672/"

# -- configs ----------------------------------------------------------------------------------
authtoken() { # section body for keystonemiddleware / keystoneauth, user $1
    cat <<EOF
auth_type = password
auth_url = http://127.0.0.1:5000/v3
www_authenticate_uri = http://127.0.0.1:5000/v3
username = $1
password = $BRIDGE_OS_SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
memcached_servers =
service_token_roles_required = true
# Validate every token (no cache), so a revoked token is refused at once (tested).
token_cache_time = -1
EOF
}
svcauth() { # keystoneauth section for clients, user $1
    cat <<EOF
auth_type = password
auth_url = http://127.0.0.1:5000/v3
username = $1
password = $BRIDGE_OS_SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}
mkdir -p "$etc/keystone" "$etc/heat" "$etc/nova" "$etc/placement" "$etc/glance" "$etc/neutron"
cat >"$etc/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $logs/keystone-app.log
[database]
connection = $(dburl keystone)
[identity]
password_hash_rounds = 4
[token]
provider = fernet
expiration = $token_seconds
[fernet_tokens]
key_repository = $state/data/fernet-keys
[fernet_receipts]
key_repository = $state/data/fernet-keys
[credential]
key_repository = $state/data/credential-keys
# Every service validates every token with Keystone (token_cache_time = -1 below), which made
# Keystone the busiest process of the test cloud (about 40% of a core through the tests): its
# own in-process cache answers repeated validations, and Keystone invalidates it when a token is
# revoked, so a revoked token is still refused at once.
[cache]
enabled = true
backend = dogpile.cache.memory
EOF
cat >"$etc/heat/heat.conf" <<EOF
[DEFAULT]
transport_url = $transport
auth_encryption_key = bridge-test-auth-encryption-32ch
num_engine_workers = 1
heat_metadata_server_url = http://127.0.0.1:8000
heat_waitcondition_server_url = http://127.0.0.1:8000/v1/waitcondition
reauthentication_auth_method = trusts
# Wait condition handles (bridge's health gating) get a stack domain user and its token.
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $BRIDGE_OS_SERVICE_PASSWORD
log_file = $logs/heat-app.log
max_stacks_per_tenant = 1000
[database]
connection = $(dburl heat)
[keystone_authtoken]
$(authtoken heat)
[trustee]
$(svcauth heat | grep -v '^project_name\|^project_domain_name\|^region_name')
[clients_keystone]
auth_uri = http://127.0.0.1:5000
[clients]
endpoint_type = public
[oslo_concurrency]
lock_path = $state/data/heat-locks
[paste_deploy]
api_paste_config = $venv/etc/heat/api-paste.ini
[heat_api]
bind_host = 127.0.0.1
bind_port = 8004
EOF
cat >"$etc/placement/placement.conf" <<EOF
[DEFAULT]
log_file = $logs/placement-app.log
[api]
auth_strategy = keystone
[keystone_authtoken]
$(authtoken placement)
[placement_database]
connection = $(dburl placement)
EOF
cat >"$etc/glance/glance-api.conf" <<EOF
[DEFAULT]
log_file = $logs/glance-app.log
enabled_backends = file:file
[database]
connection = $(dburl glance)
[keystone_authtoken]
$(authtoken glance)
[paste_deploy]
flavor = keystone
config_file = $venv/etc/glance/glance-api-paste.ini
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $state/data/images
[os_glance_staging_store]
filesystem_store_datadir = $state/data/glance-staging
[os_glance_tasks_store]
filesystem_store_datadir = $state/data/glance-tasks
[oslo_concurrency]
lock_path = $state/data/glance-locks
EOF
cat >"$etc/nova/nova.conf" <<EOF
[DEFAULT]
transport_url = $transport
compute_driver = fake.FakeDriverWithoutFakeNodes
concurrency_backend = threading
enabled_apis = osapi_compute
state_path = $state/data/nova
# The name neutron's \`test\` mechanism driver binds ports on (VIF type ovs, port ACTIVE at once):
# it binds by host name only, there is no agent.
host = $compute_host
log_dir = $logs
# The fake virt driver plugs nothing, and no agent would report a VIF plugged: do not wait.
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
[api]
auth_strategy = keystone
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
[keystone_authtoken]
$(authtoken nova)
[placement]
$(svcauth placement)
[neutron]
$(svcauth nova)
valid_interfaces = public
[glance]
$(svcauth nova)
[service_user]
# Neutron lets a port of a server (device_owner compute:*) be changed or deleted only by a
# request that carries a service token with the \`service\` role: Nova sends its own.
send_service_user_token = true
$(svcauth nova)
[scheduler]
discover_hosts_in_cells_interval = 5
[quota]
instances = -1
cores = -1
ram = -1
[oslo_concurrency]
lock_path = $state/data/nova-locks
[wsgi]
api_paste_config = $venv/etc/nova/api-paste.ini
[vnc]
enabled = false
[oslo_policy]
enforce_new_defaults = true
EOF

wsgi() { # name port module argv...
    local name="$1" port="$2" module="$3"
    shift 3
    start "$name" env BRIDGE_OS_WSGI="$module" BRIDGE_OS_ARGV="$*" PYTHONPATH="$state" \
        "${svc_env[@]}" "$bin/gunicorn" --no-control-socket -b "127.0.0.1:$port" -w 1 \
        --threads 8 --timeout 300 wsgi_launch:application
}

cat >"$etc/neutron/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = $transport
state_path = $state/data/neutron
log_file = $logs/neutron-app.log
api_paste_config = $venv/etc/neutron/api-paste.ini
# Port status and data changes go to Nova as external events (the floating IP in a server's
# addresses comes that way).
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
[database]
connection = $(dburl neutron)
[keystone_authtoken]
$(authtoken neutron)
[nova]
$(svcauth neutron)
[oslo_concurrency]
lock_path = $state/data/neutron-locks
EOF
cat >"$etc/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
# neutron's own test driver (an entry point of the neutron wheel): binds a port by the name of
# its host, with no agent; Nova's compute host is named to match.
mechanism_drivers = test
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1:1000
[securitygroup]
enable_security_group = true
EOF

# -- Keystone ---------------------------------------------------------------------------------
log "keystone"
export OS_KEYSTONE_CONFIG_FILES="$etc/keystone/keystone.conf"
kconf=(--config-file "$etc/keystone/keystone.conf")
"$bin/keystone-manage" "${kconf[@]}" db_sync >"$logs/keystone-manage.log" 2>&1 || die "keystone db_sync; see $logs/keystone-manage.log"
"$bin/keystone-manage" "${kconf[@]}" fernet_setup --keystone-user root --keystone-group root >>"$logs/keystone-manage.log" 2>&1
"$bin/keystone-manage" "${kconf[@]}" credential_setup --keystone-user root --keystone-group root >>"$logs/keystone-manage.log" 2>&1
"$bin/keystone-manage" "${kconf[@]}" bootstrap --bootstrap-password "$BRIDGE_OS_ADMIN_PASSWORD" \
    --bootstrap-admin-url http://127.0.0.1:5000/v3 --bootstrap-internal-url http://127.0.0.1:5000/v3 \
    --bootstrap-public-url http://127.0.0.1:5000/v3 --bootstrap-region-id RegionOne \
    >>"$logs/keystone-manage.log" 2>&1 || die "keystone bootstrap; see $logs/keystone-manage.log"
svc_env=(OS_KEYSTONE_CONFIG_FILES="$etc/keystone/keystone.conf")
wsgi keystone 5000 keystone.wsgi.api keystone
wait_port keystone 5000 60

# -- databases of the other services (in parallel with Keystone's start) ----------------------
log "db sync: heat, placement, glance, nova, neutron"
"$bin/heat-manage" --config-file "$etc/heat/heat.conf" db_sync >"$logs/heat-manage.log" 2>&1 &
hm=$!
"$bin/glance-manage" --config-file "$etc/glance/glance-api.conf" db_sync >"$logs/glance-manage.log" 2>&1 &
gm=$!
"$bin/placement-manage" --config-file "$etc/placement/placement.conf" db sync >"$logs/placement-manage.log" 2>&1 &
pm=$!
"$bin/neutron-db-manage" --config-file "$etc/neutron/neutron.conf" \
    --config-file "$etc/neutron/ml2_conf.ini" upgrade heads >"$logs/neutron-manage.log" 2>&1 &
qm=$!
nm() { "$bin/nova-manage" --config-file "$etc/nova/nova.conf" "$@" >>"$logs/nova-manage.log" 2>&1 || die "nova-manage $*; see $logs/nova-manage.log"; }
(
    nm api_db sync
    nm cell_v2 map_cell0
    nm cell_v2 create_cell --name cell1
    nm db sync
) &
nmp=$!
"$bin/python" "$here/setup_cloud.py" identity >"$logs/setup-identity.log" 2>&1 || die "identity setup; see $logs/setup-identity.log"
wait "$hm" || die "heat-manage db_sync; see $logs/heat-manage.log"
wait "$gm" || die "glance-manage db_sync; see $logs/glance-manage.log"
wait "$pm" || die "placement-manage db sync; see $logs/placement-manage.log"
wait "$nmp" || die "nova-manage; see $logs/nova-manage.log"
wait "$qm" || die "neutron-db-manage upgrade; see $logs/neutron-manage.log"
wait_port rabbitmq 5672 90

# -- Heat, Placement, Glance, Nova -------------------------------------------------------------
log "heat, placement, glance, nova, neutron"
svc_env=(OS_PLACEMENT_CONFIG_DIR="$etc/placement")
wsgi placement 8778 placement.wsgi.api placement-api
svc_env=(OS_GLANCE_CONFIG_DIR="$etc/glance")
wsgi glance 9292 glance.wsgi.api glance-api
svc_env=(HOME="$state")
wsgi heat-api 8004 heat.wsgi.api heat-api --config-file "$etc/heat/heat.conf"
start heat-engine "$bin/heat-engine" --config-file "$etc/heat/heat.conf"
# PYTHONOPTIMIZE: the \`test\` mechanism driver checks its calls with asserts written for neutron's
# unit tests (e.g. that a port is bound only when created, never on the update that sets its
# host, which is how Nova binds): they fail every real binding. Without them it binds as coded.
svc_env=(PYTHONOPTIMIZE=1 OS_NEUTRON_CONFIG_DIR="$etc/neutron" OS_NEUTRON_CONFIG_FILES="neutron.conf;ml2_conf.ini")
wsgi neutron-api 9696 neutron.wsgi.api neutron-api
svc_env=(OS_NOVA_CONFIG_FILES="$venv/etc/nova/api-paste.ini;$etc/nova/nova.conf")
wsgi nova-api 8774 nova.wsgi.osapi_compute nova-api
wait_port placement 8778 60
wait_port glance 9292 60
wait_port heat-api 8004 60
wait_port nova-api 8774 90
wait_port neutron-api 9696 90
# The conductor, scheduler and compute talk to Placement at start: only once it answers.
for s in conductor scheduler compute; do
    start "nova-$s" "$bin/nova-$s" --config-file "$etc/nova/nova.conf"
done

# -- flavors, image, networks, compute host -------------------------------------------------------------
log "flavors, image, networks, compute host"
head -c 1048576 /dev/zero >"$state/data/test-image.raw"
export BRIDGE_OS_IMAGE_FILE="$state/data/test-image.raw"
"$bin/python" "$here/setup_cloud.py" compute >"$logs/setup-compute.log" 2>&1 || die "compute setup; see $logs/setup-compute.log"
"$bin/python" "$here/setup_cloud.py" network >"$logs/setup-network.log" 2>&1 || die "network setup; see $logs/setup-network.log"
# (The host list is read whole before grep: under pipefail, `grep -q` closing the pipe early
# would fail the pipeline.)
mapped() {
    local hosts
    hosts="$("$bin/nova-manage" --config-file "$etc/nova/nova.conf" cell_v2 list_hosts 2>/dev/null || true)"
    grep -q "$compute_host" <<<"$hosts"
}
deadline=$(($(date +%s) + 180))
until mapped; do
    [ "$(date +%s)" -lt "$deadline" ] || die "nova-compute did not register within 3 minutes; see $logs/nova-compute.log"
    for n in nova-compute nova-conductor nova-scheduler heat-engine; do
        alive "$pids/$n.pid" || die "$n exited; see $logs/$n.log"
    done
    nm cell_v2 discover_hosts
    sleep 1
done
write_clouds
touch "$state/up.ok"
log "up in $(($(date +%s) - start_time)) s; clouds.yaml: $clouds"
echo "$clouds"
