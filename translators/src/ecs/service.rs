//! One long-running group as a CreateService body: desired count or daemon scheduling, placement
//! strategy and constraints, rolling-update settings and awsvpc networking.

use std::collections::{BTreeMap, BTreeSet};

use bridge_core::model::{
    AwsOptions, DependencyCondition, FailureAction, ServiceMode, UpdateOrder, UpdatePolicy,
};

use super::api::{self, PlacementConstraint, PlacementStrategy};
use super::{CloudMapService, Ctx, EcsService, hash_tag, on_aws, tags};

/// Services in dependency order (`after` first), ties by name; a cycle keeps name order. Each
/// round takes every service whose dependencies are done, so the cost is rounds x n log n.
pub(crate) fn order(services: Vec<EcsService>) -> Vec<EcsService> {
    // Waves of Kahn's algorithm: each wave is every service whose dependencies came in earlier
    // waves, in name order. Linear in the graph, where rescanning all services per wave was not.
    let known: BTreeSet<String> = services.iter().map(|s| s.group.clone()).collect();
    let mut left: BTreeMap<String, EcsService> =
        services.into_iter().map(|s| (s.group.clone(), s)).collect();
    let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (g, s) in &left {
        let deps: BTreeSet<&String> = s
            .after
            .iter()
            .filter(|a| known.contains(*a) && *a != g)
            .collect();
        waiting.insert(g.clone(), deps.len());
        for d in deps {
            dependents.entry(d.clone()).or_default().push(g.clone());
        }
    }
    let mut wave: Vec<String> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(g, _)| g.clone())
        .collect();
    let mut out = Vec::with_capacity(left.len());
    while !wave.is_empty() {
        let mut next = Vec::new();
        for g in wave {
            waiting.remove(&g);
            if let Some(s) = left.remove(&g) {
                out.push(s);
            }
            for w in dependents.get(&g).map(Vec::as_slice).unwrap_or_default() {
                if let Some(n) = waiting.get_mut(w) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        next.push(w.clone());
                    }
                }
            }
        }
        next.sort();
        wave = next;
    }
    // A cycle (validation rejects these): the rest in name order.
    out.extend(left.into_values());
    out
}

/// The ECS service for group `g`, or None when it cannot run as one (reported).
pub(crate) fn build(
    cx: &mut Ctx<'_>,
    aws: &AwsOptions,
    cluster: &str,
    g: &str,
    members: &[String],
    groups: &BTreeMap<String, Vec<String>>,
    td: &super::TaskDefinition,
) -> Option<EcsService> {
    let app = cx.app;
    let svcs: Vec<(&String, &bridge_core::model::Service)> = members
        .iter()
        .filter_map(|m| app.services.get(m).map(|s| (m, s)))
        .collect();
    let (_, first) = svcs.first()?;
    let global = svcs.iter().any(|(_, s)| s.mode == ServiceMode::Global);
    let replicas = first.replicas;
    for (m, s) in &svcs {
        if s.mode == ServiceMode::Global {
            if cx.fargate {
                cx.ledger.dropped(
                    format!("services.{m}.mode"),
                    "Fargate has no hosts to run one task on each",
                );
                cx.error(
                    "T206",
                    format!("services.{m}.mode"),
                    "mode global needs hosts: Fargate cannot run one task per host".into(),
                    Some("set providers.aws.launch_type: ec2, or use replicas"),
                );
            } else {
                cx.ledger.mapped(format!("services.{m}.mode"));
            }
        }
        if s.replicas != 1 || s.mode == ServiceMode::Replicated {
            if global {
                cx.ledger.dropped(
                    format!("services.{m}.replicas"),
                    "a daemon service runs one task per instance",
                );
            } else {
                cx.ledger.mapped(format!("services.{m}.replicas"));
            }
        }
    }
    let daemon = global && !cx.fargate;

    // Placement: every member's and the group's own.
    let mut strategies: Vec<PlacementStrategy> = Vec::new();
    let mut constraints: Vec<PlacementConstraint> = Vec::new();
    let mut distinct = false;
    let mut placements: Vec<(String, &bridge_core::model::Placement)> = svcs
        .iter()
        .map(|(m, s)| (format!("services.{m}.placement"), &s.placement))
        .collect();
    if let Some(gp) = app.groups.get(g) {
        placements.push((format!("groups.{g}.placement"), &gp.placement));
    }
    for (path, pl) in placements {
        if let Some(sp) = &pl.spread {
            let p = format!("{path}.spread");
            if cx.fargate {
                if sp == "zone" {
                    cx.ledger.approximated(
                        p,
                        "Fargate spreads tasks over the availability zones of the service's subnets by itself",
                    );
                } else {
                    cx.drop_warn(
                        "T205",
                        p,
                        "Fargate has no hosts or attributes to spread over",
                        None,
                    );
                }
            } else {
                let field = match sp.as_str() {
                    "zone" => Some("attribute:ecs.availability-zone".to_string()),
                    "host" => {
                        distinct = true;
                        Some("instanceId".to_string())
                    }
                    other => other
                        .strip_prefix("node.labels.")
                        .map(|l| format!("attribute:{l}")),
                };
                match field {
                    Some(f) => {
                        let s = PlacementStrategy {
                            kind: "spread".into(),
                            field: f,
                        };
                        if !strategies.contains(&s) {
                            strategies.push(s);
                        }
                        cx.ledger.mapped(p);
                    }
                    None => cx.drop_warn(
                        "T214",
                        p,
                        "ECS spreads over zone, host or an instance attribute (node.labels.KEY)",
                        None,
                    ),
                }
            }
        }
        for (i, con) in pl.constraints.iter().enumerate() {
            let p = format!("{path}.constraints[{i}]");
            if cx.fargate {
                cx.drop_warn("T205", p, "Fargate takes no placement constraints", None);
                continue;
            }
            match constraint(con) {
                Some(expr) => {
                    let c = PlacementConstraint {
                        kind: "memberOf".into(),
                        expression: Some(expr),
                    };
                    if !constraints.contains(&c) {
                        constraints.push(c);
                    }
                    cx.ledger.mapped(p);
                }
                None => cx.drop_warn(
                    "T214",
                    p,
                    "ECS matches instance attributes: only `node.labels.KEY == VALUE` and `!=` translate",
                    Some("label the instances with an attribute and write node.labels.KEY == VALUE"),
                ),
            }
        }
        if let Some(m) = pl.max_per_host {
            let p = format!("{path}.max_per_host");
            if cx.fargate {
                cx.ledger
                    .dropped(p, "Fargate tasks run on no host of yours");
            } else if m == 1 {
                distinct = true;
                cx.ledger.mapped(p);
            } else {
                cx.ledger.approximated(
                    p.clone(),
                    "ECS has no per-host limit above one: tasks are spread over instances, and the pool is sized with the limit",
                );
                let s = PlacementStrategy {
                    kind: "spread".into(),
                    field: "instanceId".into(),
                };
                if !strategies.contains(&s) {
                    strategies.push(s);
                }
            }
        }
    }
    if !cx.fargate {
        if distinct {
            constraints.push(PlacementConstraint {
                kind: "distinctInstance".into(),
                expression: None,
            });
        }
        if strategies.is_empty() && !daemon {
            strategies.push(PlacementStrategy {
                kind: "binpack".into(),
                field: "memory".into(),
            });
        }
    }
    if daemon {
        // Daemon services take no placement strategy.
        strategies.clear();
    }

    let deployment = deployment(cx, &svcs, replicas, daemon);

    let network_configuration = if cx.awsvpc && !aws.subnets.is_empty() {
        Some(api::NetworkConfiguration {
            awsvpc_configuration: api::AwsVpcConfiguration {
                subnets: aws.subnets.clone(),
                security_groups: aws.security_groups.clone(),
                assign_public_ip: if aws.assign_public_ip && cx.fargate {
                    "ENABLED".into()
                } else {
                    "DISABLED".into()
                },
            },
        })
    } else {
        None
    };
    let default_subnets = cx.awsvpc && aws.subnets.is_empty();
    if default_subnets {
        cx.warn(
            "T218",
            "providers.aws.subnets".into(),
            format!("group `{g}` uses awsvpc but no subnets are given: the driver uses the default VPC's subnets"),
            Some("set providers.aws.subnets (and security_groups)"),
        );
    }

    // Groups this one waits for (to exist and run; to be healthy for `condition: healthy`).
    let mut after: BTreeSet<String> = BTreeSet::new();
    let mut healthy_after: BTreeSet<String> = BTreeSet::new();
    for (_, s) in &svcs {
        for (dep, healthy) in s
            .depends_on
            .iter()
            .map(|d| (&d.service, d.condition == DependencyCondition::Healthy))
            .chain(s.links.iter().map(|l| (&l.service, false)))
        {
            if members.contains(dep) {
                continue;
            }
            if let Some(other) = app.services.get(dep)
                && on_aws(other.provider)
            {
                let og = super::group_of(dep, other);
                if groups.contains_key(&og) {
                    if healthy {
                        healthy_after.insert(og.clone());
                    }
                    after.insert(og);
                }
            }
        }
    }

    let (service_registries, discovery, service_connect_configuration) =
        registry(cx, g, &svcs, members, groups, td);

    let mut body = api::CreateService {
        cluster: cluster.to_string(),
        service_name: aws.service_name(&app.name, g),
        task_definition: td.body.family.clone(),
        desired_count: (!daemon).then_some(replicas),
        launch_type: cx.launch().into(),
        scheduling_strategy: if daemon { "DAEMON" } else { "REPLICA" }.into(),
        deployment_configuration: deployment,
        placement_constraints: constraints,
        placement_strategy: strategies,
        network_configuration,
        service_registries,
        service_connect_configuration,
        enable_execute_command: false,
        propagate_tags: "TASK_DEFINITION".into(),
        tags: tags(&app.name, &format!("service/{g}")),
    };
    let h = hash_tag(&body);
    body.tags.push(h);
    Some(EcsService {
        group: g.to_string(),
        after: after.into_iter().collect(),
        healthy_after: healthy_after.into_iter().collect(),
        default_subnets,
        discovery,
        body,
    })
}

/// A Cloud Map record type and, for SRV, the container and port it names; or why there is none.
type Record = Result<(&'static str, Option<(String, u16)>), String>;

/// Names across tasks, with the ledger lines and diagnostics of every name other tasks may use
/// for the group's services (their names, their network aliases, and the links of services in
/// other tasks that point here), so each name and what the ledger says of it come from one
/// place. Two native mechanisms, both in the app's Cloud Map namespace `<app>.local`:
///
/// Service Connect (the bare names): every ECS service of the app is a client of the namespace
/// (`serviceConnectConfiguration {enabled, namespace}`): ECS adds a proxy to each of its tasks,
/// on Fargate and on EC2 in bridge or awsvpc mode, that answers the namespace's client aliases
/// and forwards to the current tasks of the service that serves them, following replacements.
/// Each name of a member with TCP ports is served on each of them: one Service Connect service
/// per name and port (ECS takes exactly one client alias per entry), `portName` the task
/// definition's port mapping (every TCP mapping is named, see task::ports), `discoveryName`
/// `NAME-PORT` (unique in the namespace, as ECS requires), the client alias `{port: the container
/// port, dnsName: NAME}`, so `db:5432` reaches the `db` tasks. A name is served once in the app
/// ([`owner`]): ECS requires each name and port unique in the namespace. A member without a TCP
/// port has no endpoint (T227), nor do tasks run once with RunTask, which are no ECS service and
/// so no Service Connect client (T227).
///
/// The Cloud Map record (the fully qualified name `GROUP.<app>.local`, for clients outside
/// Service Connect): `serviceRegistries` registers the group's tasks in the group's Cloud Map
/// service: an A record per task with awsvpc; SRV records only in bridge network mode (the
/// instance's address and the task's host port, under the first port the group's services
/// publish, else expose), where the containers also get `<app>.local` as DNS search domain. A
/// bridge-mode group with no port has nothing for an SRV record to name and is not registered.
fn registry(
    cx: &mut Ctx<'_>,
    g: &str,
    svcs: &[(&String, &bridge_core::model::Service)],
    members: &[String],
    groups: &BTreeMap<String, Vec<String>>,
    td: &super::TaskDefinition,
) -> (
    Vec<api::ServiceRegistry>,
    Option<CloudMapService>,
    Option<api::ServiceConnectConfiguration>,
) {
    let app = cx.app;
    let ns = super::namespace_name(&app.name);
    let fqdn = format!("{g}.{ns}");
    // What the record is, or why there is none.
    let srv_port = svcs.iter().find_map(|(m, s)| {
        s.ports
            .first()
            .map(|p| p.container)
            .or_else(|| s.expose.first().copied())
            .map(|p| ((*m).clone(), p))
    });
    let one_shot = svcs.iter().all(|(_, s)| super::runs_once(s.restart));
    let record: Record = if one_shot {
        Err(format!(
            "group `{g}` runs once (RunTask) and is no ECS service: its tasks register no name, and are no Service Connect clients, so the bare names of other groups do not resolve from them"
        ))
    } else if cx.awsvpc {
        Ok(("A", None))
    } else {
        match srv_port {
            Some(cp) => Ok(("SRV", Some(cp))),
            None => Err(format!(
                "group `{g}` publishes or exposes no port: Service Connect serves names on ports, and in bridge network mode Cloud Map holds SRV records only, which name a port, so `{g}` does not resolve from other tasks"
            )),
        }
    };
    let fq = match &record {
        Ok(("A", _)) => format!("; also as `{fqdn}` (a Cloud Map A record per task)"),
        Ok(_) => format!("; also as `{fqdn}` to SRV lookups (a Cloud Map SRV record per task)"),
        Err(_) => String::new(),
    };
    // Each member's named TCP port mappings, as the task definition has them.
    let tcp = |m: &str| -> Vec<(String, u16)> {
        td.body
            .container_definitions
            .iter()
            .filter(|c| c.name == m)
            .flat_map(|c| c.port_mappings.iter())
            .filter(|p| p.protocol == "tcp")
            .filter_map(|p| p.name.clone().map(|n| (n, p.container_port)))
            .collect()
    };
    let mut endpoints: Vec<api::ServiceConnectService> = Vec::new();
    let mut serve = |cx: &mut Ctx<'_>, name: &str, ports: &[(String, u16)]| {
        serve_name(cx, groups, &mut endpoints, name, ports)
    };
    let unreached = if one_shot {
        "the group runs once (RunTask): no ECS service, so no Service Connect endpoint".to_string()
    } else {
        String::new()
    };
    for (m, s) in svcs {
        let ports = tcp(m);
        let path = format!("services.{m}.name");
        // Reached by name from another task: a name that does not resolve is warned of.
        let reached = app.services.iter().any(|(c, cs)| {
            !members.contains(c)
                && (cs.depends_on.iter().any(|d| &d.service == *m)
                    || cs.links.iter().any(|l| &l.service == *m))
        });
        let served = if one_shot {
            Err(unreached.clone())
        } else {
            serve(cx, m, &ports)
        };
        match served {
            Ok(p) => cx.ledger.claimed(
                path,
                crate::claims::Claim::RegistersServiceNames,
                format!("resolves as `{m}` from every task of the app's ECS services on port {p}: a Service Connect client alias, which the proxy ECS adds to each task forwards to the current tasks, following replacements; other ports do not, nor do tasks run once (RunTask){fq}"),
            ),
            Err(why) if m.as_str() == g && !fq.is_empty() => {
                let r = format!("{why}: the bare name `{m}` does not resolve from other tasks{fq}");
                cx.ledger.claimed(
                    path.clone(),
                    crate::claims::Claim::RegistersServiceNames,
                    r.clone(),
                );
                if reached {
                    cx.warn("T227", path, r, Some("publish or expose the TCP port the service listens on"));
                }
            }
            Err(why) => {
                let r = format!("`{m}` does not resolve from other tasks: {why}");
                if reached && !one_shot {
                    cx.drop_warn("T227", path, &r, Some("publish or expose the TCP port the service listens on"));
                } else {
                    cx.ledger.dropped(path, &r);
                }
            }
        }
        if s.aliases.is_empty() {
            continue;
        }
        let mut missing = Vec::new();
        for a in &s.aliases {
            let r = match owner(app, a) {
                _ if one_shot => Err(unreached.clone()),
                Some(o) if o == m.as_str() => serve(cx, a, &ports),
                Some(o) => Err(format!("`{o}` is reached as `{a}` already")),
                None => Err("no service runs as an ECS service to serve it".to_string()),
            };
            if let Err(why) = r {
                missing.push(format!("`{a}` ({why})"));
            }
        }
        let path = format!("services.{m}.aliases");
        if missing.is_empty() {
            cx.ledger.claimed(
                path,
                crate::claims::Claim::RegistersServiceNames,
                "each resolves from every task of the app's ECS services, as a Service Connect client alias on the service's TCP ports",
            );
        } else {
            cx.drop_warn(
                "T227",
                path,
                &format!("these aliases do not resolve from other tasks: {}", missing.join(", ")),
                Some("publish or expose the TCP port the service listens on, and give each alias to one service"),
            );
        }
    }
    // Links from services in other tasks that point here.
    for (c, cs) in &app.services {
        if !on_aws(cs.provider) || members.contains(c) {
            continue;
        }
        if !groups.contains_key(&super::group_of(c, cs)) {
            continue;
        }
        for (i, l) in cs.links.iter().enumerate() {
            if !members.contains(&l.service) {
                continue;
            }
            let path = format!("services.{c}.links[{i}]");
            let name = l.alias.as_deref().unwrap_or(&l.service);
            let ports = tcp(&l.service);
            let r = match owner(app, name) {
                _ if one_shot => Err(unreached.clone()),
                Some(o) if o != l.service => Err(format!("`{name}` is `{o}`'s name already")),
                None => Err("no service runs as an ECS service to serve it".to_string()),
                // The service's own name and its aliases are served above.
                Some(_)
                    if name == l.service
                        || app.services[&l.service].aliases.iter().any(|a| a == name) =>
                {
                    if ports.is_empty() {
                        Err("the linked service publishes or exposes no TCP port".to_string())
                    } else {
                        Ok(())
                    }
                }
                Some(_) => serve(cx, name, &ports).map(|_| ()),
            };
            match r {
                Ok(()) => cx.ledger.claimed(
                    path,
                    crate::claims::Claim::RegistersServiceNames,
                    format!("resolves as `{name}` from every task of the app's ECS services (a Service Connect client alias: app-wide, not only from `{c}`)"),
                ),
                Err(why) => cx.drop_warn(
                    "T211",
                    path,
                    &format!("the link reaches another task, where `{name}` does not resolve: {why}"),
                    Some("link by the service's name, or put both services in one group"),
                ),
            }
        }
    }
    let connect = (!one_shot).then(|| api::ServiceConnectConfiguration {
        enabled: true,
        namespace: ns.clone(),
        services: endpoints,
    });
    let (kind, container) = match record {
        Ok(r) => r,
        Err(why) => {
            // A group without a port: its names are reported above, where another task reaches them.
            if one_shot {
                cx.warn(
                    "T227",
                    format!("groups.{g}"),
                    why,
                    Some(
                        "run it as a service (restart: always) to reach other groups by bare name",
                    ),
                );
            }
            return (Vec::new(), None, connect);
        }
    };
    let input = super::discovery_arn_input(g);
    let reg = api::ServiceRegistry {
        registry_arn: format!("${{{input}}}"),
        container_name: container.as_ref().map(|(c, _)| c.clone()),
        container_port: container.as_ref().map(|(_, p)| *p),
    };
    let mut body = serde_json::json!({
        "Name": g,
        "DnsConfig": {
            "RoutingPolicy": "MULTIVALUE",
            "DnsRecords": [{"Type": kind, "TTL": 10}],
        },
        "HealthCheckCustomConfig": {"FailureThreshold": 1},
        "Tags": [
            {"Key": super::TAG_APP, "Value": app.name},
            {"Key": super::TAG_COMPONENT, "Value": format!("discovery/{g}")},
        ],
    });
    let h = bridge_core::hash::spec_hash(&body);
    // The description repeats the tags for observe (see `discovery_description`); like the
    // hash tag it is not part of what is hashed.
    body["Description"] = super::discovery_description(&app.name, g, &h).into();
    if let Some(t) = body["Tags"].as_array_mut() {
        t.push(serde_json::json!({"Key": super::TAG_SPEC_HASH, "Value": h}));
    }
    (
        vec![reg],
        Some(CloudMapService {
            group: g.to_string(),
            input,
            body,
        }),
        connect,
    )
}

/// The service that serves `name` in the app's namespace (ECS requires each client alias
/// unique there): the service of that name, else the first (by name) with it as network alias,
/// else the target of the first link in another task with it as alias; only services that run
/// as ECS services on AWS.
fn owner<'a>(app: &'a bridge_core::model::App, name: &str) -> Option<&'a str> {
    let serves =
        |s: &bridge_core::model::Service| on_aws(s.provider) && !super::runs_once(s.restart);
    if let Some((k, s)) = app.services.get_key_value(name)
        && serves(s)
    {
        return Some(k);
    }
    if let Some((k, _)) = app
        .services
        .iter()
        .find(|(_, s)| serves(s) && s.aliases.iter().any(|a| a == name))
    {
        return Some(k);
    }
    app.services
        .iter()
        .filter(|(_, s)| on_aws(s.provider))
        .flat_map(|(c, s)| s.links.iter().map(move |l| (c, s, l)))
        .find(|(c, s, l)| {
            l.alias.as_deref() == Some(name)
                && app.services.get(&l.service).is_some_and(|t| {
                    serves(t) && super::group_of(c, s) != super::group_of(&l.service, t)
                })
        })
        .map(|(_, _, l)| l.service.as_str())
}

/// Serve `name` on each of `ports` (port name, container port): one Service Connect service
/// each. Returns the ports as the ledger says them, or why the name cannot be served.
fn serve_name(
    cx: &mut Ctx<'_>,
    groups: &BTreeMap<String, Vec<String>>,
    endpoints: &mut Vec<api::ServiceConnectService>,
    name: &str,
    ports: &[(String, u16)],
) -> Result<String, String> {
    if ports.is_empty() {
        return Err(
            "it publishes or exposes no TCP port, and Service Connect serves names on ports".into(),
        );
    }
    let dns = name.to_ascii_lowercase();
    let valid = dns.len() <= 127
        && !dns.starts_with('-')
        && dns
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(format!(
            "`{name}` is no Service Connect name (letters, digits, `_`, `-` and `.`, up to 127, not starting with `-`)"
        ));
    }
    let mut new = Vec::new();
    for (port_name, port) in ports {
        let discovery = super::task::port_name(&format!("{dns}-{port}"));
        // Unique in the namespace: not another endpoint's, nor a group's Cloud Map service.
        if groups.contains_key(&discovery) || !cx.discovery_names.insert(discovery.clone()) {
            return Err(format!(
                "its Service Connect discovery name `{discovery}` is taken in the namespace"
            ));
        }
        new.push(api::ServiceConnectService {
            port_name: port_name.clone(),
            discovery_name: discovery,
            client_aliases: vec![api::ServiceConnectClientAlias {
                port: *port,
                dns_name: dns.clone(),
            }],
        });
    }
    endpoints.extend(new);
    let list: Vec<String> = ports.iter().map(|(_, p)| p.to_string()).collect();
    Ok(if list.len() == 1 {
        list[0].clone()
    } else {
        format!("s {}", list.join(", "))
    })
}

/// `node.labels.K == V` as `attribute:K == V` (and `!=`).
pub fn constraint(c: &str) -> Option<String> {
    let (lhs, op, rhs) = if let Some((l, r)) = c.split_once("==") {
        (l, "==", r)
    } else if let Some((l, r)) = c.split_once("!=") {
        (l, "!=", r)
    } else {
        return None;
    };
    let key = lhs.trim().strip_prefix("node.labels.")?;
    let value = rhs.trim().trim_matches(|ch| ch == '"' || ch == '\'');
    if key.is_empty() || value.is_empty() {
        return None;
    }
    let value = if value.contains(char::is_whitespace) {
        format!("'{value}'")
    } else {
        value.to_string()
    };
    Some(format!("attribute:{key} {op} {value}"))
}

fn deployment(
    cx: &mut Ctx<'_>,
    svcs: &[(&String, &bridge_core::model::Service)],
    replicas: u32,
    daemon: bool,
) -> Option<api::DeploymentConfiguration> {
    let mut chosen: Option<&UpdatePolicy> = None;
    for (m, s) in svcs {
        if let Some(u) = &s.update {
            let p = format!("services.{m}.update");
            match chosen {
                None => {
                    chosen = Some(u);
                    ledger_update(cx, &p, u);
                }
                Some(c) if c == u => ledger_update(cx, &p, u),
                Some(_) => cx.ledger.approximated(
                    p,
                    "the group's task is updated as one: the first service's update policy is used",
                ),
            }
        }
        if s.rollback.is_some() {
            cx.ledger.approximated(
                format!("services.{m}.rollback"),
                "ECS rolls back with the deployment's own settings and circuit breaker",
            );
        }
    }
    let u = chosen?;
    let mut d = api::DeploymentConfiguration::default();
    if !daemon {
        let n = u64::from(replicas.max(1));
        let par = u64::from(u.parallelism.unwrap_or(0));
        let step = if par == 0 {
            100
        } else {
            (par * 100).div_ceil(n).min(100)
        };
        match u.order {
            Some(UpdateOrder::StartFirst) => {
                d.minimum_healthy_percent = Some(100);
                d.maximum_percent = Some(100 + step);
            }
            _ => {
                let healthy = if par == 0 || par >= n {
                    0
                } else {
                    ((n - par) * 100) / n
                };
                d.minimum_healthy_percent = Some(healthy);
                d.maximum_percent = Some(100);
            }
        }
    }
    d.deployment_circuit_breaker = match u.failure_action {
        Some(FailureAction::Rollback) => Some(api::DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
        }),
        Some(FailureAction::Pause) => Some(api::DeploymentCircuitBreaker {
            enable: true,
            rollback: false,
        }),
        Some(FailureAction::Continue) => Some(api::DeploymentCircuitBreaker {
            enable: false,
            rollback: false,
        }),
        None => None,
    };
    Some(d)
}

fn ledger_update(cx: &mut Ctx<'_>, p: &str, u: &UpdatePolicy) {
    if u.parallelism.is_some() {
        cx.ledger.approximated(
            format!("{p}.parallelism"),
            "ECS rolls by percentages of the desired count: minimumHealthyPercent and maximumPercent are derived from it",
        );
    }
    if u.order.is_some() {
        cx.ledger.mapped(format!("{p}.order"));
    }
    match u.failure_action {
        Some(FailureAction::Rollback) | Some(FailureAction::Continue) => {
            cx.ledger.mapped(format!("{p}.failure_action"));
        }
        Some(FailureAction::Pause) => cx.ledger.approximated(
            format!("{p}.failure_action"),
            "the circuit breaker stops the failed deployment without rolling back; ECS cannot resume it",
        ),
        None => {}
    }
    if u.max_failure_ratio.is_some() {
        cx.ledger.approximated(
            format!("{p}.max_failure_ratio"),
            "ECS's circuit breaker uses its own failure threshold",
        );
    }
    for (f, set) in [
        ("delay", u.delay.is_some()),
        ("monitor", u.monitor.is_some()),
    ] {
        if set {
            cx.drop_warn(
                "T215",
                format!("{p}.{f}"),
                "ECS rolling updates take no delay or monitor period",
                None,
            );
        }
    }
    if u == &UpdatePolicy::default() {
        cx.ledger.mapped(p.to_string());
    }
}
