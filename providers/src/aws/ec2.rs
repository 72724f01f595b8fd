//! EC2 over the Query protocol: the app's instances (container instances and VMs), its security
//! group, default subnets, the ECS-optimised AMI from SSM, and the account id (STS).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bridge_core::plan::{Action, Current, ResourceId, Step};
use bridge_translators::ecs::{self as tr, TAG_APP, TAG_COMPONENT, TAG_SPEC_HASH};
use serde_json::{Value, json};

use super::client::{child, items, xml};
use super::{
    AwsDriver, ECS_AMI_PARAMETER, RANK_INSTANCE, RANK_SECURITY_GROUP, Svc, bridge_core_hash,
    component_id, err,
};
use crate::{DriverError, ErrorKind};

type Params = Vec<(String, String)>;

async fn call(
    d: &AwsDriver,
    action: &str,
    res: &str,
    params: &Params,
) -> Result<String, DriverError> {
    d.client
        .query(Svc::Ec2, action, params)
        .await
        .map_err(|e| e.into_driver(action, res))
}

fn p(k: impl Into<String>, v: impl Into<String>) -> (String, String) {
    (k.into(), v.into())
}

/// Flatten a JSON request body into Query parameters (`TagSpecification.1.Tag.1.Key`): list
/// members take the model's singular location names.
pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut Params) {
    let singular = |k: &str| -> String {
        match k {
            "TagSpecifications" => "TagSpecification".into(),
            "Tags" => "Tag".into(),
            "SecurityGroupIds" => "SecurityGroupId".into(),
            "SecurityGroups" => "SecurityGroup".into(),
            "BlockDeviceMappings" => "BlockDeviceMapping".into(),
            "IpPermissions" => "IpPermissions".into(),
            "IpRanges" => "IpRanges".into(),
            other => other.into(),
        }
    };
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(p(prefix, b.to_string())),
        Value::Number(n) => out.push(p(prefix, n.to_string())),
        Value::String(s) => out.push(p(prefix, s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{}", i + 1), x, out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let key = if x.is_array() { singular(k) } else { k.clone() };
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, x, out);
            }
        }
    }
}

fn filters(f: &[(&str, Vec<String>)]) -> Params {
    let mut out = Vec::new();
    for (i, (name, values)) in f.iter().enumerate() {
        out.push(p(format!("Filter.{}.Name", i + 1), *name));
        for (j, v) in values.iter().enumerate() {
            out.push(p(format!("Filter.{}.Value.{}", i + 1, j + 1), v.clone()));
        }
    }
    out
}

/// One instance as DescribeInstances reports it.
#[derive(Debug, Clone)]
pub(crate) struct Inst {
    pub id: String,
    pub state: String,
    pub private_ip: Option<String>,
    pub tags: BTreeMap<String, String>,
}

fn tag_set(n: roxmltree::Node<'_, '_>) -> BTreeMap<String, String> {
    items(n, "tagSet")
        .into_iter()
        .filter_map(|t| {
            Some((
                child(t, "key")?.to_string(),
                child(t, "value").unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The app's instances in the given states (all states when empty).
pub(crate) async fn instances(
    d: &AwsDriver,
    app: &str,
    states: &[&str],
) -> Result<Vec<Inst>, DriverError> {
    let mut f = vec![("tag:bridge.app", vec![app.to_string()])];
    if !states.is_empty() {
        f.push((
            "instance-state-name",
            states.iter().map(|s| s.to_string()).collect(),
        ));
    }
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = filters(&f);
        if let Some(t) = &token {
            params.push(p("NextToken", t.clone()));
        }
        let text = call(d, "DescribeInstances", "-", &params).await?;
        let doc = xml(&text).map_err(|e| e.into_driver("DescribeInstances", "-"))?;
        let root = doc.root_element();
        for r in items(root, "reservationSet") {
            for i in items(r, "instancesSet") {
                let state = i
                    .children()
                    .find(|c| c.has_tag_name("instanceState"))
                    .and_then(|s| child(s, "name"))
                    .unwrap_or_default()
                    .to_string();
                out.push(Inst {
                    id: child(i, "instanceId").unwrap_or_default().to_string(),
                    state,
                    private_ip: child(i, "privateIpAddress").map(str::to_string),
                    tags: tag_set(i),
                });
            }
        }
        token = child(root, "nextToken").map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The instance types the region offers: `DescribeInstanceTypeOfferings` (location type
/// `region`, every page) names them, `DescribeInstanceTypes` (every page) sizes them. When the
/// offerings call is refused (an old endpoint, or a policy without
/// `ec2:DescribeInstanceTypeOfferings`), every type DescribeInstanceTypes lists is taken.
/// Bare-metal types and those without a vCPU or memory figure are left out.
pub(super) async fn instance_types(d: &AwsDriver) -> Result<Vec<tr::InstanceType>, DriverError> {
    let mut offered: Option<BTreeSet<String>> = Some(BTreeSet::new());
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![p("LocationType", "region"), p("MaxResults", "1000")];
        if let Some(t) = &token {
            params.push(p("NextToken", t.clone()));
        }
        let text = match d
            .client
            .query(Svc::Ec2, "DescribeInstanceTypeOfferings", &params)
            .await
        {
            Ok(t) => t,
            Err(e) if e.is(&["UnauthorizedOperation", "InvalidAction", "AccessDenied"]) => {
                tracing::debug!(
                    "no DescribeInstanceTypeOfferings: {e:?}; taking every listed type"
                );
                offered = None;
                break;
            }
            Err(e) => return Err(e.into_driver("DescribeInstanceTypeOfferings", "-")),
        };
        let doc = xml(&text).map_err(|e| e.into_driver("DescribeInstanceTypeOfferings", "-"))?;
        let root = doc.root_element();
        if let Some(set) = offered.as_mut() {
            for i in items(root, "instanceTypeOfferingSet") {
                if let Some(t) = child(i, "instanceType") {
                    set.insert(t.to_string());
                }
            }
        }
        token = child(root, "nextToken").map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![p("MaxResults", "100")];
        if let Some(t) = &token {
            params.push(p("NextToken", t.clone()));
        }
        let text = call(d, "DescribeInstanceTypes", "-", &params).await?;
        let doc = xml(&text).map_err(|e| e.into_driver("DescribeInstanceTypes", "-"))?;
        let root = doc.root_element();
        for i in items(root, "instanceTypeSet") {
            if let Some(t) = instance_type(i)
                && offered.as_ref().is_none_or(|o| o.contains(&t.name))
            {
                out.push(t);
            }
        }
        token = child(root, "nextToken").map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    // Catalogue order breaks cost ties: by name, so the choice does not depend on the answer's.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One `InstanceTypeInfo` item as a type the translator may choose.
fn instance_type(i: roxmltree::Node<'_, '_>) -> Option<tr::InstanceType> {
    let name = child(i, "instanceType")?;
    let sub = |n: &str| i.children().find(|c| c.has_tag_name(n));
    if child(i, "bareMetal") == Some("true") {
        return None;
    }
    let vcpus: u64 = sub("vCpuInfo")
        .and_then(|v| child(v, "defaultVCpus"))?
        .parse()
        .ok()?;
    let mib: u64 = sub("memoryInfo")
        .and_then(|v| child(v, "sizeInMiB"))?
        .parse()
        .ok()?;
    if vcpus == 0 || mib == 0 {
        return None;
    }
    let archs: Vec<&str> = sub("processorInfo")
        .map(|p| items(p, "supportedArchitectures"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.text())
        .collect();
    let arm64 = archs.contains(&"arm64");
    if !arm64 && !archs.contains(&"x86_64") && !archs.is_empty() {
        return None;
    }
    let gpus: u32 = sub("gpuInfo")
        .map(|g| items(g, "gpus"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|g| child(g, "count")?.parse::<u32>().ok())
        .sum();
    let mut t = tr::InstanceType::new(name, vcpus, mib);
    t.burstable = child(i, "burstablePerformanceSupported") == Some("true");
    t.arm64 = arm64;
    t.gpus = gpus;
    Some(t)
}

const LIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

/// The app's live instances and its security group, by tag.
pub(super) async fn observe(d: &AwsDriver, app: &str) -> Result<Vec<Current>, DriverError> {
    let mut out = Vec::new();
    for i in instances(d, app, LIVE).await? {
        let Some(id) = i.tags.get(TAG_COMPONENT).and_then(|c| component_id(c)) else {
            continue;
        };
        out.push(Current {
            id,
            spec_hash: i.tags.get(TAG_SPEC_HASH).cloned(),
            spec: None,
            handle: i.id,
            rank: RANK_INSTANCE,
            opaque: Vec::new(),
        });
    }
    for g in security_groups(d, app).await? {
        out.push(Current {
            id: ResourceId::new("security-group", app),
            spec_hash: g.tags.get(TAG_SPEC_HASH).cloned(),
            spec: Some(
                json!({"GroupName": g.name, "Ingress": g.ingress.iter().collect::<Vec<_>>()}),
            ),
            handle: g.id,
            rank: RANK_SECURITY_GROUP,
            opaque: vec!["Subnet".into()],
        });
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub ingress: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

fn parse_groups(text: &str) -> Result<Vec<Group>, DriverError> {
    let doc = xml(text).map_err(|e| e.into_driver("DescribeSecurityGroups", "-"))?;
    let mut out = Vec::new();
    for g in items(doc.root_element(), "securityGroupInfo") {
        let mut ingress = BTreeSet::new();
        for perm in items(g, "ipPermissions") {
            let proto = child(perm, "ipProtocol").unwrap_or_default();
            let from = child(perm, "fromPort").unwrap_or_default();
            let to = child(perm, "toPort").unwrap_or_default();
            let open = items(perm, "ipRanges")
                .into_iter()
                .any(|r| child(r, "cidrIp") == Some("0.0.0.0/0"));
            if open && from == to {
                ingress.insert(format!("{proto}/{from}"));
            }
        }
        out.push(Group {
            id: child(g, "groupId").unwrap_or_default().to_string(),
            name: child(g, "groupName").unwrap_or_default().to_string(),
            ingress,
            tags: tag_set(g),
        });
    }
    Ok(out)
}

async fn security_groups(d: &AwsDriver, app: &str) -> Result<Vec<Group>, DriverError> {
    let text = call(
        d,
        "DescribeSecurityGroups",
        "-",
        &filters(&[
            ("tag:bridge.app", vec![app.to_string()]),
            (
                "tag:bridge.component",
                vec![format!("security-group/{app}")],
            ),
        ]),
    )
    .await?;
    parse_groups(&text)
}

/// The id of the app's security group, if it exists.
pub(crate) async fn app_security_group(
    d: &AwsDriver,
    app: &str,
) -> Result<Option<String>, DriverError> {
    Ok(security_groups(d, app)
        .await?
        .into_iter()
        .next()
        .map(|g| g.id))
}

pub(crate) async fn default_vpc(d: &AwsDriver) -> Result<String, DriverError> {
    let text = call(
        d,
        "DescribeVpcs",
        "-",
        &filters(&[("isDefault", vec!["true".into()])]),
    )
    .await?;
    let doc = xml(&text).map_err(|e| e.into_driver("DescribeVpcs", "-"))?;
    items(doc.root_element(), "vpcSet")
        .into_iter()
        .find_map(|v| child(v, "vpcId").map(str::to_string))
        .ok_or_else(|| {
            err(
                "-",
                ErrorKind::Unsatisfiable,
                "the region has no default VPC",
            )
            .with_hint("set providers.aws.subnets (the app's security group goes into their VPC)")
        })
}

pub(crate) async fn vpc_of_subnet(d: &AwsDriver, subnet: &str) -> Result<String, DriverError> {
    let text = call(d, "DescribeSubnets", "-", &vec![p("SubnetId.1", subnet)]).await?;
    let doc = xml(&text).map_err(|e| e.into_driver("DescribeSubnets", "-"))?;
    items(doc.root_element(), "subnetSet")
        .into_iter()
        .find_map(|v| child(v, "vpcId").map(str::to_string))
        .ok_or_else(|| {
            err(
                "providers.aws.subnets",
                ErrorKind::NotFound,
                format!("subnet `{subnet}` not found"),
            )
        })
}

/// The default VPC's default subnets, for awsvpc tasks when the app names none.
pub(crate) async fn default_subnets(d: &AwsDriver) -> Result<Vec<String>, DriverError> {
    let text = call(
        d,
        "DescribeSubnets",
        "-",
        &filters(&[("default-for-az", vec!["true".into()])]),
    )
    .await?;
    let doc = xml(&text).map_err(|e| e.into_driver("DescribeSubnets", "-"))?;
    let mut out: Vec<String> = items(doc.root_element(), "subnetSet")
        .into_iter()
        .filter_map(|v| child(v, "subnetId").map(str::to_string))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(err(
            "providers.aws.subnets",
            ErrorKind::Unsatisfiable,
            "awsvpc tasks need subnets, and the region has no default subnets",
        )
        .with_hint("set providers.aws.subnets"));
    }
    Ok(out)
}

/// The account id (STS GetCallerIdentity).
pub(crate) async fn account_id(d: &AwsDriver) -> Result<String, DriverError> {
    let text = d
        .client
        .query(Svc::Sts, "GetCallerIdentity", &[])
        .await
        .map_err(|e| e.into_driver("GetCallerIdentity", "-"))?;
    let doc = xml(&text).map_err(|e| e.into_driver("GetCallerIdentity", "-"))?;
    doc.descendants()
        .find(|n| n.has_tag_name("Account"))
        .and_then(|n| n.text())
        .map(str::to_string)
        .ok_or_else(|| {
            err(
                "-",
                ErrorKind::Other,
                "GetCallerIdentity: no account in the answer",
            )
        })
}

/// VM name -> private address of its (first) running instance.
pub(crate) async fn vm_addresses(
    d: &AwsDriver,
    app: &str,
) -> Result<BTreeMap<String, String>, DriverError> {
    let mut out = BTreeMap::new();
    let mut list = instances(d, app, &["pending", "running"]).await?;
    list.sort_by(|a, b| a.tags.get(TAG_COMPONENT).cmp(&b.tags.get(TAG_COMPONENT)));
    for i in list {
        let (Some(c), Some(ip)) = (i.tags.get(TAG_COMPONENT), i.private_ip) else {
            continue;
        };
        let Some(name) = c.strip_prefix("instance/") else {
            continue;
        };
        if name.starts_with("host-") {
            continue;
        }
        let vm = match name.rsplit_once('-') {
            Some((v, n)) if n.chars().all(|c| c.is_ascii_digit()) && !out.contains_key(v) => {
                v.to_string()
            }
            _ => name.to_string(),
        };
        out.entry(vm).or_insert(ip);
    }
    Ok(out)
}

fn tag_list(app: &str, component: &str, hash: &str) -> Value {
    json!([
        {"Key": TAG_APP, "Value": app},
        {"Key": TAG_COMPONENT, "Value": component},
        {"Key": TAG_SPEC_HASH, "Value": hash},
    ])
}

/// Create the group (in the subnets' VPC or the default VPC) or adopt the one of the same name,
/// then make its ingress exactly the app's published ports; delete it once nothing uses it.
pub(super) async fn apply_security_group(
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
                .query(Svc::Ec2, "DeleteSecurityGroup", &[p("GroupId", id.clone())])
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is(&["InvalidGroup.NotFound", "InvalidGroupId.NotFound"]) => {
                    return Ok(());
                }
                Err(e) if e.is(&["DependencyViolation"]) && start.elapsed() < d.delete_timeout => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.into_driver("DeleteSecurityGroup", &res)),
            }
        }
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let hash = bridge_core_hash(spec);
    let name = spec["GroupName"].as_str().unwrap_or_default().to_string();
    let group = match security_groups(d, app).await?.into_iter().next() {
        Some(g) => g,
        None => {
            let vpc = match spec["Subnet"].as_str() {
                Some(s) => vpc_of_subnet(d, s).await?,
                None => default_vpc(d).await?,
            };
            let mut params = vec![
                p("GroupName", name.clone()),
                p(
                    "GroupDescription",
                    format!("bridge app {app}: published ports"),
                ),
                p("VpcId", vpc.clone()),
            ];
            flatten(
                "",
                &json!({"TagSpecifications": [{"ResourceType": "security-group", "Tags": tag_list(app, &res, &hash)}]}),
                &mut params,
            );
            match d
                .client
                .query(Svc::Ec2, "CreateSecurityGroup", &params)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is(&["InvalidGroup.Duplicate"]) => {
                    // Created by a killed run before it could tag, or by hand: adopt it.
                    let text = call(
                        d,
                        "DescribeSecurityGroups",
                        &res,
                        &filters(&[
                            ("group-name", vec![name.clone()]),
                            ("vpc-id", vec![vpc.clone()]),
                        ]),
                    )
                    .await?;
                    if let Some(g) = parse_groups(&text)?.into_iter().next() {
                        let mut t = vec![p("ResourceId.1", g.id.clone())];
                        flatten("", &json!({"Tags": tag_list(app, &res, &hash)}), &mut t);
                        call(d, "CreateTags", &res, &t).await?;
                    }
                }
                Err(e) => return Err(e.into_driver("CreateSecurityGroup", &res)),
            }
            security_groups(d, app)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    err(
                        &res,
                        ErrorKind::Other,
                        "the security group was created but cannot be found by its tags",
                    )
                })?
        }
    };
    let want: BTreeSet<String> = spec["Ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    let perm = |rule: &str| -> Value {
        let (proto, port) = rule.split_once('/').unwrap_or(("tcp", rule));
        let port: u64 = port.parse().unwrap_or(0);
        json!({"IpProtocol": proto, "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
    };
    let add: Vec<Value> = want.difference(&group.ingress).map(|r| perm(r)).collect();
    let remove: Vec<Value> = group.ingress.difference(&want).map(|r| perm(r)).collect();
    if !add.is_empty() {
        let mut params = vec![p("GroupId", group.id.clone())];
        flatten("", &json!({"IpPermissions": add}), &mut params);
        match d
            .client
            .query(Svc::Ec2, "AuthorizeSecurityGroupIngress", &params)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is(&["InvalidPermission.Duplicate"]) => {}
            Err(e) => return Err(e.into_driver("AuthorizeSecurityGroupIngress", &res)),
        }
    }
    if !remove.is_empty() {
        let mut params = vec![p("GroupId", group.id.clone())];
        flatten("", &json!({"IpPermissions": remove}), &mut params);
        match d
            .client
            .query(Svc::Ec2, "RevokeSecurityGroupIngress", &params)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is(&["InvalidPermission.NotFound"]) => {}
            Err(e) => return Err(e.into_driver("RevokeSecurityGroupIngress", &res)),
        }
    }
    if group.tags.get(TAG_SPEC_HASH) != Some(&hash) {
        let mut t = vec![p("ResourceId.1", group.id.clone())];
        flatten(
            "",
            &json!({"Tags": [{"Key": TAG_SPEC_HASH, "Value": hash}]}),
            &mut t,
        );
        call(d, "CreateTags", &res, &t).await?;
    }
    Ok(())
}

async fn resolve_ami(d: &AwsDriver, image: &str, res: &str) -> Result<String, DriverError> {
    let Some(param) = image.strip_prefix("resolve:ssm:") else {
        return Ok(image.to_string());
    };
    match d
        .client
        .json(Svc::Ssm, "GetParameter", &json!({"Name": param}))
        .await
    {
        Ok(v) => v["Parameter"]["Value"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                err(
                    res,
                    ErrorKind::Other,
                    format!("the SSM parameter {param} has no value"),
                )
            }),
        Err(e) if e.is(&["ParameterNotFound"]) => Err(err(
            res,
            ErrorKind::Unsatisfiable,
            format!(
                "the ECS-optimised AMI parameter {ECS_AMI_PARAMETER} does not exist in this region"
            ),
        )
        .with_hint("set providers.aws.ami to an ECS-optimised AMI id of the region")),
        Err(e) => Err(e.into_driver("GetParameter", res)),
    }
}

/// The RunInstances body for a step (AMI resolved, user data, security group, tags, token).
async fn run_body(
    d: &AwsDriver,
    app: &str,
    step: &Step,
    spec: &Value,
    token: &str,
) -> Result<Value, DriverError> {
    let res = step.resource.to_string();
    let hash = bridge_core_hash(spec);
    let sg = match app_security_group(d, app).await? {
        Some(g) => vec![g],
        None => Vec::new(),
    };
    let mut body = if spec["Role"] == "vm" {
        spec["RunInstances"].clone()
    } else {
        let cluster = spec["Cluster"].as_str().unwrap_or_default();
        let mut ud =
            format!("#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={cluster}\n");
        if let Some(a) = spec["Attributes"].as_object()
            && !a.is_empty()
        {
            ud.push_str(&format!(
                "ECS_INSTANCE_ATTRIBUTES={}\n",
                Value::Object(a.clone())
            ));
        }
        ud.push_str("EOF\n");
        let mut b = json!({
            "ImageId": spec["ImageId"],
            "InstanceType": spec["InstanceType"],
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": bridge_translators::swarm::base64(ud.as_bytes()),
        });
        if let Some(s) = spec["SubnetId"].as_str() {
            b["SubnetId"] = json!(s);
        }
        if let Some(pr) = spec["IamInstanceProfile"].as_str() {
            b["IamInstanceProfile"] = if pr.starts_with("arn:") {
                json!({"Arn": pr})
            } else {
                json!({"Name": pr})
            };
        }
        if spec["SecurityGroupIds"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            b["SecurityGroupIds"] = spec["SecurityGroupIds"].clone();
        }
        b["TagSpecifications"] = json!([
            {"ResourceType": "instance", "Tags": tag_list(app, &res, &hash)},
            {"ResourceType": "volume", "Tags": tag_list(app, &res, &hash)},
        ]);
        b
    };
    let image = body["ImageId"].as_str().unwrap_or_default().to_string();
    let image = resolve_ami(d, &image, &res).await?;
    body["ImageId"] = json!(image);
    // The translator names the root disk /dev/xvda; the AMI says what its root device is.
    if body["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"
        && let Some(root) = root_device(d, &image, &res).await?
    {
        body["BlockDeviceMappings"][0]["DeviceName"] = json!(root);
    }
    if body["SecurityGroupIds"]
        .as_array()
        .is_none_or(|a| a.is_empty())
        && !sg.is_empty()
    {
        body["SecurityGroupIds"] = json!(sg);
    }
    if let Some(ts) = body["TagSpecifications"].as_array_mut() {
        for t in ts {
            if let Some(tags) = t["Tags"].as_array_mut() {
                tags.retain(|x| x["Key"] != TAG_SPEC_HASH);
                tags.push(json!({"Key": TAG_SPEC_HASH, "Value": hash}));
            }
        }
    }
    body["ClientToken"] = json!(token);
    Ok(body)
}

/// The root device name of an AMI, when EC2 knows the AMI (else RunInstances reports it).
async fn root_device(d: &AwsDriver, image: &str, res: &str) -> Result<Option<String>, DriverError> {
    let text = match d
        .client
        .query(Svc::Ec2, "DescribeImages", &[p("ImageId.1", image)])
        .await
    {
        Ok(t) => t,
        Err(e) if e.is(&["InvalidAMIID.NotFound", "InvalidAMIID.Malformed"]) => return Ok(None),
        Err(e) => return Err(e.into_driver("DescribeImages", res)),
    };
    let doc = xml(&text).map_err(|e| e.into_driver("DescribeImages", res))?;
    Ok(items(doc.root_element(), "imagesSet")
        .into_iter()
        .find_map(|i| child(i, "rootDeviceName").map(str::to_string)))
}

/// Launch the instance unless a live one carries its component tag (the ClientToken covers a
/// launch whose answer was lost); a container instance is waited for until it registers with
/// the cluster. Replace terminates the old one first; delete terminates and waits.
pub(super) async fn apply_instance(
    d: &AwsDriver,
    app: &str,
    step: &Step,
) -> Result<(), DriverError> {
    let res = step.resource.to_string();
    if matches!(step.action, Action::Delete | Action::Replace)
        && let Some(id) = &step.handle
    {
        terminate(d, &res, id).await?;
        if step.action == Action::Delete {
            return Ok(());
        }
    }
    let Some(spec) = &step.after else {
        return Ok(());
    };
    let all = instances(d, app, &[]).await?;
    let mine: Vec<&Inst> = all
        .iter()
        .filter(|i| i.tags.get(TAG_COMPONENT) == Some(&res))
        .collect();
    let id = if let Some(live) = mine.iter().find(|i| LIVE.contains(&i.state.as_str())) {
        live.id.clone()
    } else {
        // A new token once an instance of this component is gone (a replacement), the same
        // one for a rerun after a launch whose answer was lost.
        let gone: Vec<&str> = mine.iter().map(|i| i.id.as_str()).collect();
        let token = format!(
            "bridge-{}",
            bridge_core::hash::spec_hash(&(app, &res, bridge_core_hash(spec), gone))
        );
        let body = run_body(d, app, step, spec, &token).await?;
        let mut params = Vec::new();
        flatten("", &body, &mut params);
        let text = call(d, "RunInstances", &res, &params).await?;
        let doc = xml(&text).map_err(|e| e.into_driver("RunInstances", &res))?;
        items(doc.root_element(), "instancesSet")
            .into_iter()
            .find_map(|i| child(i, "instanceId").map(str::to_string))
            .ok_or_else(|| err(&res, ErrorKind::Other, "RunInstances returned no instance"))?
    };
    if spec["Role"] == "container-instance" {
        let cluster = spec["Cluster"].as_str().unwrap_or_default();
        wait_registered(d, &res, cluster, &id, spec["Attributes"].as_object()).await?;
    }
    Ok(())
}

async fn wait_registered(
    d: &AwsDriver,
    res: &str,
    cluster: &str,
    instance: &str,
    attributes: Option<&serde_json::Map<String, Value>>,
) -> Result<(), DriverError> {
    let start = Instant::now();
    loop {
        let v = d
            .ecs("ListContainerInstances", res, json!({"cluster": cluster}))
            .await?;
        let arns = v["containerInstanceArns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !arns.is_empty() {
            let v = d
                .ecs(
                    "DescribeContainerInstances",
                    res,
                    json!({"cluster": cluster, "containerInstances": arns}),
                )
                .await?;
            if let Some(ci) = v["containerInstances"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["ec2InstanceId"] == instance && c["status"] == "ACTIVE")
            {
                let arn = ci["containerInstanceArn"].as_str().unwrap_or_default();
                if let Some(a) = attributes.filter(|a| !a.is_empty()) {
                    let attrs: Vec<Value> = a
                        .iter()
                        .map(|(k, v)| json!({"name": k, "value": v, "targetType": "container-instance", "targetId": arn}))
                        .collect();
                    d.ecs(
                        "PutAttributes",
                        res,
                        json!({"cluster": cluster, "attributes": attrs}),
                    )
                    .await?;
                }
                return Ok(());
            }
        }
        if start.elapsed() >= d.register_timeout {
            return Err(err(
                res,
                ErrorKind::Timeout,
                format!("instance {instance} did not register with the ECS cluster {cluster} within {}s", d.register_timeout.as_secs()),
            )
            .with_hint("the ECS agent on the instance must reach ECS: give the instance an instance profile with the AmazonEC2ContainerServiceforEC2Role policy (providers.aws.instance_profile) and a route to the internet or VPC endpoints"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn terminate(d: &AwsDriver, res: &str, id: &str) -> Result<(), DriverError> {
    match d
        .client
        .query(Svc::Ec2, "TerminateInstances", &[p("InstanceId.1", id)])
        .await
    {
        Ok(_) => {}
        Err(e) if e.is(&["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]) => {
            return Ok(());
        }
        Err(e) => return Err(e.into_driver("TerminateInstances", res)),
    }
    let start = Instant::now();
    loop {
        let text = match d
            .client
            .query(Svc::Ec2, "DescribeInstances", &[p("InstanceId.1", id)])
            .await
        {
            Ok(t) => t,
            Err(e) if e.is(&["InvalidInstanceID.NotFound"]) => return Ok(()),
            Err(e) => return Err(e.into_driver("DescribeInstances", res)),
        };
        let doc = xml(&text).map_err(|e| e.into_driver("DescribeInstances", res))?;
        let state = doc
            .descendants()
            .find(|n| n.has_tag_name("instanceState"))
            .and_then(|s| child(s, "name"))
            .unwrap_or("terminated")
            .to_string();
        if state == "terminated" {
            return Ok(());
        }
        if start.elapsed() >= d.delete_timeout {
            return Err(err(
                res,
                ErrorKind::Timeout,
                format!(
                    "instance {id} is still {state} after {}s",
                    d.delete_timeout.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_follow_the_model() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"ImageId": "ami-1", "MinCount": 1, "SecurityGroupIds": ["sg-1"], "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}]}),
            &mut out,
        );
        let keys: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            keys,
            vec![
                "ImageId=ami-1",
                "MinCount=1",
                "SecurityGroupId.1=sg-1",
                "TagSpecification.1.ResourceType=instance",
                "TagSpecification.1.Tag.1.Key=a",
                "TagSpecification.1.Tag.1.Value=b",
            ]
        );
    }
}
