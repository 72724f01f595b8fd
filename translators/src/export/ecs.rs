//! ECS task definitions (a RegisterTaskDefinition body, or what `aws ecs
//! describe-task-definition` prints) read back into services: the inverse of
//! [`crate::ecs`]'s container and task mapping. Several task definitions make one app: a task
//! with one container is a service, one with more is a group of services.

use std::collections::BTreeMap;

use bridge_core::App;
use bridge_core::Diagnostics;
use bridge_core::model::{
    AwsOptions, Command, Dependency, DependencyCondition, Env, Group, Health, HealthTest,
    LaunchType, Link, Logging, Mount, MountKind, Port, PortMode, Protocol, RestartPolicy, Secret,
    SecretRef, Service, Ulimit, Version, Volume,
};
use bridge_core::node::Node;
use bridge_core::units::{ByteSize, Cpus, Duration};

use super::{Export, Reader, dns_label, finish, join, parse};

/// Fields ECS itself sets on a registered task definition (describe-task-definition output).
const PROVIDER_SET: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// One task definition as read, before it joins the app.
struct Task {
    family: String,
    app_tag: Option<String>,
    fargate: bool,
    network_mode: String,
    cpu: Option<(u64, Node)>,
    memory: Option<(u64, Node)>,
    containers: Vec<(String, Service, Node)>,
    volumes: BTreeMap<String, Volume>,
    efs: BTreeMap<String, String>,
    task_role_arn: Option<String>,
    execution_role_arn: Option<String>,
    platform: Option<String>,
    secrets: BTreeMap<String, String>,
}

/// Export task definitions (`(file name, text)` each) as one app named `name` (default: the
/// `bridge.app` tag, else the first family).
pub fn task_definitions(
    files: &[(String, String)],
    name: Option<&str>,
) -> Result<Export, Diagnostics> {
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for (file, text) in files {
        let root = parse(file, text)?;
        let mut r = Reader::new(file);
        let t = task(&mut r, &root);
        all.extend(r.diags);
        if let Some(t) = t {
            tasks.push((file.clone(), root, t));
        }
    }
    let mut r = Reader::new(files.first().map(|f| f.0.as_str()).unwrap_or(""));
    r.diags = all;
    if r.has_errors() || tasks.is_empty() {
        return Err(Diagnostics(r.diags));
    }
    let app_name = name
        .map(str::to_string)
        .or_else(|| tasks.iter().find_map(|t| t.2.app_tag.clone()))
        .unwrap_or_else(|| tasks[0].2.family.clone());
    let app_name = dns_label(&app_name);
    let mut app = App {
        bridge: Version::V1,
        name: app_name.clone(),
        services: BTreeMap::new(),
        vms: BTreeMap::new(),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
        configs: BTreeMap::new(),
        networks: BTreeMap::new(),
        groups: BTreeMap::new(),
        providers: Default::default(),
        files: Default::default(),
        move_: None,
    };
    let mut aws = AwsOptions::default();
    let fargate = tasks[0].2.fargate;
    for (file, root, t) in tasks {
        r.file = file.into();
        if t.fargate != fargate {
            r.fail(
                "requiresCompatibilities",
                &root,
                "these task definitions mix Fargate and EC2, and one bridge app has one ECS launch type".into(),
                Some("export the Fargate and the EC2 task definitions separately"),
            );
            continue;
        }
        let group = t
            .family
            .strip_prefix(&format!("{app_name}-"))
            .map(str::to_string)
            .unwrap_or_else(|| t.family.clone());
        let group = dns_label(&group);
        let grouped = t.containers.len() > 1 || t.containers.first().is_some_and(|c| c.0 != group);
        if grouped {
            app.groups.insert(group.clone(), Group::default());
        }
        // The task size: bridge sizes a Fargate task from its containers' reservations; a lone
        // container without its own takes the task's, so the size survives.
        let mut containers = t.containers;
        if let [(_, s, _)] = containers.as_mut_slice() {
            if let Some((c, n)) = &t.cpu
                && s.resources.reserve_cpus.is_none()
                && s.resources.cpus.is_none()
            {
                s.resources.reserve_cpus = Some(cpus_from_units(*c));
                r.approximated(
                    "cpu",
                    n,
                    "the task's cpu is read as its lone container's `reserve_cpus`: rendered again, the container carries it too",
                );
            }
            if let Some((m, n)) = &t.memory
                && s.resources.memory.is_none()
                && s.resources.reserve_memory.is_none()
            {
                s.resources.memory = Some(ByteSize(m * 1024 * 1024));
                r.approximated(
                    "memory",
                    n,
                    "the task's memory is read as its lone container's `memory`: rendered again, the container carries it too",
                );
            }
        } else {
            for (f, v) in [("cpu", &t.cpu), ("memory", &t.memory)] {
                if let Some((_, n)) = v {
                    r.approximated(
                        f,
                        n,
                        "bridge sizes a task from its containers' cpu and memory (the smallest Fargate size that holds them)",
                    );
                }
            }
        }
        if t.fargate {
            aws.launch_type = LaunchType::Fargate;
        } else if t.network_mode == "awsvpc" {
            r.approximated(
                "networkMode",
                root.get("networkMode").unwrap_or(&root),
                "bridge runs EC2 tasks with bridge networking: the container ports are published on the same host ports",
            );
        }
        for (name, mut s, at) in containers {
            if grouped {
                s.group = Some(group.clone());
            }
            if let Some(p) = &t.platform {
                s.platform = Some(p.clone());
            }
            if app.services.contains_key(&name) {
                r.fail(
                    "containerDefinitions",
                    &at,
                    format!("a container named `{name}` is in two of these task definitions"),
                    Some("export them separately, or rename one"),
                );
                continue;
            }
            app.services.insert(name, s);
        }
        for (k, mut v) in t.volumes {
            // bridge names task volumes `<app>_<volume>`.
            let key = match k.strip_prefix(&format!("{app_name}_")) {
                Some(rest) if !rest.is_empty() => {
                    v.name = None;
                    rest.to_string()
                }
                _ => k.clone(),
            };
            if let Some(fs) = t.efs.get(&k) {
                aws.efs.insert(key.clone(), fs.clone());
            }
            // Mounts name the task volume; rename them to the neutral key.
            for s in app.services.values_mut() {
                for m in &mut s.volumes {
                    if m.kind == MountKind::Volume && m.source.as_deref() == Some(&k) {
                        m.source = Some(key.clone());
                    }
                }
            }
            app.volumes.insert(key, v);
        }
        for (k, arn) in t.secrets {
            app.secrets.insert(
                k.clone(),
                Secret {
                    external: true,
                    ..Secret::default()
                },
            );
            aws.secrets.insert(k, arn);
        }
        for (slot, v) in [
            (&mut aws.task_role_arn, t.task_role_arn),
            (&mut aws.execution_role_arn, t.execution_role_arn),
        ] {
            if v.is_some() {
                *slot = v;
            }
        }
    }
    // The log configuration bridge renders by default (awslogs to `/bridge/<app>`) is no field.
    let defaults = BTreeMap::from([
        ("awslogs-group".to_string(), format!("/bridge/{}", app.name)),
        ("awslogs-stream-prefix".to_string(), app.name.clone()),
    ]);
    for s in app.services.values_mut() {
        if s.logging
            .as_ref()
            .is_some_and(|l| l.driver.as_deref() == Some("awslogs") && l.options == defaults)
        {
            s.logging = None;
        }
    }
    app.providers.aws = Some(aws);
    // An address reference the task definitions keep for the driver (`${vms.db.address}`)
    // names a component no task definition holds: said, so the app can be completed.
    for (n, s) in &app.services {
        for (k, v) in &s.env.0 {
            for (rf, _) in bridge_core::refs::scan(v) {
                if let bridge_core::refs::Ref::Address { kind, name } = rf {
                    let (what, known) = match kind {
                        bridge_core::refs::RefKind::Vms => ("vms", app.vms.contains_key(name)),
                        bridge_core::refs::RefKind::Services => {
                            ("services", app.services.contains_key(name))
                        }
                    };
                    if !known {
                        r.diags.push(
                            bridge_core::Diagnostic::new(
                                bridge_core::Severity::Warning,
                                bridge_core::codes::EXPORT_DROPPED,
                                format!("`services.{n}.env.{k}` names `{what}.{name}`, deployed elsewhere: a task definition does not hold it, so the app must get it (add the {what} entry, or export its task definition too)"),
                            )
                            .with_path(format!("services.{n}.env.{k}"))
                            .with_file(r.file.clone()),
                        );
                    }
                }
            }
        }
    }
    finish(r, app)
}

/// The name of bridge's init container that writes project files (relative binds).
const FILES_INIT: &str = "bridge-files";
fn task(r: &mut Reader, root: &Node) -> Option<Task> {
    // describe-task-definition wraps the body: {"taskDefinition": {...}, "tags": [...]}.
    let (body, tags) = match root.get("taskDefinition") {
        Some(b) => {
            for (k, kn, _) in r.map("", root)? {
                if k != "taskDefinition" && k != "tags" {
                    r.dropped(&k, kn, "not part of a task definition");
                }
            }
            (b, root.get("tags"))
        }
        None => (root, None),
    };
    let base = if std::ptr::eq(body, root) {
        ""
    } else {
        "taskDefinition"
    };
    let entries = r.map(base, body)?;
    let mut t = Task {
        family: String::new(),
        app_tag: None,
        fargate: false,
        network_mode: "bridge".into(),
        cpu: None,
        memory: None,
        containers: Vec::new(),
        volumes: BTreeMap::new(),
        efs: BTreeMap::new(),
        task_role_arn: None,
        execution_role_arn: None,
        platform: None,
        secrets: BTreeMap::new(),
    };
    let mut defs = None;
    let mut vols = None;
    let mut tag_nodes: Vec<(String, &Node)> =
        tags.map(|n| ("tags".to_string(), n)).into_iter().collect();
    for (k, kn, v) in &entries {
        let path = join(base, k);
        match k.as_str() {
            "family" => t.family = r.str(&path, v)?,
            "containerDefinitions" => defs = Some((path, *v)),
            "volumes" => vols = Some((path, *v)),
            "taskRoleArn" => t.task_role_arn = Some(r.str(&path, v)?),
            "executionRoleArn" => t.execution_role_arn = Some(r.str(&path, v)?),
            "networkMode" => {
                let m = r.str(&path, v)?;
                match m.as_str() {
                    "bridge" | "awsvpc" => {}
                    "host" => r.approximated(
                        &path,
                        v,
                        "host networking becomes bridge networking with each container port published on the same host port",
                    ),
                    other => r.dropped(&path, v, &format!("bridge has no ECS network mode `{other}`")),
                }
                t.network_mode = m;
            }
            "requiresCompatibilities" => {
                for (i, c) in r.strs(&path, v)?.iter().enumerate() {
                    match c.as_str() {
                        "FARGATE" => t.fargate = true,
                        "EC2" => {}
                        other => r.dropped(
                            &format!("{path}[{i}]"),
                            v,
                            &format!("bridge runs on EC2 or Fargate, not `{other}`"),
                        ),
                    }
                }
            }
            "cpu" => t.cpu = Some((r.uint(&path, v)?, (*v).clone())),
            "memory" => t.memory = Some((r.uint(&path, v)?, (*v).clone())),
            "runtimePlatform" => {
                let m = r.str_map(&path, v)?;
                let arch = match m.get("cpuArchitecture").map(String::as_str) {
                    Some("X86_64") | None => "amd64",
                    Some("ARM64") => "arm64",
                    Some(_) => "",
                };
                match m.get("operatingSystemFamily").map(String::as_str) {
                    Some("LINUX") | None if !arch.is_empty() => {
                        t.platform = Some(format!("linux/{arch}"))
                    }
                    _ => r.dropped(&path, v, "bridge runs linux/amd64 and linux/arm64 tasks"),
                }
            }
            "placementConstraints" | "inferenceAccelerators" | "proxyConfiguration" => {
                if !r.seq(&path, v).unwrap_or_default().is_empty() || v.as_map().is_some() {
                    r.dropped(&path, v, "bridge's placement decides where tasks run");
                }
            }
            "tags" => tag_nodes.push((path, *v)),
            p if PROVIDER_SET.contains(&p) => r.provider_set(&path, kn),
            _ => r.dropped(&path, kn, "bridge has no field for it"),
        }
    }
    for (path, n) in tag_nodes {
        for (i, tag) in r.seq(&path, n)?.iter().enumerate() {
            let tp = format!("{path}[{i}]");
            let m = r.str_map(&tp, tag)?;
            match (m.get("key"), m.get("value")) {
                (Some(k), Some(v)) if k == "bridge.app" => t.app_tag = Some(v.clone()),
                (Some(k), _) if k.starts_with("bridge.") => {}
                _ => r.dropped(&tp, tag, "task definition tags are not part of the app"),
            }
        }
    }
    let Some((dpath, defs)) = defs else {
        r.fail(
            base,
            body,
            "not an ECS task definition: `containerDefinitions` is missing".into(),
            Some("give a RegisterTaskDefinition body or `aws ecs describe-task-definition` output"),
        );
        return None;
    };
    if t.family.is_empty() {
        r.fail(
            base,
            body,
            "the task definition has no `family`".into(),
            Some("ECS requires a family: add one"),
        );
        return None;
    }
    let awsvpc = t.network_mode == "awsvpc" || t.network_mode == "host";
    let mut task_vols: BTreeMap<String, (Volume, Option<String>)> = BTreeMap::new();
    if let Some((vpath, vn)) = vols {
        for (i, v) in r.seq(&vpath, vn)?.iter().enumerate() {
            let p = format!("{vpath}[{i}]");
            if let Some((name, vol, host)) = volume(r, &p, v, &mut t.efs) {
                task_vols.insert(name, (vol, host));
            }
        }
    }
    let defs_seq = r.seq(&dpath, defs)?;
    if defs_seq.is_empty() {
        r.fail(
            &dpath,
            defs,
            "the task definition has no containers".into(),
            None,
        );
        return None;
    }
    let mut used = std::collections::BTreeSet::new();
    for (i, c) in defs_seq.iter().enumerate() {
        let p = format!("{dpath}[{i}]");
        if let Some((name, s)) = container(r, &p, c, awsvpc, &task_vols, &mut t.secrets) {
            if name == FILES_INIT {
                // bridge's own init container carries the project files of relative binds
                // (`translators/src/ecs/task.rs`): the files are not written back.
                r.approximated(
                    &p,
                    c,
                    "bridge's project-file init container: not exported as a service; its consumers keep host-path binds under /var/lib/bridge/files, the files it carries are not written back (put them beside the app as relative binds)",
                );
                continue;
            }
            for m in &s.volumes {
                if let Some(src) = &m.source {
                    used.insert(src.clone());
                }
            }
            t.containers.push((name, s, c.clone()));
        }
    }
    for (_, s, _) in t.containers.iter_mut() {
        s.depends_on.retain(|d| d.service != FILES_INIT);
    }
    for (name, (vol, host)) in task_vols {
        if host.is_none() && used.contains(&name) && !name.contains("-anon-") {
            t.volumes.insert(name, vol);
        }
    }
    Some(t)
}

/// A task volume: its name, the neutral volume, and the host path of a bind volume.
fn volume(
    r: &mut Reader,
    path: &str,
    v: &Node,
    efs: &mut BTreeMap<String, String>,
) -> Option<(String, Volume, Option<String>)> {
    let mut name = None;
    let mut vol = Volume::default();
    let mut host = None;
    for (k, kn, val) in r.map(path, v)? {
        let p = join(path, &k);
        match k.as_str() {
            "name" => name = Some(r.str(&p, val)?),
            "host" => {
                for (hk, hkn, hv) in r.map(&p, val)? {
                    if hk == "sourcePath" {
                        host = Some(r.str(&join(&p, &hk), hv)?);
                    } else {
                        r.dropped(&join(&p, &hk), hkn, "bridge has no field for it");
                    }
                }
            }
            "dockerVolumeConfiguration" => {
                for (dk, dkn, dv) in r.map(&p, val)? {
                    let dp = join(&p, &dk);
                    match dk.as_str() {
                        "scope" => {
                            if r.str(&dp, dv)? != "shared" {
                                r.approximated(
                                    &dp,
                                    dv,
                                    "a named volume outlives its task (scope: shared)",
                                );
                            }
                        }
                        "autoprovision" => vol.external = !r.bool(&dp, dv)?,
                        "driver" => {
                            let d = r.str(&dp, dv)?;
                            if d != "local" {
                                vol.driver = Some(d);
                            }
                        }
                        "driverOpts" => vol.driver_opts = r.str_map(&dp, dv)?,
                        "labels" => vol.labels = r.str_map(&dp, dv)?,
                        _ => r.dropped(&dp, dkn, "bridge has no field for it"),
                    }
                }
            }
            "efsVolumeConfiguration" => {
                let mut fs = None;
                for (ek, ekn, ev) in r.map(&p, val)? {
                    let ep = join(&p, &ek);
                    match ek.as_str() {
                        "fileSystemId" => fs = Some(r.str(&ep, ev)?),
                        "transitEncryption" => {
                            if r.str(&ep, ev)? != "ENABLED" {
                                r.approximated(
                                    &ep,
                                    ev,
                                    "bridge always encrypts EFS traffic in transit",
                                );
                            }
                        }
                        _ => r.dropped(&ep, ekn, "bridge names only the EFS file system"),
                    }
                }
                if let (Some(fs), Some(n)) = (fs, &name) {
                    efs.insert(n.clone(), fs);
                }
            }
            _ => r.dropped(&p, kn, "bridge has no field for it"),
        }
    }
    let Some(name) = name else {
        r.fail(
            path,
            v,
            format!("`{path}` has no `name`"),
            Some("ECS requires every task volume to be named"),
        );
        return None;
    };
    vol.name = Some(name.clone());
    Some((name, vol, host))
}

/// The smallest thousandths of a CPU whose ECS units are `units` (the inverse of
/// [`Cpus::ecs_units`]); the nearest when none is exact.
pub fn cpus_from_units(units: u64) -> Cpus {
    let m = units * 1000 / 1024;
    for c in [m, m + 1] {
        if Cpus(c).ecs_units() == units {
            return Cpus(c);
        }
    }
    Cpus(m.max(1))
}

fn secs(n: u64) -> Duration {
    Duration(n * 1_000_000_000)
}

fn container(
    r: &mut Reader,
    path: &str,
    c: &Node,
    awsvpc: bool,
    vols: &BTreeMap<String, (Volume, Option<String>)>,
    secrets: &mut BTreeMap<String, String>,
) -> Option<(String, Service)> {
    let entries = r.map(path, c)?;
    let mut s = Service {
        replicas: 1,
        ..Service::default()
    };
    let mut name = None;
    let mut essential = true;
    for (k, kn, v) in entries {
        let p = join(path, &k);
        match k.as_str() {
            "name" => name = Some(r.str(&p, v)?),
            "image" => s.image = r.str(&p, v)?,
            "command" => s.command = Some(Command(r.strs(&p, v)?)),
            "entryPoint" => s.entrypoint = Some(Command(r.strs(&p, v)?)),
            "environment" => {
                let mut env = BTreeMap::new();
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let m = r.str_map(&format!("{p}[{i}]"), e)?;
                    match (m.get("name"), m.get("value")) {
                        (Some(n), val) => {
                            env.insert(n.clone(), val.cloned().unwrap_or_default());
                        }
                        _ => r.fail(
                            &format!("{p}[{i}]"),
                            e,
                            "an environment entry without `name`".into(),
                            None,
                        ),
                    }
                }
                s.env = Env(env);
            }
            "secrets" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let sp = format!("{p}[{i}]");
                    let m = r.str_map(&sp, e)?;
                    let (Some(var), Some(arn)) = (m.get("name"), m.get("valueFrom")) else {
                        r.fail(&sp, e, "a secret needs `name` and `valueFrom`".into(), None);
                        continue;
                    };
                    let key = secret_key(var);
                    secrets.insert(key.clone(), arn.clone());
                    s.secrets.push(SecretRef {
                        name: key,
                        env: Some(var.clone()),
                        ..SecretRef::default()
                    });
                }
            }
            "portMappings" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    if let Some(pt) = port(r, &format!("{p}[{i}]"), e, awsvpc) {
                        s.ports.push(pt);
                    }
                }
            }
            "essential" => essential = r.bool(&p, v)?,
            "cpu" => {
                let u = r.uint(&p, v)?;
                if u > 0 {
                    let c = cpus_from_units(u);
                    if c.ecs_units() != u {
                        r.approximated(
                            &p,
                            v,
                            &format!(
                                "{u} cpu units are {c} cpus, which ECS rounds to {} units",
                                c.ecs_units()
                            ),
                        );
                    }
                    s.resources.reserve_cpus = Some(c);
                }
            }
            "memory" => s.resources.memory = Some(ByteSize(r.uint(&p, v)? * 1024 * 1024)),
            "memoryReservation" => {
                s.resources.reserve_memory = Some(ByteSize(r.uint(&p, v)? * 1024 * 1024))
            }
            "links" => {
                for l in r.strs(&p, v)? {
                    let (svc, alias) = match l.split_once(':') {
                        Some((a, b)) => (a.to_string(), Some(b.to_string())),
                        None => (l.clone(), None),
                    };
                    s.links.push(Link {
                        service: dns_label(&svc),
                        alias,
                    });
                }
            }
            "dependsOn" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let dp = format!("{p}[{i}]");
                    let m = r.str_map(&dp, e)?;
                    let Some(svc) = m.get("containerName") else {
                        r.fail(&dp, e, "a dependency without `containerName`".into(), None);
                        continue;
                    };
                    let condition = match m.get("condition").map(String::as_str) {
                        Some("START") | None => DependencyCondition::Started,
                        Some("HEALTHY") => DependencyCondition::Healthy,
                        Some("SUCCESS") => DependencyCondition::CompletedSuccessfully,
                        Some("COMPLETE") => {
                            r.approximated(
                                &dp,
                                e,
                                "COMPLETE (any exit) becomes completed_successfully (exit 0)",
                            );
                            DependencyCondition::CompletedSuccessfully
                        }
                        Some(other) => {
                            r.fail(
                                &dp,
                                e,
                                format!("unknown dependency condition `{other}`"),
                                Some("ECS takes START, COMPLETE, SUCCESS or HEALTHY"),
                            );
                            continue;
                        }
                    };
                    s.depends_on.push(Dependency {
                        service: dns_label(svc),
                        condition,
                        restart: false,
                        required: true,
                    });
                }
            }
            "mountPoints" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let mp = format!("{p}[{i}]");
                    let mut src = None;
                    let mut target = None;
                    let mut ro = false;
                    for (mk, mkn, mv) in r.map(&mp, e)? {
                        match mk.as_str() {
                            "sourceVolume" => src = Some(r.str(&join(&mp, &mk), mv)?),
                            "containerPath" => target = Some(r.str(&join(&mp, &mk), mv)?),
                            "readOnly" => ro = r.bool(&join(&mp, &mk), mv)?,
                            _ => r.dropped(&join(&mp, &mk), mkn, "bridge has no field for it"),
                        }
                    }
                    let (Some(src), Some(target)) = (src, target) else {
                        r.fail(
                            &mp,
                            e,
                            "a mount point needs `sourceVolume` and `containerPath`".into(),
                            None,
                        );
                        continue;
                    };
                    let Some((_, host)) = vols.get(&src) else {
                        r.fail(&mp, e, format!("the mount point names the volume `{src}`, which the task does not define"), Some("add it to the task's `volumes`"));
                        continue;
                    };
                    let m = match host {
                        Some(h) => Mount {
                            kind: MountKind::Bind,
                            source: Some(h.clone()),
                            target,
                            read_only: ro,
                            size: None,
                        },
                        None if src.contains("-anon-") => Mount {
                            kind: MountKind::Volume,
                            source: None,
                            target,
                            read_only: ro,
                            size: None,
                        },
                        None => Mount {
                            kind: MountKind::Volume,
                            source: Some(src),
                            target,
                            read_only: ro,
                            size: None,
                        },
                    };
                    s.volumes.push(m);
                }
            }
            "linuxParameters" => linux(r, &p, v, &mut s)?,
            "healthCheck" => {
                let mut h = Health::default();
                for (hk, hkn, hv) in r.map(&p, v)? {
                    let hp = join(&p, &hk);
                    match hk.as_str() {
                        "command" => h.test = HealthTest(r.strs(&hp, hv)?),
                        "interval" => h.interval = Some(secs(r.uint(&hp, hv)?)),
                        "timeout" => h.timeout = Some(secs(r.uint(&hp, hv)?)),
                        "startPeriod" => h.start_period = Some(secs(r.uint(&hp, hv)?)),
                        "retries" => {
                            h.retries = Some(u32::try_from(r.uint(&hp, hv)?).unwrap_or(u32::MAX))
                        }
                        _ => r.dropped(&hp, hkn, "bridge has no field for it"),
                    }
                }
                if h.test.0.is_empty() {
                    r.fail(&p, v, "a health check without `command`".into(), None);
                }
                s.health = Some(h);
            }
            "stopTimeout" => s.stop_grace_period = Some(secs(r.uint(&p, v)?)),
            "user" => s.user = Some(r.str(&p, v)?),
            "workingDirectory" => s.working_dir = Some(r.str(&p, v)?),
            "hostname" => s.hostname = Some(r.str(&p, v)?),
            "privileged" => s.privileged = r.bool(&p, v)?,
            "readonlyRootFilesystem" => s.read_only = r.bool(&p, v)?,
            "interactive" => s.stdin_open = r.bool(&p, v)?,
            "pseudoTerminal" => s.tty = r.bool(&p, v)?,
            "dnsServers" => s.dns = r.strs(&p, v)?,
            "dnsSearchDomains" => s.dns_search = r.strs(&p, v)?,
            "dockerLabels" => s.labels = r.str_map(&p, v)?,
            "extraHosts" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let m = r.str_map(&format!("{p}[{i}]"), e)?;
                    if let (Some(h), Some(ip)) = (m.get("hostname"), m.get("ipAddress")) {
                        s.extra_hosts.insert(h.clone(), ip.clone());
                    }
                }
            }
            "systemControls" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let m = r.str_map(&format!("{p}[{i}]"), e)?;
                    if let (Some(n), Some(val)) = (m.get("namespace"), m.get("value")) {
                        s.sysctls.insert(n.clone(), val.clone());
                    }
                }
            }
            "ulimits" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let up = format!("{p}[{i}]");
                    let (mut n, mut soft, mut hard) = (None, 0, 0);
                    for (uk, ukn, uv) in r.map(&up, e)? {
                        match uk.as_str() {
                            "name" => n = Some(r.str(&join(&up, &uk), uv)?),
                            "softLimit" => soft = r.int(&join(&up, &uk), uv)?,
                            "hardLimit" => hard = r.int(&join(&up, &uk), uv)?,
                            _ => r.dropped(&join(&up, &uk), ukn, "bridge has no field for it"),
                        }
                    }
                    if let Some(n) = n {
                        s.ulimits.insert(n, Ulimit { soft, hard });
                    }
                }
            }
            "logConfiguration" => {
                let mut l = Logging::default();
                for (lk, lkn, lv) in r.map(&p, v)? {
                    let lp = join(&p, &lk);
                    match lk.as_str() {
                        "logDriver" => l.driver = Some(r.str(&lp, lv)?),
                        "options" => l.options = r.str_map(&lp, lv)?,
                        _ => r.dropped(
                            &lp,
                            lkn,
                            "bridge has no field for it (secret log options are not read back)",
                        ),
                    }
                }
                s.logging = Some(l);
            }
            "resourceRequirements" => {
                for (i, e) in r.seq(&p, v)?.iter().enumerate() {
                    let rp = format!("{p}[{i}]");
                    let m = r.str_map(&rp, e)?;
                    match (m.get("type").map(String::as_str), m.get("value")) {
                        (Some("GPU"), Some(n)) if n.parse::<u32>().is_ok() => {
                            s.resources.gpus = n.parse().ok()
                        }
                        _ => r.dropped(&rp, e, "bridge reserves GPUs only"),
                    }
                }
            }
            // An empty list (describe-task-definition prints `volumesFrom: []`) holds nothing.
            _ if v.as_seq().is_some_and(|x| x.is_empty()) => {}
            _ => r.dropped(&p, kn, "bridge has no field for it"),
        }
    }
    if !essential {
        s.restart = RestartPolicy::Never;
    }
    let Some(raw) = name else {
        r.fail(
            path,
            c,
            format!("`{path}` has no `name`"),
            Some("ECS requires a name for every container"),
        );
        return None;
    };
    // A port name bridge writes by default (every TCP port is named, for Service Connect) is
    // no name of the app's.
    for pt in &mut s.ports {
        let proto = if pt.protocol == Protocol::Udp {
            "udp"
        } else {
            "tcp"
        };
        if pt.name.as_deref()
            == Some(crate::ecs::default_port_name(&raw, pt.container, proto).as_str())
        {
            pt.name = None;
        }
    }
    let name = dns_label(&raw);
    if name != raw {
        r.approximated(
            &join(path, "name"),
            c.get("name").unwrap_or(c),
            &format!("the container `{raw}` is the service `{name}`: bridge names are DNS labels"),
        );
    }
    if s.image.is_empty() {
        r.fail(
            path,
            c,
            format!("`{path}` (container `{name}`) has no `image`"),
            Some("ECS requires an image for every container"),
        );
        return None;
    }
    Some((name, s))
}

/// The neutral secret name for the environment variable ECS injects.
fn secret_key(var: &str) -> String {
    dns_label(var)
}

fn port(r: &mut Reader, path: &str, e: &Node, awsvpc: bool) -> Option<Port> {
    let mut pt = Port::default();
    let mut container = None;
    let mut host = None;
    for (k, kn, v) in r.map(path, e)? {
        let p = join(path, &k);
        match k.as_str() {
            "containerPort" => container = Some(r.uint(&p, v)?),
            "hostPort" => host = Some(r.uint(&p, v)?),
            "protocol" => {
                pt.protocol = match r.str(&p, v)?.as_str() {
                    "udp" => Protocol::Udp,
                    _ => Protocol::Tcp,
                }
            }
            "name" => pt.name = Some(r.str(&p, v)?),
            "appProtocol" => pt.app_protocol = Some(r.str(&p, v)?),
            _ => r.dropped(&p, kn, "bridge has no field for it"),
        }
    }
    let Some(c) = container
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c > 0)
    else {
        r.fail(
            path,
            e,
            format!("`{path}` has no valid `containerPort`"),
            Some("ECS requires a container port from 1 to 65535"),
        );
        return None;
    };
    pt.container = c;
    pt.published = match host {
        Some(0) => None,
        Some(h) => u16::try_from(h).ok(),
        None if awsvpc => Some(c),
        None => None,
    };
    // ECS publishes on the host that runs the task: no routing mesh.
    if pt.published.is_some() {
        pt.mode = PortMode::Host;
    }
    Some(pt)
}

fn linux(r: &mut Reader, path: &str, v: &Node, s: &mut Service) -> Option<()> {
    for (k, kn, val) in r.map(path, v)? {
        let p = join(path, &k);
        match k.as_str() {
            "initProcessEnabled" => s.init = r.bool(&p, val)?,
            "sharedMemorySize" => s.shm_size = Some(ByteSize(r.uint(&p, val)? * 1024 * 1024)),
            "capabilities" => {
                for (ck, ckn, cv) in r.map(&p, val)? {
                    match ck.as_str() {
                        "add" => s.cap_add = r.strs(&join(&p, &ck), cv)?,
                        "drop" => s.cap_drop = r.strs(&join(&p, &ck), cv)?,
                        _ => r.dropped(&join(&p, &ck), ckn, "bridge has no field for it"),
                    }
                }
            }
            "devices" => {
                for (i, d) in r.seq(&p, val)?.iter().enumerate() {
                    let dp = format!("{p}[{i}]");
                    let (mut host, mut cont, mut perms) = (String::new(), None, String::new());
                    for (dk, dkn, dv) in r.map(&dp, d)? {
                        match dk.as_str() {
                            "hostPath" => host = r.str(&join(&dp, &dk), dv)?,
                            "containerPath" => cont = Some(r.str(&join(&dp, &dk), dv)?),
                            "permissions" => {
                                for x in r.strs(&join(&dp, &dk), dv)? {
                                    perms.push(match x.as_str() {
                                        "read" => 'r',
                                        "write" => 'w',
                                        _ => 'm',
                                    });
                                }
                            }
                            _ => r.dropped(&join(&dp, &dk), dkn, "bridge has no field for it"),
                        }
                    }
                    let mut d = host;
                    if let Some(c) = cont {
                        d = format!("{d}:{c}");
                        if !perms.is_empty() {
                            d = format!("{d}:{perms}");
                        }
                    }
                    s.devices.push(d);
                }
            }
            "tmpfs" => {
                for (i, t) in r.seq(&p, val)?.iter().enumerate() {
                    let tp = format!("{p}[{i}]");
                    let mut m = Mount {
                        kind: MountKind::Tmpfs,
                        ..Mount::default()
                    };
                    for (tk, tkn, tv) in r.map(&tp, t)? {
                        match tk.as_str() {
                            "containerPath" => m.target = r.str(&join(&tp, &tk), tv)?,
                            "size" => {
                                m.size = Some(ByteSize(r.uint(&join(&tp, &tk), tv)? * 1024 * 1024))
                            }
                            "mountOptions" => {
                                let o = r.strs(&join(&tp, &tk), tv)?;
                                m.read_only = o.iter().any(|x| x == "ro");
                                if o.iter().any(|x| x != "ro") {
                                    r.dropped(
                                        &join(&tp, &tk),
                                        tv,
                                        "bridge keeps only the `ro` tmpfs option",
                                    );
                                }
                            }
                            _ => r.dropped(&join(&tp, &tk), tkn, "bridge has no field for it"),
                        }
                    }
                    s.volumes.push(m);
                }
            }
            _ => r.dropped(&p, kn, "bridge has no field for it"),
        }
    }
    Some(())
}
