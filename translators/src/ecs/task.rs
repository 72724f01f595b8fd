//! One group as a RegisterTaskDefinition body: a container definition per service, the task's
//! volumes, the Fargate task size, and a ledger line for every field the services set.

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::model::files;
use bridge_core::model::{
    AwsOptions, DependencyCondition, MountKind, PortMode, Protocol, PullPolicy, RestartPolicy,
    Service,
};
use bridge_core::shell;
use bridge_core::units::{ByteSize, Cpus, Duration};

use super::api::{self, ContainerDefinition};
use super::{Ctx, TaskDefinition, hash_tag, on_aws, runs_once, tags};

/// Valid Fargate task sizes: cpu units and the memory values (MiB) each allows.
pub const FARGATE_SIZES: &[(u64, u64, u64, u64)] = &[
    // (cpu, min memory, max memory, step)
    (256, 512, 512, 1),
    (256, 1024, 2048, 1024),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

/// Fargate's on-demand prices per vCPU-hour and GB-hour (us-east-1, Linux/x86), in millionths of
/// a dollar; only their ratio matters for choosing the cheapest size.
const FARGATE_VCPU_PRICE: u64 = 40_480;
const FARGATE_GB_PRICE: u64 = 4_445;

/// The cheapest valid Fargate task size `(cpu units, memory MiB)` with at least `cpu` units and
/// `memory_mib` MiB, or None when the largest size is too small.
pub fn fargate_size(cpu: u64, memory_mib: u64) -> Option<(u64, u64)> {
    let mut best: Option<(u64, (u64, u64))> = None;
    for &(c, lo, hi, step) in FARGATE_SIZES {
        if c < cpu || hi < memory_mib {
            continue;
        }
        let m = if memory_mib <= lo {
            lo
        } else {
            lo + (memory_mib - lo).div_ceil(step) * step
        };
        let cost = c * FARGATE_VCPU_PRICE + m * FARGATE_GB_PRICE;
        if best.is_none_or(|(b, _)| cost < b) {
            best = Some((cost, (c, m)));
        }
    }
    best.map(|(_, s)| s)
}

/// The placement solver's default demand for a dimension a service leaves unset.
const DEFAULT_CPU: Cpus = Cpus(250);
const DEFAULT_MEMORY_MIB: u64 = 256;

fn mib_ceil(b: ByteSize) -> u64 {
    b.0.div_ceil(1024 * 1024)
}

/// Where the init container writes project files on the container instance.
pub const FILES_ROOT: &str = "/var/lib/bridge/files";
/// The init container that writes a task's project files.
pub const FILES_CONTAINER: &str = "bridge-files";
/// Its image: busybox, for `sh`, `base64`, `mkdir` and `mv`.
pub const FILES_IMAGE: &str = "public.ecr.aws/docker/library/busybox:1.37";
/// ECS's limit on a registered task definition, in bytes.
pub const TASK_DEFINITION_LIMIT: usize = 64 * 1024;

/// The shipped relative bind of `members` with the most bytes: (service, mount, source).
fn largest_shipped(app: &bridge_core::App, members: &[String]) -> Option<(String, usize, String)> {
    let mut best: Option<(u64, String, usize, String)> = None;
    for n in members {
        let Some(s) = app.services.get(n) else {
            continue;
        };
        for (i, m) in s.volumes.iter().enumerate() {
            if let (true, Ok(f)) = (files::ships(m), app.files.get(n, i, m))
                && best.as_ref().is_none_or(|b| f.size > b.0)
            {
                best = Some((f.size, n.clone(), i, m.source.clone().unwrap_or_default()));
            }
        }
    }
    best.map(|(_, n, i, s)| (n, i, s))
}

/// A relative bind mount (`./nginx.conf:/etc/nginx/nginx.conf:ro`) on ECS: the task's init
/// container ([`files_container`]) writes the files under [`FILES_ROOT`] on the container
/// instance, in a directory named by their content hash, and this container binds them from
/// there (a host volume of that exact path, so a single file replaces only that file, as with
/// docker) once the init container has completed. Returns the task volume; writes the ledger line.
fn ship_bind(
    cx: &mut Ctx<'_>,
    name: &str,
    i: usize,
    m: &bridge_core::model::Mount,
    c: &mut ContainerDefinition,
    volumes: &mut BTreeMap<String, api::Volume>,
) -> Option<String> {
    let path = format!("services.{name}.volumes[{i}]");
    let src = m.source.clone().unwrap_or_default();
    let pf = match cx.app.files.get(name, i, m) {
        Ok(pf) => pf,
        Err(d) => {
            cx.ledger.dropped(
                path,
                "the bind source cannot be read, so nothing is shipped",
            );
            cx.diags.push(d);
            return None;
        }
    };
    if cx.fargate {
        cx.ledger.dropped(path.clone(), "Fargate tasks cannot mount host paths, so a single file cannot be placed over the image's");
        cx.error(
            "T210",
            path,
            format!("Fargate tasks cannot mount host paths, so the project file `{src}` cannot be shipped"),
            Some("bake the files into the image, use the EC2 launch type, or a named volume on EFS"),
        );
        return None;
    }
    let dir = format!("{:016x}", pf.content_hash());
    let file = files::base_name(&src);
    let rel = if pf.dir {
        dir.clone()
    } else {
        format!("{dir}/{file}")
    };
    for e in &pf.entries {
        let at = if pf.dir {
            format!("{dir}/{}", e.rel)
        } else {
            rel.clone()
        };
        if !cx.files.iter().any(|(p, _)| *p == at) {
            cx.files.push((at, e.bytes.clone()));
        }
    }
    let vname = shipped_volume(c, volumes, &format!("{name}-file-{i}"), &rel);
    cx.ledger.claimed(
        path,
        crate::claims::Claim::ShipsProjectFiles,
        "written to the container instance by the task's init container (bridge-files) before this container starts, and bound from there: a change made in the container stays on that instance",
    );
    Some(vname)
}

/// The task volume `name` of the shipped file at `rel` under [`FILES_ROOT`], and the container's
/// wait for the init container that writes it.
fn shipped_volume(
    c: &mut ContainerDefinition,
    volumes: &mut BTreeMap<String, api::Volume>,
    name: &str,
    rel: &str,
) -> String {
    if !c
        .depends_on
        .iter()
        .any(|d| d.container_name == FILES_CONTAINER)
    {
        c.depends_on.push(api::ContainerDependency {
            container_name: FILES_CONTAINER.into(),
            condition: "COMPLETE".into(),
        });
    }
    let vname = volume_name(name);
    volumes.insert(
        vname.clone(),
        api::Volume {
            name: vname.clone(),
            host: Some(api::HostVolumeProperties {
                source_path: format!("{FILES_ROOT}/{rel}"),
            }),
            docker_volume_configuration: None,
            efs_volume_configuration: None,
        },
    );
    vname
}

/// A service's configs on ECS. One with inline `content` on EC2 is shipped like a project file:
/// the task's init container writes it under [`FILES_ROOT`] (in a directory named by its content
/// hash) and this container binds it read-only at its target once the init container has
/// completed. A config from a file or the environment, or an external one, has no content in the
/// artifact to ship, and Fargate has no host to write to: reported.
fn configs(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &Service,
    c: &mut ContainerDefinition,
    volumes: &mut BTreeMap<String, api::Volume>,
) {
    for (i, r) in s.configs.iter().enumerate() {
        let path = format!("services.{name}.configs[{i}]");
        let content = cx.app.configs.get(&r.name).and_then(|d| d.content.clone());
        let Some(content) = content.filter(|_| !cx.fargate) else {
            cx.drop_warn(
                "T215",
                path,
                if cx.fargate {
                    "Fargate tasks cannot mount host paths, so the config cannot be placed as a file"
                } else {
                    "ECS has no config files, and this config has no inline `content` for the task's init container to write"
                },
                Some("bake the file into the image, give the config inline `content` (EC2), or put it on an EFS volume (providers.aws.efs)"),
            );
            continue;
        };
        let rel = format!(
            "configs/{:016x}/{}",
            bridge_core::hash::fnv1a64(content.as_bytes()),
            r.name
        );
        if !cx.files.iter().any(|(p, _)| *p == rel) {
            cx.files.push((rel.clone(), content.into_bytes()));
        }
        let vname = shipped_volume(c, volumes, &format!("{name}-config-{i}"), &rel);
        c.mount_points.push(api::MountPoint {
            source_volume: vname,
            container_path: r.file.clone().unwrap_or_else(|| format!("/{}", r.name)),
            read_only: Some(true),
        });
        cx.ledger.claimed(
            path,
            crate::claims::Claim::ShipsProjectFiles,
            "written to the container instance by the task's init container (bridge-files) and bound read-only: the file's mode, uid and gid are the init container's (0644, root), not the config's",
        );
    }
}

/// The task's init container: non-essential, it writes every shipped file (base64 in its
/// environment, so the content is part of the task definition and a changed file is a new
/// revision) under [`FILES_ROOT`], each through a temporary name so a task reading it never
/// sees half a file, then exits; the consumers wait for it with `dependsOn: COMPLETE`.
pub fn files_container(
    files: &[(String, Vec<u8>)],
    volumes: &mut BTreeMap<String, api::Volume>,
) -> ContainerDefinition {
    let mut script = String::from("set -e\n");
    let mut environment = Vec::new();
    for (k, (rel, bytes)) in files.iter().enumerate() {
        let var = format!("BRIDGE_FILE_{k}");
        let dest = shell::quote(&format!("/bridge-files/{rel}"));
        script.push_str(&format!(
            "busybox mkdir -p \"$(busybox dirname {dest})\"\nprintf %s \"${var}\" | busybox base64 -d > {dest}.tmp\nbusybox mv {dest}.tmp {dest}\n"
        ));
        environment.push(api::KeyValuePair {
            name: var,
            value: crate::swarm::base64(bytes),
        });
    }
    volumes.insert(
        FILES_CONTAINER.into(),
        api::Volume {
            name: FILES_CONTAINER.into(),
            host: Some(api::HostVolumeProperties {
                source_path: FILES_ROOT.into(),
            }),
            docker_volume_configuration: None,
            efs_volume_configuration: None,
        },
    );
    ContainerDefinition {
        name: FILES_CONTAINER.into(),
        image: FILES_IMAGE.into(),
        essential: false,
        memory_reservation: Some(16),
        entry_point: Some(vec!["/bin/busybox".into(), "sh".into(), "-c".into()]),
        command: Some(vec![script]),
        environment,
        mount_points: vec![api::MountPoint {
            source_volume: FILES_CONTAINER.into(),
            container_path: "/bridge-files".into(),
            read_only: None,
        }],
        ..ContainerDefinition::default()
    }
}

/// ECS task volume names: letters, digits, `_` and `-`, up to 255.
fn volume_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(255)
        .collect()
}

/// Upper-case environment variable name for a secret given as a file.
pub fn secret_var(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];
const LOG_DRIVERS_EC2: &[&str] = &[
    "awslogs",
    "fluentd",
    "gelf",
    "json-file",
    "journald",
    "syslog",
    "splunk",
    "awsfirelens",
];
const LOG_DRIVERS_FARGATE: &[&str] = &["awslogs", "splunk", "awsfirelens"];

/// Clamp `d` (rounded up to whole seconds) into `lo..=hi`; the flag says whether it changed.
fn clamp_secs(d: &Duration, lo: u64, hi: u64) -> (u64, bool) {
    let s = d.secs_ceil();
    let c = s.clamp(lo, hi);
    (c, c != s || !d.0.is_multiple_of(1_000_000_000))
}

/// The task definition of group `g` with services `members` (in start order).
pub(crate) fn build(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    g: &str,
    members: &[String],
) -> TaskDefinition {
    let app = cx.app;
    let mut volumes: BTreeMap<String, api::Volume> = BTreeMap::new();
    let mut containers = Vec::new();
    for name in members {
        let Some(s) = app.services.get(name) else {
            continue;
        };
        containers.push(container(cx, aws, members, name, s, &mut volumes));
    }

    // Essential: not `restart: never`, and not waited on to complete.
    let mut waited_complete: BTreeSet<String> = BTreeSet::new();
    let mut waited: BTreeSet<String> = BTreeSet::new();
    for c in &containers {
        for d in &c.depends_on {
            waited.insert(d.container_name.clone());
            if d.condition == "SUCCESS" || d.condition == "COMPLETE" {
                waited_complete.insert(d.container_name.clone());
            }
        }
    }
    for c in &mut containers {
        if c.essential && waited_complete.contains(&c.name) {
            c.essential = false;
            let path = format!("services.{}.restart", c.name);
            cx.ledger.approximated(
                path.clone(),
                "another container waits for this one to complete, so ECS requires it non-essential: its exit does not stop the task",
            );
            cx.warn(
                "T221",
                path,
                format!(
                    "`{}` is made non-essential because other containers wait for it to complete",
                    c.name
                ),
                Some("set `restart: never` on a service others wait to complete"),
            );
        }
    }
    if !containers.is_empty() && !containers.iter().any(|c| c.essential) {
        for c in &mut containers {
            if !waited.contains(&c.name) {
                c.essential = true;
            }
        }
    }
    let one_shot = members
        .iter()
        .all(|m| app.services.get(m).is_none_or(|s| runs_once(s.restart)));

    // Platform: one per task.
    let platforms: BTreeSet<&str> = members
        .iter()
        .filter_map(|m| app.services.get(m)?.platform.as_deref())
        .collect();
    let mut runtime_platform = None;
    if platforms.len() > 1 {
        cx.error(
            "T220",
            format!("groups.{g}"),
            format!(
                "the services of `{g}` ask for different platforms ({}) but share one task",
                platforms.iter().copied().collect::<Vec<_>>().join(", ")
            ),
            Some("build the group's images for one platform"),
        );
    }
    for m in members {
        let Some(pl) = app.services.get(m).and_then(|s| s.platform.as_deref()) else {
            continue;
        };
        let path = format!("services.{m}.platform");
        let mut parts = pl.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = match parts.next().unwrap_or_default() {
            "amd64" | "x86_64" => Some("X86_64"),
            "arm64" | "aarch64" => Some("ARM64"),
            _ => None,
        };
        match (os, arch) {
            ("linux", Some("ARM64")) if !cx.fargate && !cx.pool_arm64 => {
                // The EC2 pool is sized from an x86-64 catalogue: the task would never be placed.
                cx.ledger.dropped(
                    path.clone(),
                    "the EC2 capacity bridge sizes is x86-64 (t3, m5, c5, r5): an arm64 task is never placed there",
                );
                cx.error(
                    "T215",
                    path,
                    format!("`{pl}` tasks need Graviton instances, but bridge's EC2 capacity is x86-64"),
                    Some(if cx.stock_types {
                        "deploy reads the region's instance types (Graviton among them) when every service on EC2 is linux/arm64; or use `providers.aws.launch_type: fargate`, or publish a linux/amd64 image"
                    } else {
                        "the pool is Graviton only when every service on EC2 is linux/arm64 and the region offers such types; or use `providers.aws.launch_type: fargate`, or publish a linux/amd64 image"
                    }),
                );
            }
            ("linux", Some(a)) if platforms.len() == 1 => {
                runtime_platform = Some(api::RuntimePlatform {
                    cpu_architecture: a.into(),
                    operating_system_family: "LINUX".into(),
                });
                cx.ledger.mapped(path);
            }
            ("linux", Some(_)) => {
                cx.ledger
                    .dropped(path, "the group's services disagree on the platform");
            }
            _ => cx.drop_warn(
                "T215",
                path,
                "ECS runtime platforms here are linux/amd64 and linux/arm64",
                Some("write linux/amd64 or linux/arm64"),
            ),
        }
    }

    // Fargate task size.
    let (mut cpu, mut memory) = (None, None);
    if cx.fargate {
        let mut need_cpu = 0u64;
        let mut need_mem = 0u64;
        let mut asked = true;
        for m in members {
            let Some(s) = app.services.get(m) else {
                continue;
            };
            let r = &s.resources;
            let c = r.reserve_cpus.or(r.cpus);
            let mem = r.memory.or(r.reserve_memory);
            asked &= c.is_some() && mem.is_some();
            need_cpu += c.unwrap_or(DEFAULT_CPU).ecs_units();
            need_mem += mem.map(mib_ceil).unwrap_or(DEFAULT_MEMORY_MIB);
        }
        match fargate_size(need_cpu, need_mem) {
            Some((c, m)) => {
                cpu = Some(c.to_string());
                memory = Some(m.to_string());
                if asked && (c > need_cpu || m > need_mem) {
                    let why = format!(
                        "the Fargate task size {c} cpu units / {m} MiB is the smallest valid one above the group's {need_cpu} units / {need_mem} MiB"
                    );
                    for mm in members {
                        cx.ledger
                            .approximated(format!("services.{mm}.resources"), why.clone());
                    }
                    cx.note("T222", format!("groups.{g}"), why);
                }
            }
            None => cx.error(
                "T207",
                if members.len() == 1 {
                    format!("services.{}.resources", members[0])
                } else {
                    format!("groups.{g}")
                },
                format!(
                    "`{g}` needs {need_cpu} cpu units and {need_mem} MiB, more than the largest Fargate task (16384 units, 122880 MiB)"
                ),
                Some("lower the resources, split the group, or set providers.aws.launch_type: ec2"),
            ),
        }
    }

    let needs_execution_role = aws.execution_role_arn.is_none()
        && containers.iter().any(|c| {
            !c.secrets.is_empty()
                || (cx.fargate
                    && c.log_configuration
                        .as_ref()
                        .is_some_and(|l| l.log_driver == "awslogs"))
        });
    if needs_execution_role {
        cx.warn(
            "T225",
            "providers.aws.execution_role_arn".into(),
            format!("the task of `{g}` reads secrets or sends logs to CloudWatch from Fargate, which needs an execution role, and none is given: the driver uses the account's ecsTaskExecutionRole"),
            Some("set providers.aws.execution_role_arn"),
        );
    }
    let shipped = std::mem::take(&mut cx.files);
    if !shipped.is_empty() {
        containers.insert(0, files_container(&shipped, &mut volumes));
    }
    let network_mode = if cx.awsvpc { "awsvpc" } else { "bridge" };
    let mut body = api::RegisterTaskDefinition {
        family: aws.family(&app.name, g),
        task_role_arn: aws.task_role_arn.clone(),
        execution_role_arn: aws.execution_role_arn.clone(),
        network_mode: network_mode.into(),
        container_definitions: containers,
        volumes: volumes.into_values().collect(),
        requires_compatibilities: vec![cx.launch().into()],
        cpu,
        memory,
        runtime_platform,
        pid_mode: namespace_mode(cx, app, members, "pid"),
        ipc_mode: namespace_mode(cx, app, members, "ipc"),
        tags: tags(&app.name, &format!("task-definition/{g}")),
    };
    let size = serde_json::to_string(&body).map_or(0, |t| t.len());
    if size > TASK_DEFINITION_LIMIT
        && let Some((svc, i, src)) = largest_shipped(app, members)
    {
        let f = app.files.0.get(&src).cloned().unwrap_or_default();
        cx.diags.push(files::too_large(
            &f,
            (&svc, i, &src),
            &format!("the task definition of `{g}` (its files travel base64 in the init container's environment)"),
            size as u64,
            TASK_DEFINITION_LIMIT as u64,
            "ECS takes task definitions up to 64 KiB: bake large files into the image, or keep them on EFS (providers.aws.efs)",
        ));
    }
    let h = hash_tag(&body);
    body.tags.push(h);
    TaskDefinition {
        group: g.to_string(),
        services: members.to_vec(),
        one_shot,
        needs_execution_role,
        body,
    }
}

/// One service as a container definition.
fn container(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    members: &[String],
    name: &str,
    s: &Service,
    volumes: &mut BTreeMap<String, api::Volume>,
) -> ContainerDefinition {
    let p = |f: &str| format!("services.{name}.{f}");
    let mut c = ContainerDefinition {
        name: name.to_string(),
        image: s.image.clone(),
        essential: !runs_once(s.restart),
        ..ContainerDefinition::default()
    };
    cx.ledger.mapped(p("image"));
    if s.provider.is_some() {
        cx.ledger.mapped(p("provider"));
    }
    if s.group.is_some() {
        cx.ledger.mapped(p("group"));
    }
    if s.network_of.is_some() {
        if cx.awsvpc {
            cx.ledger.mapped(p("network_of"));
        } else {
            cx.ledger.approximated(
                p("network_of"),
                "in one task, but bridge network mode gives each container its own localhost: the service is reached by its link name (awsvpc, as on Fargate, shares one)",
            );
        }
    }
    if let Some(e) = &s.entrypoint {
        c.entry_point = Some(e.0.clone());
        cx.ledger.mapped(p("entrypoint"));
    }
    if let Some(cmd) = &s.command {
        c.command = Some(cmd.0.clone());
        cx.ledger.mapped(p("command"));
    }

    // Environment, sorted by name (the map is sorted).
    c.environment = s
        .env
        .0
        .iter()
        .map(|(k, v)| api::KeyValuePair {
            name: k.clone(),
            value: v.clone(),
        })
        .collect();
    if !s.env.is_empty() {
        if s.env.0.values().any(|v| v.contains("${")) {
            cx.ledger.claimed(
                p("env"),
                crate::claims::Claim::ResolvesAddressReferences,
                "address references are resolved by bridge at deploy time",
            );
        } else {
            cx.ledger.mapped(p("env"));
        }
    }

    secrets(cx, aws, name, s, &mut c);
    configs(cx, name, s, &mut c, volumes);

    ports(cx, name, s, &mut c);
    mounts(cx, aws, name, s, &mut c, volumes);
    api_socket(cx, name, s, &mut c, volumes);
    resources(cx, name, s, &mut c);
    kernel(cx, name, s, &mut c);

    // Links and start order within the task.
    for (i, l) in s.links.iter().enumerate() {
        let path = format!("services.{name}.links[{i}]");
        if !members.contains(&l.service)
            && cx
                .app
                .services
                .get(&l.service)
                .is_some_and(|t| on_aws(t.provider))
        {
            // Another task on AWS: its group's Cloud Map name (ledgered by service::registry).
            continue;
        } else if !members.contains(&l.service) {
            cx.drop_warn(
                "T211",
                path,
                "a link reaches only containers of the same task (group)",
                Some(
                    "put both services in one group, or reach the other through its published port",
                ),
            );
        } else if cx.awsvpc {
            cx.ledger.approximated(
                path.clone(),
                "awsvpc has no links: containers of one task share localhost",
            );
            cx.warn(
                "T204",
                path,
                format!(
                    "awsvpc has no links: reach `{}` at localhost, its name does not resolve",
                    l.service
                ),
                Some("use localhost, or the EC2 launch type with bridge networking"),
            );
        } else {
            c.links.push(match &l.alias {
                Some(a) => format!("{}:{a}", l.service),
                None => l.service.clone(),
            });
            cx.ledger.mapped(path);
        }
    }
    for (i, d) in s.depends_on.iter().enumerate() {
        let path = format!("services.{name}.depends_on[{i}]");
        if members.contains(&d.service) {
            let condition = match d.condition {
                DependencyCondition::Started => "START",
                DependencyCondition::Healthy => "HEALTHY",
                DependencyCondition::CompletedSuccessfully => "SUCCESS",
            };
            c.depends_on.push(api::ContainerDependency {
                container_name: d.service.clone(),
                condition: condition.into(),
            });
            if d.restart {
                cx.ledger.approximated(
                    path,
                    "ECS restarts the whole task when an essential container stops, not only the dependants",
                );
            } else {
                cx.ledger.mapped(path);
            }
        } else if d.condition == DependencyCondition::Healthy {
            cx.ledger.claimed(
                path,
                crate::claims::Claim::WaitsForHealthyDependency,
                "the dependency runs in another task: the driver creates its service first and waits until its tasks report HEALTHY (DescribeTasks); ECS itself does not order tasks",
            );
        } else {
            cx.ledger.claimed(
                path,
                crate::claims::Claim::CreatesDependencyFirst,
                "the dependency runs in another task: the driver creates its service first but does not wait for its tasks to run (condition: service_healthy waits); ECS itself does not order tasks",
            );
        }
    }

    health(cx, name, s, &mut c);

    if let Some(g) = &s.stop_grace_period {
        let (secs, changed) = clamp_secs(g, 0, 120);
        c.stop_timeout = Some(secs);
        if g.secs_ceil() > 120 {
            cx.ledger.approximated(
                p("stop_grace_period"),
                "ECS waits at most 120 seconds before killing",
            );
            cx.warn(
                "T209",
                p("stop_grace_period"),
                format!("stop_grace_period {g} is above ECS's 120 seconds; 120 is used"),
                None,
            );
        } else if changed {
            cx.ledger
                .approximated(p("stop_grace_period"), "ECS counts whole seconds");
        } else {
            cx.ledger.mapped(p("stop_grace_period"));
        }
    }
    if s.stop_signal.is_some() {
        cx.drop_warn(
            "T202",
            p("stop_signal"),
            "ECS has no per-container stop signal: containers get SIGTERM",
            Some("make the process stop on SIGTERM, or set STOPSIGNAL in the image"),
        );
    }

    // Restart.
    match s.restart {
        RestartPolicy::Always => {
            if members.len() > 1 {
                cx.ledger.approximated(
                    p("restart"),
                    "an essential container: when it stops ECS replaces the whole task, not only this container",
                );
            } else {
                cx.ledger.mapped(p("restart"));
            }
        }
        RestartPolicy::OnFailure => {
            cx.ledger.approximated(
                p("restart"),
                "ECS replaces a stopped task whatever the exit code",
            );
            cx.warn(
                "T203",
                p("restart"),
                "ECS has no on-failure restart: the service replaces the task after any exit"
                    .into(),
                Some("use `restart: always`, or `never` for a one-shot task"),
            );
        }
        RestartPolicy::Never => cx.ledger.mapped(p("restart")),
    }
    if s.restart_max_attempts.is_some() {
        cx.ledger.approximated(
            p("restart_max_attempts"),
            "ECS keeps replacing failed tasks with its own back-off and no limit; the deployment circuit breaker only stops failing deployments",
        );
        cx.warn(
            "T203",
            p("restart_max_attempts"),
            "ECS has no restart limit: failed tasks are replaced until the service is changed"
                .into(),
            None,
        );
    }
    for f in ["restart_delay", "restart_window"] {
        let set = if f == "restart_delay" {
            s.restart_delay.is_some()
        } else {
            s.restart_window.is_some()
        };
        if set {
            cx.drop_warn(
                "T203",
                p(f),
                "ECS throttles task restarts itself; it takes no delay or window",
                None,
            );
        }
    }

    // Simple container settings.
    if let Some(u) = &s.user {
        c.user = Some(u.clone());
        cx.ledger.mapped(p("user"));
    }
    if let Some(w) = &s.working_dir {
        c.working_directory = Some(w.clone());
        cx.ledger.mapped(p("working_dir"));
    }
    if let Some(h) = &s.hostname {
        if cx.awsvpc {
            cx.drop_warn(
                "T204",
                p("hostname"),
                "awsvpc network mode takes no container host name",
                None,
            );
        } else {
            c.hostname = Some(h.clone());
            cx.ledger.mapped(p("hostname"));
        }
    }
    if s.domainname.is_some() {
        cx.drop_warn(
            "T215",
            p("domainname"),
            "ECS cannot set a container domain name",
            None,
        );
    }
    if s.init {
        linux(&mut c).init_process_enabled = Some(true);
        cx.ledger.mapped(p("init"));
    }
    if s.read_only {
        c.readonly_root_filesystem = Some(true);
        cx.ledger.mapped(p("read_only"));
    }
    if s.privileged {
        if cx.fargate {
            cx.drop_warn(
                "T205",
                p("privileged"),
                "Fargate does not run privileged containers",
                Some("grant what it needs with cap_add, or use the EC2 launch type"),
            );
        } else {
            c.privileged = Some(true);
            cx.ledger.mapped(p("privileged"));
        }
    }
    if s.tty {
        c.pseudo_terminal = Some(true);
        cx.ledger.mapped(p("tty"));
    }
    if s.stdin_open {
        c.interactive = Some(true);
        cx.ledger.mapped(p("stdin_open"));
    }
    capabilities(cx, name, s, &mut c);
    if !s.group_add.is_empty() {
        cx.drop_warn(
            "T215",
            p("group_add"),
            "ECS cannot add supplementary groups",
            Some("set `user: uid:gid`, or add the groups in the image"),
        );
    }
    for (f, list, target) in [
        ("dns", &s.dns, &mut c.dns_servers),
        ("dns_search", &s.dns_search, &mut c.dns_search_domains),
    ] {
        if list.is_empty() {
            continue;
        }
        if cx.awsvpc {
            cx.drop_warn(
                "T204",
                p(f),
                "awsvpc network mode uses the VPC's DNS settings",
                Some("set DNS in the VPC's DHCP options"),
            );
        } else {
            *target = list.clone();
            cx.ledger.mapped(p(f));
        }
    }
    // Names across tasks: in bridge network mode every container looks names up in the app's
    // Cloud Map namespace too (see service::registry; awsvpc takes no search domain).
    if !cx.awsvpc {
        let ns = super::namespace_name(&cx.app.name);
        if !c.dns_search_domains.contains(&ns) {
            c.dns_search_domains.push(ns);
        }
    }
    if !s.dns_opt.is_empty() {
        cx.drop_warn(
            "T215",
            p("dns_opt"),
            "ECS takes no DNS resolver options",
            None,
        );
    }
    if !s.extra_hosts.is_empty() {
        if cx.awsvpc {
            cx.drop_warn(
                "T204",
                p("extra_hosts"),
                "awsvpc network mode takes no extra hosts",
                Some("use DNS records (Route 53) instead"),
            );
        } else {
            c.extra_hosts = s
                .extra_hosts
                .iter()
                .map(|(h, ip)| api::HostEntry {
                    hostname: h.clone(),
                    ip_address: ip.clone(),
                })
                .collect();
            cx.ledger.mapped(p("extra_hosts"));
        }
    }
    // With `ipc: host` on any of the task's services the task's IPC namespace is the instance's,
    // where ECS takes no IPC parameters and runc refuses them ("not allowed in the hosts ipc
    // namespace").
    let host_ipc = !cx.fargate
        && members.iter().any(|m| {
            cx.app
                .services
                .get(m)
                .is_some_and(|x| x.ipc.as_deref() == Some("host"))
        });
    let (ipc_lost, sysctls): (Vec<_>, Vec<_>) = s
        .sysctls
        .iter()
        .partition(|(k, _)| host_ipc && bridge_core::validate::ipc_sysctl(k));
    if !ipc_lost.is_empty() {
        let names: Vec<&str> = ipc_lost.iter().map(|(k, _)| k.as_str()).collect();
        let why = format!(
            "the task shares the instance's IPC namespace (ipc: host), where ECS sets no IPC parameters: {} not set",
            names.join(", ")
        );
        if sysctls.is_empty() {
            cx.drop_warn(
                "T215",
                p("sysctls"),
                &why,
                Some("drop `ipc: host`, or the parameters"),
            );
        } else {
            cx.ledger.approximated(p("sysctls"), why.clone());
            cx.warn(
                "T215",
                p("sysctls"),
                why,
                Some("drop `ipc: host`, or the parameters"),
            );
        }
    }
    c.system_controls = sysctls
        .iter()
        .map(|(k, v)| api::SystemControl {
            namespace: (*k).clone(),
            value: (*v).clone(),
        })
        .collect();
    if !sysctls.is_empty() && ipc_lost.is_empty() {
        if cx.awsvpc && s.sysctls.keys().any(|k| k.starts_with("net.")) {
            cx.ledger.approximated(
                p("sysctls"),
                "with awsvpc, net.* parameters apply to every container of the task",
            );
        } else {
            cx.ledger.mapped(p("sysctls"));
        }
    }
    if !s.ulimits.is_empty() {
        let mut lost = Vec::new();
        for (n, u) in &s.ulimits {
            if !ULIMITS.contains(&n.as_str()) || (cx.fargate && n != "nofile") {
                lost.push(n.clone());
                continue;
            }
            let i = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { -1 } else { i32::MAX });
            c.ulimits.push(api::Ulimit {
                name: n.clone(),
                soft_limit: i(u.soft),
                hard_limit: i(u.hard),
            });
        }
        if lost.is_empty() {
            cx.ledger.mapped(p("ulimits"));
        } else {
            let why = format!(
                "ECS{} cannot set {}",
                if cx.fargate { " on Fargate" } else { "" },
                lost.join(", ")
            );
            cx.ledger.approximated(p("ulimits"), why.clone());
            cx.warn(
                if cx.fargate { "T205" } else { "T215" },
                p("ulimits"),
                why,
                None,
            );
        }
    }
    if let Some(shm) = s.shm_size {
        if cx.fargate {
            cx.drop_warn(
                "T205",
                p("shm_size"),
                "Fargate does not size /dev/shm",
                None,
            );
        } else {
            linux(&mut c).shared_memory_size = Some(mib_ceil(shm));
            cx.ledger.mapped(p("shm_size"));
        }
    }
    if !s.devices.is_empty() {
        if cx.fargate {
            cx.drop_warn(
                "T205",
                p("devices"),
                "Fargate does not map host devices",
                None,
            );
        } else {
            for d in &s.devices {
                let mut parts = d.splitn(3, ':');
                let host = parts.next().unwrap_or_default().to_string();
                let cont = parts.next().map(str::to_string);
                let perms = parts
                    .next()
                    .map(|m| {
                        m.chars()
                            .filter_map(|ch| match ch {
                                'r' => Some("read".to_string()),
                                'w' => Some("write".to_string()),
                                'm' => Some("mknod".to_string()),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                linux(&mut c).devices.push(api::Device {
                    host_path: host,
                    container_path: cont,
                    permissions: perms,
                });
            }
            cx.ledger.mapped(p("devices"));
        }
    }
    if !s.labels.is_empty() {
        c.docker_labels = s.labels.clone();
        cx.ledger.mapped(p("labels"));
    }
    logging(cx, aws, name, s, &mut c);
    match s.pull_policy {
        None => {}
        Some(PullPolicy::Always) => cx.ledger.mapped(p("pull_policy")),
        Some(_) => cx.ledger.approximated(
            p("pull_policy"),
            "ECS pulls the image at every task start (EC2 agents may use cached images per ECS_IMAGE_PULL_BEHAVIOR)",
        ),
    }
    if !s.networks.is_empty() {
        cx.ledger.approximated(
            p("networks"),
            "ECS has no networks: tasks share the VPC and security groups decide who reaches whom",
        );
    }
    // Network aliases are ledgered with the group's Cloud Map service (service::registry).
    c
}

fn linux(c: &mut ContainerDefinition) -> &mut api::LinuxParameters {
    c.linux_parameters.get_or_insert_with(Default::default)
}

fn secrets(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    name: &str,
    s: &Service,
    c: &mut ContainerDefinition,
) {
    for (i, r) in s.secrets.iter().enumerate() {
        let path = format!("services.{name}.secrets[{i}]");
        let managed = cx
            .app
            .secrets
            .get(&r.name)
            .is_some_and(super::is_managed_secret);
        let arn = match aws.secrets.get(&r.name) {
            Some(arn) => arn.clone(),
            // The driver creates it in Secrets Manager; its ARN is a late-bound input.
            None if managed => super::secret_arn_placeholder(&r.name),
            None => {
                cx.ledger.dropped(
                    path.clone(),
                    "ECS reads secrets from an ARN, and this external secret has none",
                );
                cx.error(
                    "T200",
                    path,
                    format!("secret `{}` is external and has no ARN for ECS to read it from", r.name),
                    Some(&format!(
                        "add `providers.aws.secrets.{}: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME` (or an SSM parameter ARN), or give the secret a `file:` or `env:` so that bridge creates it",
                        r.name
                    )),
                );
                continue;
            }
        };
        let var = match &r.env {
            Some(v) => {
                cx.ledger.mapped(format!("{path}.env"));
                cx.ledger.mapped(format!("{path}.name"));
                v.clone()
            }
            None => {
                let v = secret_var(&r.name);
                let reason = format!(
                    "ECS injects secrets only as environment variables: this one is the variable {v}, not a file"
                );
                cx.ledger
                    .approximated(format!("{path}.name"), reason.clone());
                if r.file.is_some() {
                    cx.ledger
                        .approximated(format!("{path}.file"), reason.clone());
                }
                cx.warn(
                    "T201",
                    path.clone(),
                    format!(
                        "secret `{}` is the environment variable {v} on ECS, not a file",
                        r.name
                    ),
                    Some(&format!(
                        "make the image read {v}, or give the secret with `env:`"
                    )),
                );
                v
            }
        };
        for (f, set) in [
            ("uid", r.uid.is_some()),
            ("gid", r.gid.is_some()),
            ("mode", r.mode.is_some()),
        ] {
            if set {
                cx.ledger.dropped(
                    format!("{path}.{f}"),
                    "ECS secrets are environment variables: there is no file to own",
                );
            }
        }
        c.secrets.push(api::Secret {
            name: var,
            value_from: arn,
        });
    }
    c.secrets.sort_by(|a, b| a.name.cmp(&b.name));
}

fn ports(cx: &mut Ctx<'_>, name: &str, s: &Service, c: &mut ContainerDefinition) {
    let mut seen: BTreeSet<(u16, &str)> = BTreeSet::new();
    for (i, pt) in s.ports.iter().enumerate() {
        let path = format!("services.{name}.ports[{i}]");
        let proto = match pt.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => {
                cx.drop_warn(
                    "T215",
                    path,
                    "ECS port mappings carry tcp and udp only",
                    None,
                );
                continue;
            }
        };
        if !seen.insert((pt.container, proto)) {
            cx.drop_warn(
                "T216",
                path,
                "ECS maps a container port once: an earlier mapping of it is kept",
                Some("publish each container port once"),
            );
            continue;
        }
        let host_port = if cx.awsvpc {
            Some(pt.container)
        } else {
            pt.published
        };
        if cx.awsvpc && pt.published.is_some_and(|p| p != pt.container) {
            let why = format!(
                "with awsvpc each task has its own address: the port is reached as {}, not {}",
                pt.container,
                pt.published.unwrap_or_default()
            );
            cx.ledger.approximated(path.clone(), why.clone());
            cx.warn(
                "T216",
                path.clone(),
                why,
                Some("publish the port as the container port, or put a load balancer in front"),
            );
        } else if pt.published.is_some() && pt.mode == PortMode::Ingress {
            cx.ledger.approximated(
                path.clone(),
                "ECS has no routing mesh: the port is published where each task runs, not load balanced",
            );
        } else {
            cx.ledger.mapped(path.clone());
        }
        if pt.host_ip.is_some() {
            cx.drop_warn(
                "T215",
                format!("{path}.host_ip"),
                "ECS publishes on every address of the host",
                None,
            );
        }
        let mut pname = pt.name.as_ref().map(|n| port_name(n));
        let app_protocol = match pt.app_protocol.as_deref() {
            None => None,
            Some(a @ ("http" | "http2" | "grpc")) => {
                cx.ledger.mapped(format!("{path}.app_protocol"));
                Some(a.to_string())
            }
            Some(_) => {
                cx.drop_warn(
                    "T215",
                    format!("{path}.app_protocol"),
                    "ECS knows the application protocols http, http2 and grpc",
                    None,
                );
                None
            }
        };
        if pt.name.is_some() {
            cx.ledger.mapped(format!("{path}.name"));
        }
        // Every TCP port is named: Service Connect serves the service's names on named ports
        // (see service::names), and appProtocol needs a name.
        if pname.is_none() && (proto == "tcp" || app_protocol.is_some()) {
            pname = Some(default_port_name(name, pt.container, proto));
        }
        c.port_mappings.push(api::PortMapping {
            container_port: pt.container,
            host_port,
            protocol: proto.into(),
            name: pname,
            app_protocol,
        });
    }
    for (i, e) in s.expose.iter().enumerate() {
        if !seen.insert((*e, "tcp")) {
            continue;
        }
        let _ = i;
        c.port_mappings.push(api::PortMapping {
            container_port: *e,
            host_port: cx.awsvpc.then_some(*e),
            protocol: "tcp".into(),
            name: Some(default_port_name(name, *e, "tcp")),
            app_protocol: None,
        });
    }
    if !s.expose.is_empty() {
        cx.ledger.approximated(
            format!("services.{name}.expose"),
            if cx.awsvpc {
                "mapped on the task's own address: security groups, not the app, decide who reaches it"
            } else {
                "ECS has no unpublished ports in bridge mode: each is published on a dynamic host port"
            },
        );
    }
}

/// The name bridge gives a port mapping the app names not: `SERVICE-PORT-PROTO`, as a port name
/// (export reads it back as no name).
pub fn default_port_name(service: &str, port: u16, proto: &str) -> String {
    port_name(&format!("{service}-{port}-{proto}"))
}

/// ECS port names: lower-case letters, digits, `_` and `-`, not starting with `-`, up to 64.
pub(crate) fn port_name(n: &str) -> String {
    let s: String = n
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    s.trim_start_matches('-').to_string()
}

fn mounts(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    name: &str,
    s: &Service,
    c: &mut ContainerDefinition,
    volumes: &mut BTreeMap<String, api::Volume>,
) {
    let app = cx.app;
    for (i, m) in s.volumes.iter().enumerate() {
        let path = format!("services.{name}.volumes[{i}]");
        let vol_name = match (m.kind, &m.source) {
            (MountKind::Volume, Some(src)) => {
                let def = app.volumes.get(src).cloned().unwrap_or_default();
                let vname = volume_name(
                    &def.name
                        .clone()
                        .unwrap_or_else(|| format!("{}_{src}", app.name)),
                );
                let vol = if let Some(fs) = aws.efs.get(src) {
                    cx.ledger.mapped(path.clone());
                    api::Volume {
                        name: vname.clone(),
                        host: None,
                        docker_volume_configuration: None,
                        efs_volume_configuration: Some(api::EfsVolumeConfiguration {
                            file_system_id: fs.clone(),
                            transit_encryption: "ENABLED".into(),
                        }),
                    }
                } else if cx.fargate {
                    let why = format!(
                        "without providers.aws.efs.{src} the volume is the task's ephemeral storage: shared by its containers, lost when the task stops"
                    );
                    cx.ledger.approximated(path.clone(), why.clone());
                    cx.warn(
                        "T223",
                        path.clone(),
                        why,
                        Some(&format!(
                            "add `providers.aws.efs.{src}: fs-...` for persistent storage"
                        )),
                    );
                    api::Volume {
                        name: vname.clone(),
                        host: None,
                        docker_volume_configuration: None,
                        efs_volume_configuration: None,
                    }
                } else {
                    let why = format!(
                        "without providers.aws.efs.{src} the volume is a docker volume on the container instance: a task placed on another instance sees other data"
                    );
                    cx.ledger.approximated(path.clone(), why.clone());
                    cx.warn(
                        "T223",
                        path.clone(),
                        why,
                        Some(&format!("add `providers.aws.efs.{src}: fs-...` for storage shared by every instance")),
                    );
                    api::Volume {
                        name: vname.clone(),
                        host: None,
                        docker_volume_configuration: Some(api::DockerVolumeConfiguration {
                            scope: "shared".into(),
                            autoprovision: Some(!def.external),
                            driver: Some(def.driver.clone().unwrap_or_else(|| "local".into())),
                            driver_opts: def.driver_opts.clone(),
                            labels: def.labels.clone(),
                        }),
                        efs_volume_configuration: None,
                    }
                };
                volumes.insert(vname.clone(), vol);
                vname
            }
            (MountKind::Volume, None) => {
                let vname = volume_name(&format!("{name}-anon-{i}"));
                volumes.insert(
                    vname.clone(),
                    api::Volume {
                        name: vname.clone(),
                        host: None,
                        docker_volume_configuration: None,
                        efs_volume_configuration: None,
                    },
                );
                cx.ledger.mapped(path.clone());
                vname
            }
            (MountKind::Bind, Some(_)) if files::ships(m) => {
                match ship_bind(cx, name, i, m, c, volumes) {
                    Some(v) => v,
                    None => continue,
                }
            }
            (MountKind::Bind, src) => {
                let src = src.clone().unwrap_or_default();
                if cx.fargate {
                    cx.ledger
                        .dropped(path.clone(), "Fargate tasks cannot mount host paths");
                    cx.error(
                        "T210",
                        path,
                        format!("Fargate tasks cannot mount the host path `{src}`"),
                        Some("bake the files into the image, use a named volume on EFS, or the EC2 launch type"),
                    );
                    continue;
                }
                if !src.starts_with('/') {
                    cx.ledger.dropped(
                        path.clone(),
                        "a relative host path is on the deploying machine, not on the container instances",
                    );
                    cx.error(
                        "T210",
                        path,
                        format!("the host path `{src}` is relative: it does not exist on ECS container instances"),
                        Some("bake the files into the image, or use a named volume on EFS (providers.aws.efs)"),
                    );
                    continue;
                }
                cx.ledger.approximated(
                    path.clone(),
                    "the host path must exist on every container instance that may run the task",
                );
                let vname = volume_name(&format!("{name}-bind-{i}"));
                volumes.insert(
                    vname.clone(),
                    api::Volume {
                        name: vname.clone(),
                        host: Some(api::HostVolumeProperties { source_path: src }),
                        docker_volume_configuration: None,
                        efs_volume_configuration: None,
                    },
                );
                vname
            }
            (MountKind::Tmpfs, _) => {
                if cx.fargate {
                    let why = "Fargate has no tmpfs: an ephemeral task volume (disk, not memory) is mounted instead";
                    cx.ledger.approximated(path.clone(), why);
                    cx.warn("T205", path.clone(), why.to_string(), None);
                    let vname = volume_name(&format!("{name}-tmpfs-{i}"));
                    volumes.insert(
                        vname.clone(),
                        api::Volume {
                            name: vname.clone(),
                            host: None,
                            docker_volume_configuration: None,
                            efs_volume_configuration: None,
                        },
                    );
                    vname
                } else {
                    let size = match m.size {
                        Some(sz) => {
                            cx.ledger.mapped(path.clone());
                            mib_ceil(sz).max(1)
                        }
                        None => {
                            cx.ledger
                                .approximated(path.clone(), "ECS needs a tmpfs size: 64 MiB");
                            64
                        }
                    };
                    linux(c).tmpfs.push(api::Tmpfs {
                        container_path: m.target.clone(),
                        size,
                        mount_options: if m.read_only {
                            vec!["ro".into()]
                        } else {
                            Vec::new()
                        },
                    });
                    continue;
                }
            }
        };
        c.mount_points.push(api::MountPoint {
            source_volume: vol_name,
            container_path: m.target.clone(),
            read_only: m.read_only.then_some(true),
        });
    }
}

/// `use_api_socket` on EC2: the container instance's Docker socket (the ECS-optimized AMI's
/// Engine, which the ECS agent drives) as a host volume at the same path. Fargate tasks have no
/// host to mount from.
fn api_socket(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &Service,
    c: &mut ContainerDefinition,
    volumes: &mut BTreeMap<String, api::Volume>,
) {
    if !s.use_api_socket {
        return;
    }
    let field = format!("services.{name}.use_api_socket");
    if cx.fargate {
        cx.drop_warn(
            "T215",
            field,
            "Fargate tasks have no host Docker Engine to reach",
            Some("use the EC2 launch type"),
        );
        return;
    }
    let sock = crate::cloudinit::API_SOCKET;
    let vname = volume_name(&format!("{name}-docker-sock"));
    volumes.insert(
        vname.clone(),
        api::Volume {
            name: vname.clone(),
            host: Some(api::HostVolumeProperties {
                source_path: sock.into(),
            }),
            docker_volume_configuration: None,
            efs_volume_configuration: None,
        },
    );
    c.mount_points.push(api::MountPoint {
        source_volume: vname,
        container_path: sock.into(),
        read_only: None,
    });
    cx.ledger.mapped(field);
}

/// The task's `pidMode` or `ipcMode` from its services' `pid` / `ipc`: ECS has one per task.
fn namespace_mode(
    cx: &mut Ctx<'_>,
    app: &bridge_core::App,
    members: &[String],
    which: &str,
) -> Option<String> {
    let mut out: Option<String> = None;
    for m in members {
        let Some(s) = app.services.get(m) else {
            continue;
        };
        let Some(v) = (if which == "pid" { &s.pid } else { &s.ipc }) else {
            continue;
        };
        let path = format!("services.{m}.{which}");
        // host: the instance's namespace (EC2 only); shareable: shared by the task's containers.
        let mode = match (v.as_str(), cx.fargate) {
            ("host", false) => Some(("host", None)),
            ("shareable", false) if which == "ipc" => Some((
                "task",
                Some("ECS shares one IPC namespace among the task's containers"),
            )),
            ("private", false) if which == "ipc" => Some(("none", None)),
            _ => None,
        };
        match mode {
            Some((mode, approx)) if out.as_deref().is_none_or(|o| o == mode) => {
                out = Some(mode.to_string());
                match approx {
                    Some(r) => cx.ledger.approximated(path, r),
                    None => cx.ledger.mapped(path),
                }
            }
            Some(_) => cx.drop_warn(
                "T215",
                path,
                "the task's services ask for different namespaces and ECS sets one per task",
                Some("give the group's services the same value"),
            ),
            None => cx.drop_warn(
                "T215",
                path,
                if cx.fargate {
                    "Fargate tasks cannot share the host's or another container's namespace"
                } else {
                    "ECS takes host, task or none here"
                },
                None,
            ),
        }
    }
    out
}

/// Kernel and runtime settings a container definition has a field for; the rest reported.
fn kernel(cx: &mut Ctx<'_>, name: &str, s: &Service, c: &mut ContainerDefinition) {
    let p = |f: &str| format!("services.{name}.{f}");
    if let Some(n) = s.cpu_shares {
        if c.cpu.is_none() {
            // Container cpu units are docker's cpu shares on EC2.
            c.cpu = Some(u64::from(n));
            cx.ledger.mapped(p("cpu_shares"));
        } else {
            cx.ledger.approximated(
                p("cpu_shares"),
                "the container's cpu units come from its cpus; cpu_shares is not used",
            );
        }
    }
    let ec2_only = "Fargate has no such setting";
    if !s.security_opt.is_empty() {
        if cx.fargate {
            cx.drop_warn("T215", p("security_opt"), ec2_only, None);
        } else {
            c.docker_security_options = s.security_opt.clone();
            cx.ledger.mapped(p("security_opt"));
        }
    }
    if let Some(n) = s.mem_swappiness {
        if cx.fargate {
            cx.drop_warn("T215", p("mem_swappiness"), ec2_only, None);
        } else {
            linux(c).swappiness = Some(n);
            cx.ledger.mapped(p("mem_swappiness"));
        }
    }
    if let Some(m) = s.memswap_limit {
        let mem = s.resources.memory.map(|x| x.0).unwrap_or(0);
        if cx.fargate {
            cx.drop_warn("T215", p("memswap_limit"), ec2_only, None);
        } else if mem == 0 {
            cx.drop_warn(
                "T215",
                p("memswap_limit"),
                "ECS sets swap beside a memory limit: without one the swap limit has no base",
                Some("set a memory limit too"),
            );
        } else {
            // ECS's maxSwap is the swap alone; compose's memswap_limit is memory plus swap.
            linux(c).max_swap = Some(m.0.saturating_sub(mem) / (1024 * 1024));
            cx.ledger.mapped(p("memswap_limit"));
        }
    }
    // The rest of the runtime keys (those above are mapped on EC2).
    let mapped = [
        "cpu_shares",
        "security_opt",
        "pid",
        "ipc",
        "mem_swappiness",
        "memswap_limit",
        "use_api_socket",
    ];
    for (f, set) in s
        .runtime_keys()
        .into_iter()
        .filter(|(f, _)| !mapped.contains(f))
    {
        if set {
            cx.drop_warn(
                "T215",
                p(f),
                "an ECS container definition has no such field",
                None,
            );
        }
    }
}

fn resources(cx: &mut Ctx<'_>, name: &str, s: &Service, c: &mut ContainerDefinition) {
    let p = |f: &str| format!("services.{name}.resources.{f}");
    let r = &s.resources;
    c.cpu = r.reserve_cpus.or(r.cpus).map(|x| x.ecs_units());
    if r.cpus.is_some() {
        cx.ledger.approximated(
            p("cpus"),
            if r.reserve_cpus.is_some() {
                "ECS cannot cap one container's cpu: the cpu units reserve reserve_cpus and weigh the container's share"
            } else {
                "ECS container cpu units reserve the cpus and weigh the container's share; they do not cap it"
            },
        );
    }
    if r.reserve_cpus.is_some() {
        cx.ledger.mapped(p("reserve_cpus"));
    }
    c.memory = r.memory.map(mib_ceil);
    c.memory_reservation = r.reserve_memory.map(mib_ceil);
    if r.memory.is_some() {
        cx.ledger.mapped(p("memory"));
    }
    if r.reserve_memory.is_some() {
        cx.ledger.mapped(p("reserve_memory"));
    }
    if !cx.fargate && c.memory.is_none() && c.memory_reservation.is_none() {
        // EC2 needs one of them; the placement solver sized the pool with this default.
        c.memory_reservation = Some(DEFAULT_MEMORY_MIB);
    }
    if r.pids.is_some() {
        cx.drop_warn(
            "T215",
            p("pids"),
            "ECS cannot limit a container's processes",
            None,
        );
    }
    if let Some(g) = r.gpus {
        if cx.fargate {
            cx.drop_warn(
                "T205",
                p("gpus"),
                "Fargate has no GPUs",
                Some("use the EC2 launch type with GPU instances"),
            );
        } else {
            c.resource_requirements.push(api::ResourceRequirement {
                kind: "GPU".into(),
                value: g.to_string(),
            });
            cx.ledger.approximated(
                p("gpus"),
                "the pool bridge sizes is of instance types with at least this many GPUs; the solver packs by cpu and memory only",
            );
        }
    }
}

fn health(cx: &mut Ctx<'_>, name: &str, s: &Service, c: &mut ContainerDefinition) {
    let Some(h) = &s.health else {
        return;
    };
    let p = |f: &str| format!("services.{name}.health.{f}");
    let mut hc = api::HealthCheck {
        command: h.test.0.clone(),
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    };
    cx.ledger.mapped(format!("services.{name}.health"));
    let clamp = |cx: &mut Ctx<'_>, f: &str, d: &Duration, lo: u64, hi: u64| -> u64 {
        let (v, changed) = clamp_secs(d, lo, hi);
        if changed {
            let why = format!("ECS takes whole seconds from {lo} to {hi}: {d} becomes {v}s");
            cx.ledger.approximated(p(f), why.clone());
            if d.secs_ceil() != v {
                cx.warn("T208", p(f), why, None);
            }
        } else {
            cx.ledger.mapped(p(f));
        }
        v
    };
    if let Some(d) = &h.interval {
        hc.interval = Some(clamp(cx, "interval", d, 5, 300));
    }
    if let Some(d) = &h.timeout {
        hc.timeout = Some(clamp(cx, "timeout", d, 2, 120));
    }
    if let Some(d) = &h.start_period {
        hc.start_period = Some(clamp(cx, "start_period", d, 0, 300));
    }
    if let Some(r) = h.retries {
        let v = u64::from(r).clamp(1, 10);
        if v != u64::from(r) {
            let why = format!("ECS takes 1 to 10 retries: {r} becomes {v}");
            cx.ledger.approximated(p("retries"), why.clone());
            cx.warn("T208", p("retries"), why, None);
        } else {
            cx.ledger.mapped(p("retries"));
        }
        hc.retries = Some(v);
    }
    if h.start_interval.is_some() {
        cx.drop_warn(
            "T215",
            p("start_interval"),
            "ECS health checks have no start interval: the interval applies from the start",
            None,
        );
    }
    c.health_check = Some(hc);
}

fn capabilities(cx: &mut Ctx<'_>, name: &str, s: &Service, c: &mut ContainerDefinition) {
    let norm = |v: &str| {
        let u = v.to_ascii_uppercase();
        u.strip_prefix("CAP_").map(str::to_string).unwrap_or(u)
    };
    let mut caps = api::KernelCapabilities::default();
    if !s.cap_add.is_empty() {
        let path = format!("services.{name}.cap_add");
        let (kept, lost): (Vec<String>, Vec<String>) = s
            .cap_add
            .iter()
            .map(|v| norm(v))
            .partition(|v| !cx.fargate || v == "SYS_PTRACE");
        caps.add = kept;
        if lost.is_empty() {
            cx.ledger.mapped(path);
        } else {
            let why = format!("Fargate adds only SYS_PTRACE, not {}", lost.join(", "));
            cx.ledger.approximated(path.clone(), why.clone());
            cx.warn("T205", path, why, Some("use the EC2 launch type"));
        }
    }
    if !s.cap_drop.is_empty() {
        caps.drop = s.cap_drop.iter().map(|v| norm(v)).collect();
        cx.ledger.mapped(format!("services.{name}.cap_drop"));
    }
    if caps != api::KernelCapabilities::default() {
        linux(c).capabilities = Some(caps);
    }
}

fn logging(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    name: &str,
    s: &Service,
    c: &mut ContainerDefinition,
) {
    let app = cx.app;
    let mut defaults = BTreeMap::from([
        (
            "awslogs-group".to_string(),
            aws.log_group
                .clone()
                .unwrap_or_else(|| format!("/bridge/{}", app.name)),
        ),
        ("awslogs-stream-prefix".to_string(), app.name.clone()),
    ]);
    if let Some(r) = &aws.region {
        defaults.insert("awslogs-region".into(), r.clone());
    }
    let supported = if cx.fargate {
        LOG_DRIVERS_FARGATE
    } else {
        LOG_DRIVERS_EC2
    };
    let path = format!("services.{name}.logging");
    let cfg = match &s.logging {
        None => api::LogConfiguration {
            log_driver: "awslogs".into(),
            options: defaults,
        },
        Some(l) => match l.driver.as_deref() {
            Some(d) if supported.contains(&d) => {
                let mut options = l.options.clone();
                if d == "awslogs" {
                    for (k, v) in defaults {
                        options.entry(k).or_insert(v);
                    }
                }
                cx.ledger.mapped(path);
                api::LogConfiguration {
                    log_driver: d.into(),
                    options,
                }
            }
            other => {
                let why = format!(
                    "ECS{} does not support the log driver `{}`: logs go to CloudWatch (awslogs)",
                    if cx.fargate { " on Fargate" } else { "" },
                    other.unwrap_or("default")
                );
                cx.ledger.approximated(path.clone(), why.clone());
                cx.warn(
                    "T217",
                    path,
                    why,
                    Some(&format!("use one of {}", supported.join(", "))),
                );
                api::LogConfiguration {
                    log_driver: "awslogs".into(),
                    options: defaults,
                }
            }
        },
    };
    c.log_configuration = Some(cfg);
}
