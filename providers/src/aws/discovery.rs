//! Cloud Map (`servicediscovery`): the app's private DNS namespace `<app>.local` (on the VPC of
//! `providers.aws.subnets`, else the default VPC) and one Cloud Map service per ECS service,
//! which ECS registers the service's tasks in (`serviceRegistries`), so every group's name
//! resolves from every task to its current tasks. Both are tagged `bridge.app`,
//! `bridge.component` and `bridge.spec-hash`, found by observe (the namespace by its name and
//! tag, the services by their namespace and the description that repeats those tags, 100 to a
//! ListServices call) and deleted by destroy. A Cloud Map service's
//! ARN is the late-bound input `discovery.GROUP.arn` that its ECS service reads.

use std::time::{Duration, Instant};

use bridge_core::plan::{Action, Current, ResourceId, Step};
use bridge_translators::ecs::{self as tr, TAG_APP, TAG_COMPONENT, TAG_SPEC_HASH};
use serde_json::{Value, json};

use super::{
    AwsDriver, RANK_DISCOVERY, RANK_NAMESPACE, Svc, component_id, ec2, err, kv_tags, tag_of,
};
use crate::{DriverError, ErrorKind};

async fn call(d: &AwsDriver, op: &str, res: &str, body: Value) -> Result<Value, DriverError> {
    d.client
        .json(Svc::Discovery, op, &body)
        .await
        .map_err(|e| e.into_driver(op, res))
}

async fn tags(d: &AwsDriver, res: &str, arn: &str) -> Result<Vec<(String, String)>, DriverError> {
    let v = call(d, "ListTagsForResource", res, json!({"ResourceARN": arn})).await?;
    Ok(kv_tags(&v["Tags"]))
}

/// Every page of a Cloud Map list call: the items under `key`.
async fn list_all(
    d: &AwsDriver,
    op: &str,
    body: Value,
    key: &str,
) -> Result<Vec<Value>, DriverError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut b = body.clone();
        if let Some(t) = &token {
            b["NextToken"] = json!(t);
        }
        let v = call(d, op, "-", b).await?;
        out.extend(v[key].as_array().cloned().unwrap_or_default());
        token = v["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Wait for a Cloud Map operation (namespace create and delete are asynchronous) to succeed.
async fn wait_operation(d: &AwsDriver, res: &str, id: &str) -> Result<Value, DriverError> {
    let start = Instant::now();
    loop {
        let v = call(d, "GetOperation", res, json!({"OperationId": id})).await?;
        let op = &v["Operation"];
        match op["Status"].as_str().unwrap_or_default() {
            "SUCCESS" => return Ok(op.clone()),
            "FAIL" => {
                return Err(err(
                    res,
                    ErrorKind::Other,
                    format!(
                        "Cloud Map operation {id} failed: {} {}",
                        op["ErrorCode"].as_str().unwrap_or_default(),
                        op["ErrorMessage"].as_str().unwrap_or_default()
                    ),
                ));
            }
            _ if start.elapsed() > d.delete_timeout => {
                return Err(err(
                    res,
                    ErrorKind::Timeout,
                    format!("Cloud Map operation {id} did not finish in time"),
                )
                .with_hint("raise BRIDGE_AWS_DELETE_SECONDS, or look at the operation with aws servicediscovery get-operation"));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// A Cloud Map service's fields bridge sets, as Cloud Map reports them (name, DNS records,
/// routing policy, custom health check).
fn stored_spec(svc: &Value) -> Value {
    json!({
        "Name": svc["Name"],
        "DnsConfig": {
            "RoutingPolicy": svc["DnsConfig"]["RoutingPolicy"],
            "DnsRecords": svc["DnsConfig"]["DnsRecords"],
        },
        "HealthCheckCustomConfig": svc["HealthCheckCustomConfig"],
    })
}

/// Every private DNS namespace named `<app>.local` (one per VPC at most): id, ARN and tags.
async fn namespaces_named(
    d: &AwsDriver,
    app: &str,
) -> Result<Vec<(String, String, Vec<(String, String)>)>, DriverError> {
    let name = tr::namespace_name(app);
    let list = list_all(
        d,
        "ListNamespaces",
        json!({"MaxResults": 100, "Filters": [{"Name": "TYPE", "Values": ["DNS_PRIVATE"], "Condition": "EQ"}]}),
        "Namespaces",
    )
    .await?;
    let mut out = Vec::new();
    for n in list {
        if n["Name"].as_str() != Some(name.as_str()) {
            continue;
        }
        let (Some(id), Some(arn)) = (n["Id"].as_str(), n["Arn"].as_str()) else {
            continue;
        };
        let t = tags(d, &format!("namespace/{app}"), arn).await?;
        out.push((id.to_string(), arn.to_string(), t));
    }
    Ok(out)
}

/// The app's namespace (`<app>.local`, tagged for the app): its id, ARN and tags. A namespace
/// of that name that is not tagged for the app is not the app's.
pub(super) async fn namespace(
    d: &AwsDriver,
    app: &str,
) -> Result<Option<(String, String, Vec<(String, String)>)>, DriverError> {
    Ok(namespaces_named(d, app)
        .await?
        .into_iter()
        .find(|(_, _, t)| tag_of(t, TAG_APP) == Some(app)))
}

/// The namespace and the Cloud Map services in it that are the app's; a service's handle is
/// its ARN, and its spec the fields bridge sets as Cloud Map reports them (name, DNS records,
/// routing policy, custom health check).
pub(super) async fn observe(d: &AwsDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let mut out = Vec::new();
    let Some((ns, _, ns_tags)) = namespace(d, app).await? else {
        return Ok(out);
    };
    out.push(Current {
        id: ResourceId::new("namespace", app),
        spec_hash: tag_of(&ns_tags, TAG_SPEC_HASH).map(str::to_string),
        spec: None,
        handle: ns.clone(),
        rank: RANK_NAMESPACE,
        opaque: Vec::new(),
    });
    let services = list_all(
        d,
        "ListServices",
        json!({"MaxResults": 100, "Filters": [{"Name": "NAMESPACE_ID", "Values": [ns], "Condition": "EQ"}]}),
        "Services",
    )
    .await?;
    for s in services {
        let Some(sid) = s["Id"].as_str() else {
            continue;
        };
        // bridge's own description carries what the tags do (the summaries carry no tags, and
        // on AWS no namespace, which the NAMESPACE_ID filter stands for): no call per service.
        // A service without it (made by hand, or before bridge wrote one) is read as before:
        // the service itself for its namespace, then its tags.
        let described = s["Description"]
            .as_str()
            .and_then(tr::parse_discovery_description);
        let (svc, arn, owner, component, hash) = match described {
            Some((owner, component, hash)) => (
                s.clone(),
                s["Arn"].as_str().unwrap_or_default().to_string(),
                owner.to_string(),
                component.to_string(),
                Some(hash.to_string()),
            ),
            None => {
                let v = call(d, "GetService", "discovery/*", json!({"Id": sid})).await?;
                let svc = v["Service"].clone();
                if svc["NamespaceId"].as_str() != Some(ns.as_str()) {
                    continue;
                }
                let arn = svc["Arn"].as_str().unwrap_or_default().to_string();
                let t = tags(d, "discovery/*", &arn).await?;
                let (Some(owner), Some(component)) =
                    (tag_of(&t, TAG_APP), tag_of(&t, TAG_COMPONENT))
                else {
                    continue;
                };
                let (owner, component) = (owner.to_string(), component.to_string());
                (
                    svc,
                    arn,
                    owner,
                    component,
                    tag_of(&t, TAG_SPEC_HASH).map(str::to_string),
                )
            }
        };
        if owner != app {
            continue;
        }
        let Some(id) = component_id(&component).filter(|id| id.kind == "discovery") else {
            continue;
        };
        out.push(Current {
            id,
            spec_hash: hash,
            spec: Some(stored_spec(&svc)),
            handle: arn,
            rank: RANK_DISCOVERY,
            opaque: vec!["Tags".into(), "Description".into()],
        });
    }
    Ok(out)
}

/// The namespace: CreatePrivateDnsNamespace on the app's VPC (with a request id from the spec,
/// so a rerun after a kill does not make a second one) and wait for the operation; one that
/// exists already only gets its tags; delete: DeleteNamespace, waiting while its services are
/// still being deleted.
pub(super) async fn apply_namespace(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    if step.action == Action::Delete {
        let Some(id) = &step.handle else {
            return Ok(());
        };
        let start = Instant::now();
        loop {
            match d
                .client
                .json(Svc::Discovery, "DeleteNamespace", &json!({"Id": id}))
                .await
            {
                Ok(v) => {
                    if let Some(op) = v["OperationId"].as_str() {
                        wait_operation(d, &res, op).await?;
                    }
                    return Ok(());
                }
                Err(e) if e.is(&["NamespaceNotFound"]) => return Ok(()),
                Err(e) if e.is(&["ResourceInUse"]) && start.elapsed() < d.delete_timeout => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.into_driver("DeleteNamespace", &res)),
            }
        }
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    if let Some((_, arn, _)) = namespace(d, app).await? {
        call(
            d,
            "TagResource",
            &res,
            json!({"ResourceARN": arn, "Tags": spec["Tags"]}),
        )
        .await?;
        return Ok(());
    }
    let vpc = match spec["Subnet"].as_str() {
        Some(s) => ec2::vpc_of_subnet(d, s).await?,
        None => ec2::default_vpc(d).await?,
    };
    let mut body = spec.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("Subnet");
    }
    body["Vpc"] = json!(vpc);
    body["CreatorRequestId"] = json!(bridge_core::hash::spec_hash(&(app, &spec["Tags"])));
    let v = match d
        .client
        .json(Svc::Discovery, "CreatePrivateDnsNamespace", &body)
        .await
    {
        Ok(v) => v,
        Err(e) if e.is(&["NamespaceAlreadyExists", "ConflictingDomainExists"]) => {
            return Err(e.into_driver("CreatePrivateDnsNamespace", &res).with_hint(format!(
                "a namespace or hosted zone named {} exists on the VPC and is not bridge's for the app {app}: delete it, or rename the app",
                tr::namespace_name(app)
            )));
        }
        Err(e) => return Err(e.into_driver("CreatePrivateDnsNamespace", &res)),
    };
    if let Some(op) = v["OperationId"].as_str() {
        wait_operation(d, &res, op).await?;
    }
    Ok(())
}

/// A group's Cloud Map service: CreateService in the app's namespace (a request id from the
/// spec hash); one that is the app's already (a rerun after a kill, a step applied twice) only
/// gets its tags. Replace (the record type changed: launch type or network mode) deletes the old
/// one first; delete: DeleteService, which Cloud Map refuses while tasks are still registered
/// (ECS deregisters them when its service is deleted, which destroy does first), so it is
/// retried until `BRIDGE_AWS_DELETE_SECONDS`.
pub(super) async fn apply_service(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    if matches!(step.action, Action::Delete | Action::Replace)
        && let Some(arn) = &step.handle
    {
        let id = super::ecs::last_part(arn);
        let start = Instant::now();
        loop {
            match d
                .client
                .json(Svc::Discovery, "DeleteService", &json!({"Id": id}))
                .await
            {
                Ok(_) => break,
                Err(e) if e.is(&["ServiceNotFound"]) => break,
                Err(e) if e.is(&["ResourceInUse"]) && start.elapsed() < d.delete_timeout => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => {
                    return Err(e.into_driver("DeleteService", &res).with_hint(
                        "tasks are still registered in it: delete its ECS service first (bridge destroy), then deploy",
                    ));
                }
            }
        }
        if step.action == Action::Delete {
            return Ok(());
        }
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let Some((ns, _, _)) = namespace(d, app).await? else {
        return Err(err(
            &res,
            ErrorKind::NotFound,
            format!(
                "the app's Cloud Map namespace {} does not exist",
                tr::namespace_name(app)
            ),
        )
        .with_hint("deploy again: the namespace is created before its services"));
    };
    // Idempotent: one that is the app's already (a rerun, a re-applied step) only gets its tags.
    if step.action != Action::Replace && retag_own(d, app, step, spec).await? {
        return Ok(());
    }
    let mut body = spec.clone();
    body["NamespaceId"] = json!(ns);
    body["CreatorRequestId"] = json!(bridge_core::hash::spec_hash(&(
        app,
        &step.resource.name,
        &spec["Tags"]
    )));
    match d.client.json(Svc::Discovery, "CreateService", &body).await {
        Ok(_) => Ok(()),
        Err(e) if e.is(&["ServiceAlreadyExists"]) => {
            if retag_own(d, app, step, spec).await? {
                return Ok(());
            }
            Err(e.into_driver("CreateService", &res).with_hint(format!(
                "a Cloud Map service named {} in {} is not bridge's for the app {app}: delete it",
                step.resource.name,
                tr::namespace_name(app)
            )))
        }
        Err(e) => Err(e.into_driver("CreateService", &res)),
    }
}

/// When the app already has the step's Cloud Map service, give it the spec's tags and say so
/// (true); false when it has none.
async fn retag_own(
    d: &AwsDriver,
    app: &str,
    step: &Step,
    spec: &Value,
) -> Result<bool, DriverError> {
    for c in observe(d, app).await? {
        if c.id == step.resource {
            call(
                d,
                "TagResource",
                &step.resource.to_string(),
                json!({"ResourceARN": c.handle, "Tags": spec["Tags"]}),
            )
            .await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The namespace `<app>.local` whatever its tags (the app's where there is one): its id and
/// ARN, and whether it carries a `bridge.app` tag (for the app, or for another one, which is
/// left alone).
async fn namespace_any(
    d: &AwsDriver,
    app: &str,
) -> Result<Option<(String, String, bool)>, DriverError> {
    let all = namespaces_named(d, app).await?;
    let pick = all
        .iter()
        .find(|(_, _, t)| tag_of(t, TAG_APP) == Some(app))
        .or(all.first());
    Ok(pick.map(|(id, arn, t)| (id.clone(), arn.clone(), tag_of(t, TAG_APP).is_some())))
}

/// The ARN of the namespace `<app>.local`, whoever's it is (to read a Service Connect
/// configuration, which ECS reports by namespace ARN, back to the name bridge writes).
pub(super) async fn namespace_arn(d: &AwsDriver, app: &str) -> Result<Option<String>, DriverError> {
    Ok(namespace_any(d, app).await?.map(|(_, arn, _)| arn))
}

/// The namespace `<app>.local` and the Cloud Map services in it named as the app's groups, made
/// outside bridge (no `bridge.app` tag; one tagged for another app is left alone): what
/// `deploy --adopt` takes over, each
/// with the fields bridge sets as Cloud Map reports them. The namespace's VPC is not compared
/// (Cloud Map reports a hosted zone, not a VPC). Reads only.
pub(super) async fn unowned(
    d: &AwsDriver,
    app: &str,
    desired: &[bridge_core::plan::Desired],
) -> Result<Vec<bridge_core::plan::Unowned>, DriverError> {
    let mut out = Vec::new();
    let wanted: Vec<&bridge_core::plan::Desired> = desired
        .iter()
        .filter(|x| x.id.kind == "namespace" || x.id.kind == "discovery")
        .collect();
    if wanted.is_empty() {
        return Ok(out);
    }
    let Some((ns, ns_arn, ns_tagged)) = namespace_any(d, app).await? else {
        return Ok(out);
    };
    for x in &wanted {
        if x.id.kind == "namespace" && !ns_tagged {
            out.push(bridge_core::plan::Unowned {
                id: x.id.clone(),
                name: tr::namespace_name(app),
                handle: ns_arn.clone(),
                spec: Some(json!({"Name": tr::namespace_name(app)})),
                opaque: vec!["Tags".into(), "Description".into(), "Subnet".into()],
                no_relabel: None,
            });
        }
    }
    let services = list_all(
        d,
        "ListServices",
        json!({"MaxResults": 100, "Filters": [{"Name": "NAMESPACE_ID", "Values": [ns], "Condition": "EQ"}]}),
        "Services",
    )
    .await?;
    for x in wanted.iter().filter(|x| x.id.kind == "discovery") {
        let Some(sid) = services
            .iter()
            .find(|s| s["Name"] == x.spec["Name"])
            .and_then(|s| s["Id"].as_str())
        else {
            continue;
        };
        let v = call(d, "GetService", &x.id.to_string(), json!({"Id": sid})).await?;
        let svc = v["Service"].clone();
        let arn = svc["Arn"].as_str().unwrap_or_default().to_string();
        if tag_of(&tags(d, &x.id.to_string(), &arn).await?, TAG_APP).is_some() {
            continue;
        }
        out.push(bridge_core::plan::Unowned {
            id: x.id.clone(),
            name: format!(
                "{}.{}",
                x.spec["Name"].as_str().unwrap_or_default(),
                tr::namespace_name(app)
            ),
            handle: arn,
            spec: Some(stored_spec(&svc)),
            // The tags adoption adds; bridge's description repeats them.
            opaque: vec!["Tags".into(), "Description".into()],
            no_relabel: None,
        });
    }
    Ok(out)
}

/// Adopt the namespace or a Cloud Map service (`deploy --adopt`): the spec's tags added by
/// TagResource, nothing else changed. Idempotent.
pub(super) async fn adopt(d: &AwsDriver, step: &Step) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    let Some(arn) = &step.handle else {
        return Err(err(
            &res,
            ErrorKind::Other,
            "an adopt step needs the object's ARN",
        ));
    };
    let t = step
        .after
        .as_ref()
        .map(|s| s["Tags"].clone())
        .unwrap_or(Value::Null);
    call(
        d,
        "TagResource",
        &res,
        json!({"ResourceARN": arn, "Tags": t}),
    )
    .await?;
    Ok(())
}
