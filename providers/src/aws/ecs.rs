//! ECS: the cluster (and its awslogs log groups), task definition families, services, their
//! tasks' status, and the plan-time check of the secret ARNs an app names.

use std::time::{Duration, Instant};

use bridge_core::ValidApp;
use bridge_core::plan::{Action, Current, Desired, ResourceId, Step, Unowned};
use bridge_translators::ecs::{TAG_APP, TAG_COMPONENT, TAG_SPEC_HASH};
use serde_json::{Value, json};

use super::{
    AwsDriver, KEEP_REVISIONS, RANK_CLUSTER, RANK_SECRET, RANK_SERVICE, RANK_TASK_DEFINITION, Svc,
    component_id, ec2, ecs_tags, err, kv_tags, tag_of,
};
use crate::{ComponentStatus, DriverError, ErrorKind};

const NOT_FOUND: &[&str] = &[
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ResourceNotFoundException",
];

/// Every secret ARN in `providers.aws.secrets` exists (Secrets Manager or SSM Parameter Store).
pub(super) async fn verify_secrets(d: &AwsDriver, app: &ValidApp) -> Result<(), DriverError> {
    let aws = app.app().providers.aws.clone().unwrap_or_default();
    for (name, arn) in &aws.secrets {
        let used = app.app().services.values().any(|s| {
            s.secrets.iter().any(|r| &r.name == name)
                && s.provider
                    .is_none_or(|p| p == bridge_core::model::ProviderKind::Aws)
        });
        if !used {
            continue;
        }
        let field = format!("providers.aws.secrets.{name}");
        let (svc, op, body) = if arn.contains(":secretsmanager:") {
            (Svc::Secrets, "DescribeSecret", json!({"SecretId": arn}))
        } else if arn.contains(":ssm:") {
            let pname = arn
                .split_once(":parameter")
                .map(|(_, p)| p.to_string())
                .unwrap_or_else(|| arn.clone());
            (Svc::Ssm, "GetParameter", json!({"Name": pname}))
        } else {
            return Err(err(
                field,
                ErrorKind::Unsatisfiable,
                format!("`{arn}` is neither a Secrets Manager nor an SSM parameter ARN"),
            )
            .with_hint("use arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME or arn:aws:ssm:REGION:ACCOUNT:parameter/NAME"));
        };
        match d.client.json(svc, op, &body).await {
            Ok(_) => {}
            Err(e) if e.is(&["ResourceNotFoundException", "ParameterNotFound"]) => {
                return Err(err(
                    field,
                    ErrorKind::Unsatisfiable,
                    format!("the secret `{name}` names `{arn}`, which does not exist"),
                )
                .with_hint("create it first (aws secretsmanager create-secret / aws ssm put-parameter --type SecureString), or correct the ARN"));
            }
            Err(e) => return Err(e.into_driver(op, &field)),
        }
    }
    Ok(())
}

/// Every item under `key` of a paginated ECS list operation; a missing cluster or service is
/// an empty list.
async fn list_all(
    d: &AwsDriver,
    op: &str,
    res: &str,
    body: Value,
    key: &str,
) -> Result<Vec<Value>, DriverError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut b = body.clone();
        if let Some(t) = &token {
            b["nextToken"] = json!(t);
        }
        let v = match d.client.json(Svc::Ecs, op, &b).await {
            Ok(v) => v,
            Err(e) if e.is(NOT_FOUND) => return Ok(Vec::new()),
            Err(e) => return Err(e.into_driver(op, res)),
        };
        out.extend(v[key].as_array().cloned().unwrap_or_default());
        token = v["nextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

pub(super) fn family_of_arn(arn: &str) -> (String, u64) {
    let last = last_part(arn);
    match last.rsplit_once(':') {
        Some((f, r)) => (f.to_string(), r.parse().unwrap_or(0)),
        None => (last.to_string(), 0),
    }
}

/// Active revisions of a family, oldest first.
async fn revisions(d: &AwsDriver, family: &str) -> Result<Vec<(u64, String)>, DriverError> {
    let mut out = Vec::new();
    let arns = list_all(
        d,
        "ListTaskDefinitions",
        &format!("task-definition/{family}"),
        json!({"familyPrefix": family, "status": "ACTIVE"}),
        "taskDefinitionArns",
    )
    .await?;
    for a in arns.iter().filter_map(Value::as_str) {
        let (f, r) = family_of_arn(a);
        if f == family {
            out.push((r, a.to_string()));
        }
    }
    out.sort();
    Ok(out)
}

/// The cluster, the latest revision of each family and the active services, found by tag.
pub(super) async fn observe(d: &AwsDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let mut out = Vec::new();
    let cluster = d.cluster(app);
    let v = d
        .ecs(
            "DescribeClusters",
            &format!("cluster/{cluster}"),
            json!({"clusters": [cluster], "include": ["TAGS"]}),
        )
        .await?;
    let mut cluster_active = false;
    for c in v["clusters"].as_array().into_iter().flatten() {
        if c["status"] != "ACTIVE" {
            continue;
        }
        cluster_active = true;
        let tags = ecs_tags(&c["tags"]);
        if tag_of(&tags, TAG_APP) == Some(app) {
            out.push(Current {
                id: ResourceId::new("cluster", cluster.clone()),
                spec_hash: tag_of(&tags, TAG_SPEC_HASH).map(str::to_string),
                spec: None,
                handle: c["clusterArn"].as_str().unwrap_or_default().to_string(),
                rank: RANK_CLUSTER,
                opaque: Vec::new(),
            });
        }
    }

    // Task definition families `<app>-*`, latest active revision each: the active revisions
    // listed 100 a page and the app's tags read 100 a page (Resource Groups Tagging API), not a
    // ListTaskDefinitions and a DescribeTaskDefinition per family (issue 15: observing 1,000
    // services took 2,000 calls more than the services' 100).
    // And the families `providers.aws.services` names (made outside bridge, then adopted).
    let prefix = format!("{app}-");
    let named: Vec<&str> = d
        .options
        .services
        .values()
        .filter_map(|n| n.family.as_deref())
        .collect();
    let mut latest: std::collections::BTreeMap<String, (u64, String)> =
        std::collections::BTreeMap::new();
    for a in list_all(
        d,
        "ListTaskDefinitions",
        "-",
        json!({"status": "ACTIVE", "maxResults": 100}),
        "taskDefinitionArns",
    )
    .await?
    .iter()
    .filter_map(Value::as_str)
    {
        let (f, r) = family_of_arn(a);
        if !f.starts_with(&prefix) && !named.contains(&f.as_str()) {
            continue;
        }
        let e = latest.entry(f).or_insert((r, a.to_string()));
        if r > e.0 {
            *e = (r, a.to_string());
        }
    }
    let mut tagged = if latest.is_empty() {
        std::collections::HashMap::new()
    } else {
        tagged_task_definitions(d, app).await?
    };
    for (f, (_, arn)) in latest {
        // The Tagging API is eventually consistent: a revision it does not report yet is read
        // on its own.
        let tags = match tagged.remove(&arn) {
            Some(t) => t,
            None => {
                let v = d
                    .ecs(
                        "DescribeTaskDefinition",
                        &format!("task-definition/{f}"),
                        json!({"taskDefinition": arn, "include": ["TAGS"]}),
                    )
                    .await?;
                ecs_tags(&v["tags"])
            }
        };
        if tag_of(&tags, TAG_APP) != Some(app) {
            continue;
        }
        let Some(id) = tag_of(&tags, TAG_COMPONENT).and_then(component_id) else {
            continue;
        };
        out.push(Current {
            id,
            spec_hash: tag_of(&tags, TAG_SPEC_HASH).map(str::to_string),
            spec: None,
            handle: arn.clone(),
            rank: RANK_TASK_DEFINITION,
            opaque: Vec::new(),
        });
    }

    if cluster_active {
        // ECS reports a Service Connect namespace by ARN; bridge writes the app's by name.
        let mut ns_arn: Option<Option<String>> = None;
        for (id, mut s) in app_services(d, app).await? {
            let mut connect = service_connect(&s);
            if connect["namespace"]
                .as_str()
                .is_some_and(|n| n.starts_with("arn:"))
            {
                if ns_arn.is_none() {
                    ns_arn = Some(
                        super::discovery::namespace(d, app)
                            .await?
                            .map(|(_, arn, _)| arn),
                    );
                }
                if let Some(Some(arn)) = &ns_arn
                    && connect["namespace"] == arn.as_str()
                {
                    connect["namespace"] = json!(bridge_translators::ecs::namespace_name(app));
                }
            }
            s["serviceConnectConfiguration"] = connect;
            let tags = ecs_tags(&s["tags"]);
            let td = s["taskDefinition"].as_str().unwrap_or_default();
            let spec = json!({
                "desiredCount": s["desiredCount"],
                "launchType": s["launchType"],
                "schedulingStrategy": s["schedulingStrategy"],
                "taskDefinition": family_of_arn(td).0,
                "serviceName": s["serviceName"],
                "serviceRegistries": s["serviceRegistries"],
                "serviceConnectConfiguration": s["serviceConnectConfiguration"],
            });
            out.push(Current {
                id,
                spec_hash: tag_of(&tags, TAG_SPEC_HASH).map(str::to_string),
                spec: Some(spec),
                handle: s["serviceArn"].as_str().unwrap_or_default().to_string(),
                rank: RANK_SERVICE,
                opaque: [
                    "cluster",
                    "deploymentConfiguration",
                    "placementConstraints",
                    "placementStrategy",
                    "networkConfiguration",
                    "enableExecuteCommand",
                    "propagateTags",
                    "tags",
                    "defaultSubnets",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            });
        }
    }
    Ok(out)
}

/// The tags of the app's task definition revisions (tagged `bridge.app`), by ARN, from the
/// Resource Groups Tagging API's GetResources, 100 a page.
async fn tagged_task_definitions(
    d: &AwsDriver,
    app: &str,
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>, DriverError> {
    let mut out = std::collections::HashMap::new();
    let mut token = String::new();
    loop {
        let mut body = json!({
            "TagFilters": [{"Key": TAG_APP, "Values": [app]}],
            "ResourceTypeFilters": ["ecs:task-definition"],
            "ResourcesPerPage": 100,
        });
        if !token.is_empty() {
            body["PaginationToken"] = json!(token);
        }
        let v = d
            .client
            .json(Svc::Tagging, "GetResources", &body)
            .await
            .map_err(|e| e.into_driver("GetResources", "task-definition/*"))?;
        for r in v["ResourceTagMappingList"].as_array().into_iter().flatten() {
            if let Some(arn) = r["ResourceARN"].as_str() {
                out.insert(arn.to_string(), kv_tags(&r["Tags"]));
            }
        }
        token = v["PaginationToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if token.is_empty() {
            return Ok(out);
        }
    }
}

/// The app's active services (by tag) with their component ids.
async fn app_services(d: &AwsDriver, app: &str) -> Result<Vec<(ResourceId, Value)>, DriverError> {
    let mut out = Vec::new();
    for s in services(d, &d.cluster(app)).await? {
        let tags = ecs_tags(&s["tags"]);
        if s["status"] != "ACTIVE" || tag_of(&tags, TAG_APP) != Some(app) {
            continue;
        }
        if let Some(id) = tag_of(&tags, TAG_COMPONENT).and_then(component_id) {
            out.push((id, s));
        }
    }
    Ok(out)
}

/// Every service of the cluster, described with tags.
pub(super) async fn services(d: &AwsDriver, cluster: &str) -> Result<Vec<Value>, DriverError> {
    let arns = list_all(
        d,
        "ListServices",
        &format!("cluster/{cluster}"),
        json!({"cluster": cluster, "maxResults": 100}),
        "serviceArns",
    )
    .await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(10) {
        let v = describe_services(d, cluster, chunk).await?;
        out.extend(v["services"].as_array().cloned().unwrap_or_default());
    }
    Ok(out)
}

/// `DescribeServices` of up to 10 services (names or ARNs) of the cluster, with their tags.
pub(super) async fn describe_services(
    d: &AwsDriver,
    cluster: &str,
    services: &[impl serde::Serialize],
) -> Result<Value, DriverError> {
    d.ecs(
        "DescribeServices",
        &format!("cluster/{cluster}"),
        json!({"cluster": cluster, "services": services, "include": ["TAGS"]}),
    )
    .await
}

async fn describe_service(
    d: &AwsDriver,
    cluster: &str,
    name: &str,
) -> Result<Option<Value>, DriverError> {
    match d
        .client
        .json(
            Svc::Ecs,
            "DescribeServices",
            &json!({"cluster": cluster, "services": [name], "include": ["TAGS"]}),
        )
        .await
    {
        Ok(v) => Ok(v["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["serviceName"] == name).cloned())),
        Err(e) if e.is(NOT_FOUND) => Ok(None),
        Err(e) => Err(e.into_driver("DescribeServices", &format!("service/{name}"))),
    }
}

/// Create the cluster (idempotent in ECS) and its log groups, and tag it; delete it after
/// stopping what still runs on it and deregistering its container instances.
pub(super) async fn apply_cluster(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    let cluster = step.resource.name.clone();
    if step.action == Action::Delete {
        return delete_cluster(d, &cluster).await;
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let hash = super::bridge_core_hash(spec);
    let tags = json!([
        {"key": TAG_APP, "value": app},
        {"key": TAG_COMPONENT, "value": res},
        {"key": TAG_SPEC_HASH, "value": hash},
    ]);
    let v = d
        .ecs(
            "CreateCluster",
            &res,
            json!({"clusterName": cluster, "tags": tags}),
        )
        .await?;
    let arn = v["cluster"]["clusterArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // CreateCluster of an existing cluster does not change its tags.
    if !arn.is_empty() {
        d.ecs(
            "TagResource",
            &res,
            json!({"resourceArn": arn, "tags": tags}),
        )
        .await?;
    }
    log_groups(d, app, spec).await
}

/// The cluster spec's awslogs log groups, made where missing (tagged for the app).
async fn log_groups(d: &AwsDriver, app: &str, spec: &Value) -> Result<(), DriverError> {
    for g in spec["logGroups"].as_array().into_iter().flatten() {
        let Some(g) = g.as_str() else { continue };
        match d
            .client
            .json(
                Svc::Logs,
                "CreateLogGroup",
                &json!({"logGroupName": g, "tags": {TAG_APP: app}}),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is(&["ResourceAlreadyExistsException"]) => {}
            Err(e) => return Err(e.into_driver("CreateLogGroup", &format!("log-group {g}"))),
        }
    }
    Ok(())
}

async fn delete_cluster(d: &AwsDriver, cluster: &str) -> Result<(), DriverError> {
    let res = format!("cluster/{cluster}");
    // Tasks still running (one-shot tasks, leftovers) and container instances hold a cluster.
    let tasks = list_all(
        d,
        "ListTasks",
        &res,
        json!({"cluster": cluster}),
        "taskArns",
    )
    .await?;
    // Best effort, one attempt each: DeleteCluster below says what still holds the cluster.
    for t in tasks {
        let body = json!({"cluster": cluster, "task": t, "reason": "bridge destroy"});
        if let Err(e) = d.client.json_once(Svc::Ecs, "StopTask", &body).await {
            tracing::debug!(error = %e, "StopTask during destroy");
        }
    }
    let cis = list_all(
        d,
        "ListContainerInstances",
        &res,
        json!({"cluster": cluster}),
        "containerInstanceArns",
    )
    .await?;
    for ci in cis {
        let body = json!({"cluster": cluster, "containerInstance": ci, "force": true});
        if let Err(e) = d
            .client
            .json_once(Svc::Ecs, "DeregisterContainerInstance", &body)
            .await
        {
            tracing::debug!(error = %e, "DeregisterContainerInstance during destroy");
        }
    }
    // Services just deleted drain for a while, and instances take time to deregister.
    let start = Instant::now();
    loop {
        match d
            .client
            .json(Svc::Ecs, "DeleteCluster", &json!({"cluster": cluster}))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is(NOT_FOUND) => return Ok(()),
            Err(e)
                if e.is(&[
                    "ClusterContainsServicesException",
                    "ClusterContainsTasksException",
                    "ClusterContainsContainerInstancesException",
                    "UpdateInProgressException",
                ]) && start.elapsed() < d.delete_timeout =>
            {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.into_driver("DeleteCluster", &res)),
        }
    }
}

/// Register a new revision unless the latest one already carries the spec hash; delete:
/// deregister every active revision of the family.
pub(super) async fn apply_task_definition(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    if step.action == Action::Delete {
        let family = step
            .handle
            .as_deref()
            .map(|h| family_of_arn(h).0)
            .unwrap_or_else(|| d.options.family(app, &step.resource.name));
        for (_, arn) in revisions(d, &family).await? {
            deregister(d, &res, &arn).await?;
        }
        return Ok(());
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let family = spec["family"].as_str().unwrap_or_default().to_string();
    let want = spec["tags"]
        .as_array()
        .and_then(|t| t.iter().find(|x| x["key"] == TAG_SPEC_HASH))
        .and_then(|x| x["value"].as_str())
        .unwrap_or_default()
        .to_string();
    if let Some((_, arn)) = revisions(d, &family).await?.last() {
        let v = d
            .ecs(
                "DescribeTaskDefinition",
                &res,
                json!({"taskDefinition": arn, "include": ["TAGS"]}),
            )
            .await?;
        if tag_of(&ecs_tags(&v["tags"]), TAG_SPEC_HASH) == Some(want.as_str()) {
            return Ok(());
        }
    }
    let mut body = spec.clone();
    write_secret_values(d, &res, &body).await?;
    if body.get("executionRoleArn").is_none() && needs_execution_role(&body) {
        let account = ec2::account_id(d).await?;
        body["executionRoleArn"] =
            json!(format!("arn:aws:iam::{account}:role/ecsTaskExecutionRole"));
    }
    let run = body.as_object_mut().and_then(|o| o.remove(RUN_ONCE));
    let v = d.ecs("RegisterTaskDefinition", &res, body.clone()).await?;
    // A one-shot group runs once per new revision (no ECS service would stop restarting it).
    if let Some(run) = run {
        let arn = v["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap_or_default();
        let launch = body["requiresCompatibilities"][0].as_str().unwrap_or("EC2");
        let mut r = json!({
            "cluster": d.cluster(app),
            "taskDefinition": arn,
            "count": run["count"],
            "launchType": launch,
            "startedBy": "bridge",
            "propagateTags": "TASK_DEFINITION",
        });
        if body["networkMode"] == "awsvpc" {
            r["networkConfiguration"] = awsvpc(d, app, Value::Null).await?;
        }
        let v = d.ecs("RunTask", &res, r).await?;
        if let Some(f) = v["failures"].as_array().and_then(|f| f.first()) {
            return Err(err(
                &res,
                ErrorKind::Unsatisfiable,
                format!(
                    "RunTask of the one-shot group: {}",
                    f["reason"].as_str().unwrap_or("failed")
                ),
            )
            .with_hint("on EC2, the container instances need room for the task"));
        }
    }
    Ok(())
}

/// The key under which [`super::desired`] marks a one-shot task definition (run once with
/// RunTask); removed before the body is sent.
pub(crate) const RUN_ONCE: &str = "x-bridge-run-once";

/// Write the value of each secret the task reads behind its ARN, from the app's source
/// (`secrets.<name>.env` or `.file`), when it differs from what is stored. Values are held only
/// in memory: never logged, never part of an error.
async fn write_secret_values(d: &AwsDriver, res: &str, body: &Value) -> Result<(), DriverError> {
    if body.to_string().contains("${secrets.") {
        return Err(err(
            res,
            ErrorKind::Other,
            "the task definition still reads a secret whose ARN is not known (late-bound input secrets.NAME.arn)",
        )
        .with_hint("deploy again: the secret is created first and its ARN read back"));
    }
    let mut arns: Vec<&str> = body["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["secrets"].as_array().into_iter().flatten())
        .filter_map(|s| s["valueFrom"].as_str())
        .collect();
    arns.sort();
    arns.dedup();
    for arn in arns {
        let Some((name, source)) = d.secret_sources.get(arn) else {
            continue;
        };
        let Some(value) = read_secret_value(d, name, source)? else {
            continue; // external: the ARN holds the value already
        };
        if arn.contains(":secretsmanager:") {
            let cur = d
                .client
                .json(Svc::Secrets, "GetSecretValue", &json!({"SecretId": arn}))
                .await;
            if matches!(&cur, Ok(v) if v["SecretString"].as_str() == Some(value.as_str())) {
                continue;
            }
            d.client
                .json(
                    Svc::Secrets,
                    "PutSecretValue",
                    &json!({"SecretId": arn, "SecretString": value}),
                )
                .await
                .map_err(|e| e.into_driver("PutSecretValue", res))?;
        } else if let Some((_, pname)) = arn.split_once(":parameter") {
            let cur = d
                .client
                .json(
                    Svc::Ssm,
                    "GetParameter",
                    &json!({"Name": pname, "WithDecryption": true}),
                )
                .await;
            if matches!(&cur, Ok(v) if v["Parameter"]["Value"].as_str() == Some(value.as_str())) {
                continue;
            }
            d.client
                .json(
                    Svc::Ssm,
                    "PutParameter",
                    &json!({"Name": pname, "Value": value, "Type": "SecureString", "Overwrite": true}),
                )
                .await
                .map_err(|e| e.into_driver("PutParameter", res))?;
        }
    }
    Ok(())
}

/// The value of a secret from its source (`env:VAR`, `file:PATH` relative to the app file);
/// `None` for `external`. Held only in memory: never logged, never part of an error.
pub(super) fn read_secret_value(
    d: &AwsDriver,
    name: &str,
    source: &str,
) -> Result<Option<String>, DriverError> {
    let field = format!("secrets.{name}");
    if let Some(var) = source.strip_prefix("env:") {
        std::env::var(var).map(Some).map_err(|_| {
            err(&field, ErrorKind::Unsatisfiable, format!("the environment variable {var} that holds the secret `{name}` is not set"))
                .with_hint(format!("export {var} before deploying (its value goes to Secrets Manager or SSM, never logged)"))
        })
    } else if let Some(path) = source.strip_prefix("file:") {
        let p = d.base_dir.join(path);
        std::fs::read_to_string(&p).map(Some).map_err(|e| {
            err(
                &field,
                ErrorKind::Unsatisfiable,
                format!("cannot read the secret file {}: {e}", p.display()),
            )
            .with_hint("create the file, or correct secrets.<name>.file (relative to the app file)")
        })
    } else {
        Ok(None)
    }
}

/// The Secrets Manager secrets the driver created for `app` (tagged `bridge.app` and
/// `bridge.component: secret/NAME`), by ListSecrets filtered on the tags.
pub(super) async fn observe_secrets(d: &AwsDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({
            "MaxResults": 100,
            "Filters": [
                {"Key": "tag-key", "Values": [TAG_APP]},
                {"Key": "tag-value", "Values": [app]},
            ],
        });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let v = d
            .client
            .json(Svc::Secrets, "ListSecrets", &body)
            .await
            .map_err(|e| e.into_driver("ListSecrets", "secret/*"))?;
        for s in v["SecretList"].as_array().into_iter().flatten() {
            if !s["DeletedDate"].is_null() {
                continue;
            }
            let tags = kv_tags(&s["Tags"]);
            if tag_of(&tags, TAG_APP) != Some(app) {
                continue;
            }
            let Some(id) = tag_of(&tags, TAG_COMPONENT)
                .and_then(component_id)
                .filter(|id| id.kind == "secret")
            else {
                continue;
            };
            out.push(Current {
                id,
                spec_hash: tag_of(&tags, TAG_SPEC_HASH).map(str::to_string),
                spec: None,
                handle: s["ARN"].as_str().unwrap_or_default().to_string(),
                rank: RANK_SECRET,
                opaque: Vec::new(),
            });
        }
        token = v["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// A secret the driver creates: CreateSecret with the value and the tags (one that exists
/// already with the app's tag is taken over), PutSecretValue when the stored value differs,
/// then the spec hash tagged; delete: DeleteSecret without a recovery window.
pub(super) async fn apply_secret(d: &AwsDriver, app: &str, step: &Step) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    let call = |op: &'static str, body: Value| {
        let res = res.clone();
        async move {
            d.client.json(Svc::Secrets, op, &body).await.map_err(|e| {
                (
                    e.is(&["ResourceNotFoundException"]),
                    e.into_driver(op, &res),
                )
            })
        }
    };
    if step.action == Action::Delete {
        let Some(arn) = &step.handle else {
            return Ok(());
        };
        return match call(
            "DeleteSecret",
            json!({"SecretId": arn, "ForceDeleteWithoutRecovery": true}),
        )
        .await
        {
            Ok(_) | Err((true, _)) => Ok(()),
            Err((false, e)) => Err(e),
        };
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let name = &step.resource.name;
    let source = spec["Source"].as_str().unwrap_or_default();
    let Some(value) = read_secret_value(d, name, source)? else {
        return Ok(());
    };
    let sm = spec["Name"].as_str().unwrap_or_default().to_string();
    // The spec's tags carry the spec hash (the value's hash folded in, never the value).
    let tags = spec["Tags"].as_array().cloned().unwrap_or_default();
    let arn = match &step.handle {
        Some(arn) => arn.clone(),
        None => {
            let body = json!({
                "Name": sm,
                "Description": format!("created by bridge for the app {app}"),
                "SecretString": value,
                "Tags": tags,
            });
            match d.client.json(Svc::Secrets, "CreateSecret", &body).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is(&["ResourceExistsException"]) => {
                    // A rerun after a kill, or a secret of that name made by someone else.
                    let v = call("DescribeSecret", json!({"SecretId": sm}))
                        .await
                        .map_err(|(_, e)| e)?;
                    let owner = v["Tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|t| t["Key"] == TAG_APP && t["Value"].as_str() == Some(app));
                    if !owner {
                        return Err(err(
                            &res,
                            ErrorKind::Conflict,
                            format!("a Secrets Manager secret named `{sm}` exists and is not bridge's for the app {app}"),
                        )
                        .with_hint(format!("give secrets.{name} another `name:`, or put its ARN in providers.aws.secrets.{name}")));
                    }
                    v["ARN"].as_str().unwrap_or(&sm).to_string()
                }
                Err(e) => {
                    let hint = e.message.contains("scheduled for deletion").then(|| {
                        format!("restore it (aws secretsmanager restore-secret --secret-id {sm}) or delete it for good, then deploy again")
                    });
                    let mut e = e.into_driver("CreateSecret", &res);
                    if let Some(h) = hint {
                        e = e.with_hint(h);
                    }
                    return Err(e);
                }
            }
        }
    };
    let cur = call("GetSecretValue", json!({"SecretId": arn})).await;
    if !matches!(&cur, Ok(v) if v["SecretString"].as_str() == Some(value.as_str())) {
        call(
            "PutSecretValue",
            json!({"SecretId": arn, "SecretString": value}),
        )
        .await
        .map_err(|(_, e)| e)?;
    }
    call("TagResource", json!({"SecretId": arn, "Tags": tags}))
        .await
        .map_err(|(_, e)| e)?;
    Ok(())
}

fn needs_execution_role(body: &Value) -> bool {
    let fargate = body["requiresCompatibilities"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "FARGATE"));
    body["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["secrets"].as_array().is_some_and(|s| !s.is_empty())
                || (fargate && c["logConfiguration"]["logDriver"] == "awslogs")
        })
}

async fn deregister(d: &AwsDriver, res: &str, arn: &str) -> Result<(), DriverError> {
    match d
        .client
        .json(
            Svc::Ecs,
            "DeregisterTaskDefinition",
            &json!({"taskDefinition": arn}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == "ClientException" && e.message.contains("INACTIVE") => Ok(()),
        Err(e) => Err(e.into_driver("DeregisterTaskDefinition", res)),
    }
}

/// The Service Connect configuration a service runs with, as ECS reports it: on its primary
/// deployment (the Service shape has none of its own), with no `services` key when it serves
/// none, as bridge writes it.
fn service_connect(s: &Value) -> Value {
    let primary = s["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["status"] == "PRIMARY");
    let mut c = primary
        .map(|d| d["serviceConnectConfiguration"].clone())
        .unwrap_or(Value::Null);
    if let Some(o) = c.as_object_mut()
        && o.get("services")
            .and_then(Value::as_array)
            .is_some_and(|a| a.is_empty())
    {
        o.remove("services");
    }
    c
}

/// The service body as sent: the translator's, with the family's latest revision, and for
/// awsvpc the default VPC's subnets and the app's security group when the app gives none.
async fn service_body(d: &AwsDriver, app: &str, spec: &Value) -> Result<Value, DriverError> {
    let mut body = spec.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("defaultSubnets");
    }
    let family = spec["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some((_, arn)) = revisions(d, &family).await?.last() {
        body["taskDefinition"] = json!(arn);
    }
    if spec["launchType"] == "FARGATE" || spec["networkConfiguration"].is_object() {
        let conf = body["networkConfiguration"]["awsvpcConfiguration"].clone();
        body["networkConfiguration"] = awsvpc(d, app, conf).await?;
    }
    Ok(body)
}

/// An awsvpc network configuration: the given one, with the default VPC's default subnets and
/// the app's security group where it names none.
async fn awsvpc(d: &AwsDriver, app: &str, mut conf: Value) -> Result<Value, DriverError> {
    if !conf.is_object() {
        conf = json!({"assignPublicIp": "DISABLED"});
    }
    if conf["subnets"].as_array().is_none_or(|a| a.is_empty()) {
        conf["subnets"] = json!(ec2::default_subnets(d).await?);
    }
    if conf["securityGroups"]
        .as_array()
        .is_none_or(|a| a.is_empty())
        && let Some(sg) = ec2::app_security_group(d, app).await?
    {
        conf["securityGroups"] = json!([sg]);
    }
    Ok(json!({"awsvpcConfiguration": conf}))
}

/// Create (with a client token), update in place (desired count, revision, deployment and
/// network settings, then the spec-hash tag), or scale to 0 and delete.
pub(super) async fn apply_service(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    let cluster = d.cluster(app);
    let name = d.options.service_name(app, &step.resource.name);
    if step.action == Action::Delete {
        let name = step
            .handle
            .as_deref()
            .map(last_part)
            .unwrap_or(&name)
            .to_string();
        return delete_service(d, &cluster, &name, &res).await;
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let name = spec["serviceName"].as_str().unwrap_or(&name).to_string();
    let body = service_body(d, app, spec).await?;
    let existing = describe_service(d, &cluster, &name).await?;
    // A service deleted meanwhile (INACTIVE, still described) gets a new token: ECS would
    // answer the old one with the deleted service.
    let previous = existing
        .as_ref()
        .map(|s| s["createdAt"].to_string())
        .unwrap_or_default();
    match existing.filter(|s| s["status"] == "ACTIVE") {
        None => {
            let token = bridge_core::hash::spec_hash(&(app, &name, spec["tags"].clone(), previous));
            let mut b = body.clone();
            b["clientToken"] = json!(token);
            d.ecs("CreateService", &res, b).await?;
        }
        Some(s) => {
            let mut u = json!({
                "cluster": cluster,
                "service": name,
                "taskDefinition": body["taskDefinition"],
            });
            if let Some(n) = body.get("desiredCount") {
                u["desiredCount"] = n.clone();
            }
            for k in [
                "deploymentConfiguration",
                "networkConfiguration",
                "placementConstraints",
                "placementStrategy",
                "enableExecuteCommand",
                "propagateTags",
                "serviceRegistries",
                "serviceConnectConfiguration",
            ] {
                if let Some(v) = body.get(k) {
                    u[k] = v.clone();
                }
            }
            d.ecs("UpdateService", &res, u).await?;
            let arn = s["serviceArn"].as_str().unwrap_or_default();
            d.ecs(
                "TagResource",
                &res,
                json!({"resourceArn": arn, "tags": body["tags"]}),
            )
            .await?;
        }
    }
    prune_revisions(
        d,
        &res,
        &family_of_arn(body["taskDefinition"].as_str().unwrap_or_default()).0,
    )
    .await
}

/// Deregister the family's active revisions but the newest [`KEEP_REVISIONS`].
async fn prune_revisions(d: &AwsDriver, res: &str, family: &str) -> Result<(), DriverError> {
    if family.is_empty() {
        return Ok(());
    }
    let revs = revisions(d, family).await?;
    let n = revs.len().saturating_sub(KEEP_REVISIONS);
    for (_, arn) in revs.iter().take(n) {
        deregister(d, res, arn).await?;
    }
    Ok(())
}

async fn delete_service(
    d: &AwsDriver,
    cluster: &str,
    name: &str,
    res: &str,
) -> Result<(), DriverError> {
    match d
        .client
        .json(
            Svc::Ecs,
            "UpdateService",
            &json!({"cluster": cluster, "service": name, "desiredCount": 0}),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.is(NOT_FOUND) => return Ok(()),
        Err(e) => return Err(e.into_driver("UpdateService", res)),
    }
    match d
        .client
        .json(
            Svc::Ecs,
            "DeleteService",
            &json!({"cluster": cluster, "service": name, "force": true}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is(NOT_FOUND) => Ok(()),
        Err(e) => Err(e.into_driver("DeleteService", res)),
    }
}

/// The service's tasks (as ECS schedules them: group `service:<name>`), described.
async fn service_tasks(
    d: &AwsDriver,
    cluster: &str,
    name: &str,
    status: &str,
) -> Result<Vec<Value>, DriverError> {
    let res = format!("service/{name}");
    let arns = list_all(
        d,
        "ListTasks",
        &res,
        json!({"cluster": cluster, "serviceName": name, "desiredStatus": status}),
        "taskArns",
    )
    .await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let v = d
            .ecs(
                "DescribeTasks",
                &res,
                json!({"cluster": cluster, "tasks": chunk}),
            )
            .await?;
        out.extend(
            v["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["group"] == format!("service:{name}"))
                .cloned(),
        );
    }
    Ok(out)
}

fn health_of(tasks: &[Value]) -> String {
    let hs: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["healthStatus"].as_str())
        .collect();
    if hs.is_empty() || hs.iter().all(|h| *h == "UNKNOWN") {
        "-".into()
    } else if hs.contains(&"UNHEALTHY") {
        "unhealthy".into()
    } else if hs.iter().all(|h| *h == "HEALTHY") {
        "healthy".into()
    } else {
        "starting".into()
    }
}

/// Per ECS service of the app: desired count, running tasks, health, stopped tasks' reasons.
pub(super) async fn status(d: &AwsDriver, app: &str) -> Result<Vec<ComponentStatus>, DriverError> {
    let cluster = d.cluster(app);
    let mut out = Vec::new();
    for (id, s) in app_services(d, app).await? {
        let name = s["serviceName"].as_str().unwrap_or_default();
        let running: Vec<Value> = service_tasks(d, &cluster, name, "RUNNING")
            .await?
            .into_iter()
            .filter(|t| t["lastStatus"] == "RUNNING")
            .collect();
        let mut errors: Vec<String> = Vec::new();
        // Newest first; tasks stopped on purpose (scaling, a deployment, a user) are no errors.
        let mut stopped = service_tasks(d, &cluster, name, "STOPPED").await?;
        stopped.sort_by(|a, b| b["stoppedAt"].to_string().cmp(&a["stoppedAt"].to_string()));
        for t in stopped {
            // ... but a task the scheduler replaced because it failed its checks is one.
            let health_failure = t["stoppedReason"]
                .as_str()
                .is_some_and(|r| r.contains("health checks"));
            if !health_failure
                && matches!(
                    t["stopCode"].as_str(),
                    Some("UserInitiated" | "ServiceSchedulerInitiated")
                )
            {
                continue;
            }
            let why = t["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|c| c["reason"].as_str())
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            if let Some(r) = t["stoppedReason"].as_str().map(|r| format!("{r}{why}"))
                && !errors.contains(&r)
            {
                errors.push(r);
            }
        }
        out.push(ComponentStatus {
            resource: id,
            desired: s["desiredCount"].as_u64().unwrap_or(0),
            running: running.len() as u64,
            health: health_of(&running),
            errors,
        });
    }
    out.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(out)
}

/// The essential containers of a task definition that have a health check (a `healthCheck`
/// whose command is not `[NONE]`), by name.
pub(super) fn checked_containers(td: &Value) -> Vec<String> {
    td["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["essential"].as_bool().unwrap_or(true))
        .filter(|c| {
            c["healthCheck"]["command"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .is_some_and(|k| k != "NONE")
        })
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// What ECS shows of a task's health: the task's `healthStatus`, each container's
/// `healthStatus` and `reason`, and for a stopped task its `stoppedReason`
/// (`UNHEALTHY (container db: UNHEALTHY)`, `stopped: Task failed container health checks
/// (container db: UNHEALTHY)`).
pub(super) fn health_detail(t: &Value) -> String {
    let containers: Vec<String> = t["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = c["name"].as_str()?;
            let h = c["healthStatus"].as_str().unwrap_or("UNKNOWN");
            Some(match c["reason"].as_str() {
                Some(r) => format!("container {name}: {h}, {r}"),
                None => format!("container {name}: {h}"),
            })
        })
        .collect();
    let head = match t["stoppedReason"].as_str().filter(|r| !r.is_empty()) {
        Some(r) => format!("stopped: {r}"),
        None => t["healthStatus"].as_str().unwrap_or("UNKNOWN").to_string(),
    };
    if containers.is_empty() {
        head
    } else {
        format!("{head} ({})", containers.join("; "))
    }
}

/// Wait until the service runs its desired count of tasks, and, when `healthy` and its task
/// definition gives an essential container a health check, until that many report
/// `healthStatus: HEALTHY` (DescribeTasks; ECS derives a task's health from its essential
/// containers' checks). Fails fast when its deployment failed; on timeout the error carries
/// what ECS shows of the health: the newest task's health, and the reason of the newest task
/// stopped while waiting (`Task failed container health checks`, with its containers' health).
pub(super) async fn wait_service(
    d: &AwsDriver,
    app: &str,
    group: &str,
    healthy: bool,
    timeout: Duration,
) -> Result<(), DriverError> {
    let cluster = d.cluster(app);
    let name = d.options.service_name(app, group);
    let res = format!("service/{group}");
    let start = Instant::now();
    let started_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs_f64())
        .unwrap_or(0.0);
    let mut checked: Option<(String, Vec<String>)> = None;
    loop {
        let mut last;
        let mut gated = false;
        if let Some(s) = describe_service(d, &cluster, &name).await? {
            let desired = s["desiredCount"].as_u64().unwrap_or(0);
            if let Some(dep) = s["deployments"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["status"] == "PRIMARY"))
                && dep["rolloutState"] == "FAILED"
            {
                return Err(err(
                    res,
                    ErrorKind::Unsatisfiable,
                    format!(
                        "the deployment failed: {}",
                        dep["rolloutStateReason"]
                            .as_str()
                            .unwrap_or("no reason given")
                    ),
                )
                .with_hint("see `bridge status` for the stopped tasks' reasons"));
            }
            let td_arn = s["taskDefinition"].as_str().unwrap_or_default().to_string();
            if healthy && checked.as_ref().is_none_or(|(a, _)| *a != td_arn) && !td_arn.is_empty() {
                let v = d
                    .ecs(
                        "DescribeTaskDefinition",
                        &res,
                        json!({"taskDefinition": td_arn}),
                    )
                    .await?;
                checked = Some((td_arn.clone(), checked_containers(&v["taskDefinition"])));
            }
            gated = healthy && checked.as_ref().is_some_and(|(_, c)| !c.is_empty());
            let tasks: Vec<Value> = service_tasks(d, &cluster, &name, "RUNNING")
                .await?
                .into_iter()
                .filter(|t| t["lastStatus"] == "RUNNING")
                .collect();
            if gated {
                let ok = tasks
                    .iter()
                    .filter(|t| t["healthStatus"] == "HEALTHY")
                    .count() as u64;
                if tasks.len() as u64 >= desired && ok >= desired {
                    return Ok(());
                }
                last = format!("{ok} of {desired} tasks healthy");
                if let Some(t) = tasks.iter().find(|t| t["healthStatus"] != "HEALTHY") {
                    last.push_str(&format!("; a running task: {}", health_detail(t)));
                }
            } else {
                let ok_health = !healthy || matches!(health_of(&tasks).as_str(), "-" | "healthy");
                if tasks.len() as u64 >= desired && ok_health {
                    return Ok(());
                }
                last = format!("{} of {desired} tasks running", tasks.len());
            }
        } else {
            last = "the service does not exist".into();
        }
        if start.elapsed() >= timeout {
            if gated {
                // The newest task stopped while we waited, as ECS reports it.
                let mut stopped: Vec<Value> = service_tasks(d, &cluster, &name, "STOPPED")
                    .await?
                    .into_iter()
                    .filter(|t| t["stoppedAt"].as_f64().is_none_or(|s| s >= started_secs))
                    .collect();
                stopped.sort_by(|a, b| b["stoppedAt"].to_string().cmp(&a["stoppedAt"].to_string()));
                if let Some(t) = stopped.first() {
                    last.push_str(&format!(
                        "; {} task(s) stopped while waiting, the last: {}",
                        stopped.len(),
                        health_detail(t)
                    ));
                }
                return Err(err(
                    res,
                    ErrorKind::Timeout,
                    format!("not healthy after {}s: {last}", timeout.as_secs()),
                )
                .with_hint(format!("the health check of `{group}` did not pass: see `bridge status`; ECS does not report the check's output, run the check in the container (ECS Exec, or docker exec on the instance)")));
            }
            return Err(err(
                res,
                ErrorKind::Timeout,
                format!("not running after {}s: {last}", timeout.as_secs()),
            )
            .with_hint("see `bridge status`; on EC2, check that the container instances registered with the cluster and have room"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The ECS objects that have the names of `app`'s desired cluster, task definition families
/// and services (`<app>-<group>`, or what `providers.aws.services` names) but no `bridge.app`
/// tag (one tagged for another app is left alone): made by hand or by another tool, what
/// `deploy --adopt` takes over. Each
/// is reported with what ECS stores in the shape of the desired spec, so that the plan adopts
/// it in place (tags only) when the fields the app sets are as stored, and updates it when not.
/// Reads only.
pub(super) async fn unowned(
    d: &AwsDriver,
    app: &str,
    desired: &[Desired],
) -> Result<Vec<Unowned>, DriverError> {
    let mut out = Vec::new();
    // Tagged for the app: its own; for another app: left alone (not the app's to take over).
    let ours = |tags: &[(String, String)]| tag_of(tags, TAG_APP).is_some();
    for x in desired {
        match x.id.kind.as_str() {
            "cluster" => {
                let v = d
                    .ecs(
                        "DescribeClusters",
                        &x.id.to_string(),
                        json!({"clusters": [x.id.name], "include": ["TAGS"]}),
                    )
                    .await?;
                let Some(c) =
                    v["clusters"].as_array().into_iter().flatten().find(|c| {
                        c["status"] == "ACTIVE" && c["clusterName"] == x.id.name.as_str()
                    })
                else {
                    continue;
                };
                if ours(&ecs_tags(&c["tags"])) {
                    continue;
                }
                out.push(Unowned {
                    id: x.id.clone(),
                    name: x.id.name.clone(),
                    handle: c["clusterArn"].as_str().unwrap_or_default().to_string(),
                    spec: Some(json!({"clusterName": c["clusterName"]})),
                    // Log groups are no part of the cluster: the adoption makes the missing ones.
                    opaque: vec!["logGroups".into()],
                    no_relabel: None,
                });
            }
            "task-definition" => {
                let family = x.spec["family"].as_str().unwrap_or_default();
                let Some((_, arn)) = revisions(d, family).await?.pop() else {
                    continue;
                };
                let v = d
                    .ecs(
                        "DescribeTaskDefinition",
                        &x.id.to_string(),
                        json!({"taskDefinition": arn, "include": ["TAGS"]}),
                    )
                    .await?;
                if ours(&ecs_tags(&v["tags"])) {
                    continue;
                }
                out.push(Unowned {
                    id: x.id.clone(),
                    name: last_part(&arn).to_string(),
                    handle: arn.clone(),
                    spec: Some(v["taskDefinition"].clone()),
                    // The tags adoption adds; a one-shot group's run count is bridge's own.
                    opaque: vec!["tags".into(), RUN_ONCE.into()],
                    no_relabel: None,
                });
            }
            "service" => {
                let cluster = d.cluster(app);
                let name = x.spec["serviceName"].as_str().unwrap_or_default();
                let Some(mut s) = describe_service(d, &cluster, name)
                    .await?
                    .filter(|s| s["status"] == "ACTIVE")
                else {
                    continue;
                };
                if ours(&ecs_tags(&s["tags"])) {
                    continue;
                }
                // As the app's spec has them: the family (not a revision's ARN), Service Connect
                // as the primary deployment runs it.
                let td = s["taskDefinition"].as_str().unwrap_or_default();
                s["taskDefinition"] = json!(family_of_arn(td).0);
                let mut connect = service_connect(&s);
                if connect["namespace"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("arn:"))
                    && let Some(arn) = super::discovery::namespace_arn(d, app).await?
                    && connect["namespace"] == arn.as_str()
                {
                    connect["namespace"] = json!(bridge_translators::ecs::namespace_name(app));
                }
                s["serviceConnectConfiguration"] = connect;
                out.push(Unowned {
                    id: x.id.clone(),
                    name: name.to_string(),
                    handle: s["serviceArn"].as_str().unwrap_or_default().to_string(),
                    spec: Some(s),
                    // The cluster is the service's own (it was found there); the tags are what
                    // adoption adds; the default subnets are the driver's.
                    opaque: vec!["cluster".into(), "tags".into(), "defaultSubnets".into()],
                    no_relabel: None,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Adopt an ECS object (`deploy --adopt`): the desired spec's tags (bridge's, the spec hash
/// among them) added to it by TagResource; nothing else is sent, so a service starts no
/// deployment and a family gets no revision. Idempotent.
pub(super) async fn adopt(d: &AwsDriver, app: &str, step: &Step) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    let handle = step.handle.clone().ok_or_else(|| {
        err(
            &res,
            ErrorKind::Other,
            "an adopt step needs the object's ARN",
        )
    })?;
    let spec = step.after.clone().unwrap_or(Value::Null);
    let tags = if step.resource.kind == "cluster" {
        json!([
            {"key": TAG_APP, "value": app},
            {"key": TAG_COMPONENT, "value": res},
            {"key": TAG_SPEC_HASH, "value": super::bridge_core_hash(&spec)},
        ])
    } else {
        spec["tags"].clone()
    };
    d.ecs(
        "TagResource",
        &res,
        json!({"resourceArn": handle, "tags": tags}),
    )
    .await?;
    if step.resource.kind == "cluster" {
        log_groups(d, app, &spec).await?;
    }
    Ok(())
}

/// The last part of an ARN's resource (`family:revision`, a service's name).
pub(super) fn last_part(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
