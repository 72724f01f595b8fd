//! `bridge export -p aws`: the services of a live ECS cluster (all, or the named ones), or the
//! services bridge deployed for an app (tagged `bridge.app`), read back into bridge.yaml. Each
//! service's task definition (DescribeTaskDefinition) goes through the ECS task definition
//! exporter ([`bridge_translators::export::ecs`]); the service's own fields are laid on top:
//! the desired count as `replicas`, DAEMON scheduling as `mode: global`, the deployment
//! configuration as `update` (the inverse of `translators/src/ecs/service.rs`), the launch type,
//! awsvpc networking (subnets, security groups, public IP) and placement. Every other set field
//! is an `X001` naming the service and the field. Secret values are never read: a task
//! definition names its secrets by ARN.

use std::collections::BTreeMap;

use bridge_core::model::{FailureAction, LaunchType, ServiceMode, UpdateOrder, UpdatePolicy};
use bridge_core::{Diagnostic, Diagnostics, Severity, codes};
use bridge_translators::ecs::TAG_APP;
use bridge_translators::export::{Export, dns_label};
use serde_json::{Value, json};

use super::{AwsDriver, ec2, ecs, ecs_tags, tag_of};
use crate::DriverError;

/// What to export.
#[derive(Debug, Clone)]
pub enum Select {
    /// The services of a cluster: every one, or the named ones.
    Cluster {
        /// The cluster name.
        cluster: String,
        /// Service names (empty: every service).
        services: Vec<String>,
    },
    /// The services bridge deployed for an app, in its cluster (default: the app name).
    App {
        /// The app name (`bridge.app` tag).
        app: String,
        /// The cluster, when the app named one (`providers.aws.cluster`).
        cluster: Option<String>,
    },
}

/// Fields ECS sets on a service itself: not part of an app.
const PROVIDER_SET: &[&str] = &[
    "serviceArn",
    "serviceName",
    "clusterArn",
    "status",
    "runningCount",
    "pendingCount",
    "deployments",
    "events",
    "createdAt",
    "createdBy",
    "taskSets",
    "roleArn",
    "platformFamily",
    "taskDefinition",
    "currentServiceDeployment",
    "currentServiceRevisions",
];

fn unreadable(msg: String, hint: &str) -> Diagnostics {
    Diagnostics(vec![
        Diagnostic::error(codes::EXPORT_UNREADABLE, msg).with_hint(hint.to_string()),
    ])
}

/// Diagnostics about one service's fields.
struct Said {
    service: String,
    diags: Vec<Diagnostic>,
}

impl Said {
    fn dropped(&mut self, field: &str, why: &str) {
        let path = format!("service/{}.{field}", self.service);
        self.diags.push(
            Diagnostic::new(
                Severity::Warning,
                codes::EXPORT_DROPPED,
                format!("`{path}` is not exported: {why}"),
            )
            .with_path(path),
        );
    }
    fn approximated(&mut self, field: &str, why: &str) {
        let path = format!("service/{}.{field}", self.service);
        self.diags.push(
            Diagnostic::new(
                Severity::Warning,
                codes::EXPORT_APPROXIMATED,
                format!("`{path}` is approximated: {why}"),
            )
            .with_path(path),
        );
    }
    fn note(&mut self, field: &str, why: &str) {
        let path = format!("service/{}.{field}", self.service);
        self.diags.push(
            Diagnostic::new(
                Severity::Note,
                codes::EXPORT_DROPPED,
                format!("`{path}` is not exported: {why}"),
            )
            .with_path(path),
        );
    }
}

fn set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(b) => *b,
        _ => true,
    }
}

/// Read the selected services and their task definitions, and export them as one app named
/// `name` (default: the app, else the cluster).
pub async fn export(
    d: &AwsDriver,
    sel: &Select,
    name: Option<&str>,
) -> Result<Result<Export, Diagnostics>, DriverError> {
    let (cluster, app) = match sel {
        Select::Cluster { cluster, .. } => (cluster.clone(), None),
        Select::App { app, cluster } => (
            cluster.clone().unwrap_or_else(|| app.clone()),
            Some(app.clone()),
        ),
    };
    let region = d.region().to_string();
    // The cluster first, so that a wrong name says so (ListServices of a missing cluster is an
    // error some endpoints answer with an empty list).
    let v = d
        .ecs(
            "DescribeClusters",
            &format!("cluster/{cluster}"),
            json!({"clusters": [cluster]}),
        )
        .await?;
    let active = v["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["clusterName"] == cluster.as_str() && c["status"] == "ACTIVE");
    if !active {
        return Ok(Err(unreadable(
            format!("no ECS cluster `{cluster}` in region {region}"),
            "give the cluster's name with --cluster (aws ecs list-clusters), and the region with AWS_REGION",
        )));
    }
    let mut services: Vec<Value> = match sel {
        Select::Cluster { services, .. } if !services.is_empty() => {
            let mut out = Vec::new();
            let mut missing = Vec::new();
            for chunk in services.chunks(10) {
                let v = ecs::describe_services(d, &cluster, chunk).await?;
                for want in chunk {
                    let found = v["services"].as_array().into_iter().flatten().find(|s| {
                        (s["serviceName"] == want.as_str() || s["serviceArn"] == want.as_str())
                            && s["status"] == "ACTIVE"
                    });
                    match found {
                        Some(s) => out.push(s.clone()),
                        None => missing.push(want.clone()),
                    }
                }
            }
            if !missing.is_empty() {
                return Ok(Err(unreadable(
                    format!(
                        "no active service {} in ECS cluster `{cluster}`",
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "list them with `aws ecs list-services --cluster CLUSTER`",
                )));
            }
            out
        }
        _ => ecs::services(d, &cluster)
            .await?
            .into_iter()
            .filter(|s| s["status"] == "ACTIVE")
            .collect(),
    };
    if let Some(a) = &app {
        services.retain(|s| tag_of(&ecs_tags(&s["tags"]), TAG_APP) == Some(a.as_str()));
    }
    if services.is_empty() {
        let msg = match &app {
            Some(a) => {
                format!("no active service of ECS cluster `{cluster}` is tagged {TAG_APP}={a}")
            }
            None => format!("ECS cluster `{cluster}` has no active service"),
        };
        return Ok(Err(unreadable(
            msg,
            "for an app whose cluster is not named after it, add --cluster NAME",
        )));
    }
    services.sort_by(|a, b| {
        a["serviceName"]
            .as_str()
            .unwrap_or_default()
            .cmp(b["serviceName"].as_str().unwrap_or_default())
    });

    // The task definition of each service, once per family.
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut family_of: BTreeMap<String, String> = BTreeMap::new(); // family -> service
    let mut kept: Vec<(Value, Vec<String>)> = Vec::new();
    let mut extra: Vec<Diagnostic> = Vec::new();
    for s in services {
        let sname = s["serviceName"].as_str().unwrap_or_default().to_string();
        let arn = s["taskDefinition"].as_str().unwrap_or_default().to_string();
        let (family, _) = ecs::family_of_arn(&arn);
        if let Some(other) = family_of.get(&family) {
            let mut said = Said {
                service: sname.clone(),
                diags: Vec::new(),
            };
            said.dropped(
                "taskDefinition",
                &format!(
                    "service `{other}` runs task definition family `{family}` too, and one bridge group is one ECS service: this service is not exported"
                ),
            );
            extra.extend(said.diags);
            continue;
        }
        let td = d
            .ecs(
                "DescribeTaskDefinition",
                &format!("task-definition/{family}"),
                json!({"taskDefinition": arn, "include": ["TAGS"]}),
            )
            .await?;
        let members: Vec<String> = td["taskDefinition"]["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .filter(|n| *n != "bridge-files")
            .map(dns_label)
            .collect();
        let file = format!("service/{sname} task-definition/{}", ecs::last_part(&arn));
        texts.push((file, serde_json::to_string_pretty(&td).unwrap_or_default()));
        family_of.insert(family, sname);
        kept.push((s, members));
    }
    let app_name = name
        .map(str::to_string)
        .or(app.clone())
        .unwrap_or_else(|| cluster.clone());
    let mut ex = match bridge_translators::export::ecs::task_definitions(&texts, Some(&app_name)) {
        Ok(e) => e,
        Err(ds) => return Ok(Err(ds)),
    };
    ex.diagnostics.0.extend(extra);
    let app_label = ex.app.name.clone();
    let own_sg = match &app {
        Some(a) => ec2::app_security_group(d, a).await?,
        None => None,
    };
    let mut defaults: Option<Vec<String>> = None;
    let mut net_from: Option<String> = None;
    let mut launch_from: Option<(String, bool)> = None;
    let mut aws = ex.app.providers.aws.clone().unwrap_or_default();
    for (s, members) in &kept {
        let mut said = Said {
            service: s["serviceName"].as_str().unwrap_or_default().to_string(),
            diags: Vec::new(),
        };
        let sname = said.service.clone();
        let daemon = s["schedulingStrategy"] == "DAEMON";
        let replicas = s["desiredCount"].as_u64().unwrap_or(1);
        let replicas = u32::try_from(replicas).unwrap_or(u32::MAX);
        let mut placement = bridge_core::model::Placement::default();
        let mut update: Option<UpdatePolicy> = None;
        let mut provider_set: Vec<&str> = Vec::new();
        let Some(obj) = s.as_object() else { continue };
        for (k, v) in obj {
            match k.as_str() {
                "desiredCount" | "schedulingStrategy" => {
                    if !matches!(v.as_str(), None | Some("REPLICA" | "DAEMON")) {
                        said.dropped(k, "bridge schedules REPLICA or DAEMON services");
                    }
                }
                // A strategy takes the launch type's place (ECS takes one or the other).
                "launchType" if set(&s["capacityProviderStrategy"]) => {}
                "launchType" => {
                    let fargate = match v.as_str() {
                        Some("FARGATE") => Some(true),
                        Some("EC2") => Some(false),
                        None => None,
                        Some(other) => {
                            said.dropped(
                                k,
                                &format!("bridge runs on EC2 or Fargate, not `{other}`"),
                            );
                            None
                        }
                    };
                    if let Some(f) = fargate {
                        launch(&mut aws, &mut launch_from, &mut said, k, f);
                    }
                }
                "capacityProviderStrategy" => {
                    let items: Vec<&Value> = v.as_array().into_iter().flatten().collect();
                    if items.is_empty() {
                        continue;
                    }
                    let fargate = items.iter().all(|i| {
                        matches!(
                            i["capacityProvider"].as_str(),
                            Some("FARGATE" | "FARGATE_SPOT")
                        )
                    });
                    if fargate {
                        said.approximated(
                            k,
                            "Fargate capacity providers are read as `launch_type: fargate`: their weights, base and Spot are not held",
                        );
                        launch(&mut aws, &mut launch_from, &mut said, k, true);
                    } else {
                        said.dropped(
                            k,
                            "bridge runs on its own container instances or on Fargate, not through an EC2 capacity provider",
                        );
                    }
                }
                "platformVersion" => {
                    if !matches!(v.as_str(), None | Some("LATEST")) {
                        said.dropped(k, "bridge runs Fargate's LATEST platform version");
                    }
                }
                "deploymentConfiguration" => {
                    update = update_of(&mut said, v, replicas, daemon);
                }
                "networkConfiguration" => {
                    if !set(v) {
                        continue;
                    }
                    let conf = &v["awsvpcConfiguration"];
                    for (ck, _) in v.as_object().into_iter().flatten() {
                        if ck != "awsvpcConfiguration" {
                            said.dropped(&format!("{k}.{ck}"), "bridge has no field for it");
                        }
                    }
                    let mut subnets: Vec<String> = strs(&conf["subnets"]);
                    let mut groups: Vec<String> = strs(&conf["securityGroups"]);
                    let public = conf["assignPublicIp"] == "ENABLED";
                    // What the driver fills in when the app names none: the default VPC's
                    // default subnets, and the app's own security group.
                    if !subnets.is_empty() {
                        if defaults.is_none() {
                            defaults = Some(ec2::default_subnets(d).await?);
                        }
                        let mut sorted = subnets.clone();
                        sorted.sort();
                        let mut def = defaults.clone().unwrap_or_default();
                        def.sort();
                        if sorted == def {
                            subnets.clear();
                        }
                    }
                    if let Some(sg) = &own_sg {
                        groups.retain(|g| g != sg);
                    }
                    match &net_from {
                        None => {
                            aws.subnets = subnets;
                            aws.security_groups = groups;
                            aws.assign_public_ip = public;
                            net_from = Some(sname.clone());
                        }
                        Some(first)
                            if aws.subnets != subnets
                                || aws.security_groups != groups
                                || aws.assign_public_ip != public =>
                        {
                            said.approximated(
                                k,
                                &format!(
                                    "one app has one awsvpc configuration (providers.aws): service `{first}`'s is used"
                                ),
                            );
                        }
                        Some(_) => {}
                    }
                    for (ck, _) in conf.as_object().into_iter().flatten() {
                        if !["subnets", "securityGroups", "assignPublicIp"].contains(&ck.as_str()) {
                            said.dropped(
                                &format!("{k}.awsvpcConfiguration.{ck}"),
                                "bridge has no field for it",
                            );
                        }
                    }
                }
                "placementStrategy" => {
                    for (i, p) in v.as_array().into_iter().flatten().enumerate() {
                        let field = p["field"].as_str().unwrap_or_default();
                        match (p["type"].as_str().unwrap_or_default(), field) {
                            ("binpack", "memory" | "MEMORY") if !daemon => {}
                            ("spread", "attribute:ecs.availability-zone") => {
                                placement.spread = Some("zone".into())
                            }
                            ("spread", "instanceId" | "host") => {
                                placement.spread = Some("host".into())
                            }
                            ("spread", f) if f.starts_with("attribute:") => {
                                placement.spread = Some(format!(
                                    "node.labels.{}",
                                    f.trim_start_matches("attribute:")
                                ))
                            }
                            _ => said.dropped(
                                &format!("{k}[{i}]"),
                                "bridge places by spread (zone, host, an attribute) and binpacks by memory",
                            ),
                        }
                    }
                }
                "placementConstraints" => {
                    for (i, p) in v.as_array().into_iter().flatten().enumerate() {
                        match p["type"].as_str().unwrap_or_default() {
                            "distinctInstance" => placement.max_per_host = Some(1),
                            "memberOf" => match member_of(p["expression"].as_str().unwrap_or_default()) {
                                Some(c) => placement.constraints.push(c),
                                None => said.dropped(
                                    &format!("{k}[{i}]"),
                                    "only `attribute:KEY == VALUE` and `!=` read back (as node.labels.KEY constraints)",
                                ),
                            },
                            _ => said.dropped(&format!("{k}[{i}]"), "bridge has no such constraint"),
                        }
                    }
                }
                "loadBalancers" => {
                    for (i, _) in v.as_array().into_iter().flatten().enumerate() {
                        said.dropped(
                            &format!("{k}[{i}]"),
                            "bridge has no load balancer field: attach the target group outside bridge",
                        );
                    }
                }
                "serviceRegistries" => {
                    for (i, r) in v.as_array().into_iter().flatten().enumerate() {
                        let f = format!("{k}[{i}]");
                        if app.is_some() {
                            said.note(&f, "bridge's own Cloud Map service for the group: deploying the app makes it again");
                        } else {
                            said.dropped(
                                &f,
                                &format!(
                                    "bridge registers each group in a Cloud Map service of its own (`GROUP.{app_label}.local`), it takes no registry ARN (`{}`)",
                                    r["registryArn"].as_str().unwrap_or_default()
                                ),
                            );
                        }
                    }
                }
                "healthCheckGracePeriodSeconds" => {
                    if v.as_u64().unwrap_or(0) != 0 {
                        said.dropped(k, "bridge has no grace period (the container health check's start_period is read from the task definition)");
                    }
                }
                "deploymentController" => {
                    if !matches!(v["type"].as_str(), None | Some("ECS")) {
                        said.dropped(k, "bridge deploys with ECS's rolling update controller");
                    }
                }
                "enableExecuteCommand" | "enableECSManagedTags" => {
                    if v.as_bool() == Some(true) {
                        said.dropped(k, "bridge has no field for it");
                    }
                }
                "propagateTags" => {
                    if !matches!(v.as_str(), None | Some("NONE" | "TASK_DEFINITION")) {
                        said.dropped(k, "bridge propagates the task definition's tags");
                    }
                }
                "availabilityZoneRebalancing" => {
                    if v.as_str() == Some("ENABLED") {
                        said.dropped(k, "bridge has no field for it");
                    }
                }
                "tags" => {
                    for (i, t) in v.as_array().into_iter().flatten().enumerate() {
                        if !t["key"].as_str().unwrap_or_default().starts_with("bridge.") {
                            said.dropped(
                                &format!("{k}[{i}]"),
                                "service tags are not part of the app",
                            );
                        }
                    }
                }
                p if PROVIDER_SET.contains(&p) => provider_set.push(p),
                _ => {
                    if set(v) {
                        said.dropped(k, "bridge has no field for it");
                    }
                }
            }
        }
        // Service Connect: ECS reports it on the primary deployment.
        let primary = s["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["status"] == "PRIMARY");
        if let Some(sc) = primary.map(|x| &x["serviceConnectConfiguration"])
            && set(sc)
            && sc["enabled"] != false
        {
            let ns = sc["namespace"].as_str().unwrap_or_default();
            if app.is_some() {
                said.note(
                    "serviceConnectConfiguration",
                    "bridge's own Service Connect settings (every group a client of the app's namespace): deploying the app makes them again",
                );
            } else {
                said.dropped(
                    "serviceConnectConfiguration",
                    &format!(
                        "bridge makes every group a Service Connect client of its own namespace `{app_label}.local` and serves each service's name on its ports; namespace `{ns}` and these endpoints are not read"
                    ),
                );
            }
        }
        if !provider_set.is_empty() {
            said.note(
                "*",
                &format!(
                    "set by ECS, not part of the app: {}",
                    provider_set.join(", ")
                ),
            );
        }
        // A service not named as bridge names its group's (`<app>-<group>`): its names, so
        // that a deploy finds it (and `--adopt` takes it over) instead of making another.
        if let Some(group) = members.iter().find_map(|m| {
            ex.app
                .services
                .get(m)
                .map(|s| s.group.clone().unwrap_or(m.clone()))
        }) {
            let family = ecs::family_of_arn(s["taskDefinition"].as_str().unwrap_or_default()).0;
            let default = format!("{app_label}-{group}");
            let names = bridge_core::model::AwsServiceNames {
                service_name: (sname != default).then(|| sname.clone()),
                family: (family != default && !family.is_empty()).then_some(family),
            };
            if names != bridge_core::model::AwsServiceNames::default() {
                aws.services.insert(group, names);
            }
        }
        for m in members {
            let Some(svc) = ex.app.services.get_mut(m) else {
                continue;
            };
            if daemon {
                svc.mode = ServiceMode::Global;
            } else {
                svc.replicas = replicas;
            }
            svc.update = update.clone();
            if placement != bridge_core::model::Placement::default() {
                svc.placement = placement.clone();
            }
        }
        ex.diagnostics.0.extend(said.diags);
    }
    if aws.launch_type == LaunchType::Fargate
        && ex
            .app
            .services
            .values()
            .any(|s| s.mode == ServiceMode::Global)
    {
        ex.diagnostics.0.push(
            Diagnostic::new(
                Severity::Warning,
                codes::EXPORT_APPROXIMATED,
                "a DAEMON service next to Fargate ones: one app has one launch type, and Fargate has no hosts for `mode: global`".to_string(),
            )
            .with_path("providers.aws.launch_type")
            .with_hint("export the Fargate and the EC2 services separately (--service)"),
        );
    }
    // bridge's default log configuration, as the driver renders it in this region, is no field.
    let default_logs = BTreeMap::from([
        ("awslogs-group".to_string(), format!("/bridge/{app_label}")),
        ("awslogs-region".to_string(), region.clone()),
        ("awslogs-stream-prefix".to_string(), app_label.clone()),
    ]);
    for s in ex.app.services.values_mut() {
        if s.logging
            .as_ref()
            .is_some_and(|l| l.driver.as_deref() == Some("awslogs") && l.options == default_logs)
        {
            s.logging = None;
        }
    }
    if cluster != app_label {
        aws.cluster = Some(cluster.clone());
    }
    aws.region = Some(region);
    ex.app.providers.aws = Some(aws);
    Ok(Ok(ex))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// The launch type a service runs with, into the app's (one per app).
fn launch(
    aws: &mut bridge_core::model::AwsOptions,
    from: &mut Option<(String, bool)>,
    said: &mut Said,
    field: &str,
    fargate: bool,
) {
    match from {
        None => {
            aws.launch_type = if fargate {
                LaunchType::Fargate
            } else {
                LaunchType::Ec2
            };
            *from = Some((said.service.clone(), fargate));
        }
        Some((first, f)) if *f != fargate => {
            let first = first.clone();
            said.approximated(
                field,
                &format!("one app has one launch type: service `{first}`'s is used"),
            );
        }
        Some(_) => {}
    }
}

/// `attribute:KEY == VALUE` (or `!=`) as the constraint `node.labels.KEY == VALUE`, the
/// inverse of the ECS translator's.
fn member_of(expr: &str) -> Option<String> {
    let (lhs, op, rhs) = if let Some((l, r)) = expr.split_once("==") {
        (l, "==", r)
    } else if let Some((l, r)) = expr.split_once("!=") {
        (l, "!=", r)
    } else {
        return None;
    };
    let key = lhs.trim().strip_prefix("attribute:")?;
    let value = rhs.trim().trim_matches('\'');
    if key.is_empty() || value.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("node.labels.{key} {op} {value}"))
}

/// The percentages the ECS translator writes for an update (`translators/src/ecs/service.rs`).
fn percentages(u: &UpdatePolicy, replicas: u32) -> (u64, u64) {
    let n = u64::from(replicas.max(1));
    let par = u64::from(u.parallelism.unwrap_or(0));
    let step = if par == 0 {
        100
    } else {
        (par * 100).div_ceil(n).min(100)
    };
    match u.order {
        Some(UpdateOrder::StartFirst) => (100, 100 + step),
        _ => {
            let healthy = if par == 0 || par >= n {
                0
            } else {
                ((n - par) * 100) / n
            };
            (healthy, 100)
        }
    }
}

/// A deployment configuration as `update`, the inverse of the ECS translator's: ECS's default
/// (100 % healthy, 200 % at most, no circuit breaker) is no update; `maximumPercent` above 100
/// with 100 % healthy is `start-first` with the parallelism its step gives, `maximumPercent`
/// 100 is `stop-first` with the parallelism `minimumHealthyPercent` leaves; the circuit
/// breaker is the failure action. Percentages bridge would not write back are `X002`.
fn update_of(said: &mut Said, v: &Value, replicas: u32, daemon: bool) -> Option<UpdatePolicy> {
    let k = "deploymentConfiguration";
    let mut u = UpdatePolicy::default();
    for (f, x) in v.as_object().into_iter().flatten() {
        match f.as_str() {
            "minimumHealthyPercent" | "maximumPercent" | "deploymentCircuitBreaker" => {}
            "alarms" => {
                if x["enable"] == true {
                    said.dropped(
                        &format!("{k}.alarms"),
                        "bridge has no CloudWatch alarms on a deployment",
                    );
                }
            }
            _ => {
                if set(x) {
                    said.dropped(&format!("{k}.{f}"), "bridge has no field for it");
                }
            }
        }
    }
    let cb = &v["deploymentCircuitBreaker"];
    if cb["enable"] == true {
        u.failure_action = Some(if cb["rollback"] == true {
            FailureAction::Rollback
        } else {
            FailureAction::Pause
        });
    }
    let min = v["minimumHealthyPercent"].as_u64();
    let max = v["maximumPercent"].as_u64();
    if daemon {
        // bridge writes no percentages for a daemon service: ECS's daemon defaults apply.
        if !matches!((min, max), (None | Some(0), None | Some(100))) {
            said.dropped(
                &format!("{k}.minimumHealthyPercent"),
                "bridge writes no percentages for a DAEMON service (ECS's defaults, 0 and 100, apply)",
            );
        }
    } else {
        let n = u64::from(replicas.max(1));
        let (lo, hi) = (min.unwrap_or(100), max.unwrap_or(200));
        if (lo, hi) != (100, 200) {
            if hi > 100 {
                u.order = Some(UpdateOrder::StartFirst);
                let step = (hi - 100).min(100);
                if step < 100 {
                    u.parallelism = Some(u32::try_from((step * n / 100).max(1)).unwrap_or(1));
                }
            } else {
                u.order = Some(UpdateOrder::StopFirst);
                let keep = (lo * n).div_ceil(100);
                if lo > 0 && keep < n {
                    u.parallelism = Some(u32::try_from(n - keep).unwrap_or(1));
                }
            }
            let back = percentages(&u, replicas);
            if back != (lo, hi) {
                said.approximated(
                    k,
                    &format!(
                        "minimumHealthyPercent {lo} / maximumPercent {hi} for {n} task(s) is read as update order {} with parallelism {}: rendered again, that is {} / {}",
                        if u.order == Some(UpdateOrder::StartFirst) { "start-first" } else { "stop-first" },
                        u.parallelism.map(|p| p.to_string()).unwrap_or_else(|| "all".into()),
                        back.0,
                        back.1
                    ),
                );
            }
        }
    }
    (u != UpdatePolicy::default()).then_some(u)
}
