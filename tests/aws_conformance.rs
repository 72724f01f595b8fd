//! The driver conformance harness run for the AWS driver against a moto server (EC2 launch type
//! with its container-instance pool, and Fargate), in process through `AwsDriver::connect_with`.

#[path = "support/conformance.rs"]
mod conformance;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use std::path::Path;
use std::sync::Arc;

use bridge_core::{LoadOptions, ValidApp, load_str};
use bridge_providers::aws::{AwsDriver, Overrides};
use moto::Moto;

pub(crate) fn app(yaml: &str) -> ValidApp {
    let loaded = load_str(
        &Arc::from("conf.yaml"),
        yaml,
        Path::new("."),
        &LoadOptions::default(),
    );
    loaded
        .valid
        .unwrap_or_else(|| panic!("does not validate: {:?}", loaded.diagnostics))
}

fn run(name: &str, yaml: &str) -> Moto {
    let m = Moto::start(name, "us-east-1");
    let valid = app(yaml);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let result = rt.block_on(async {
        let driver = AwsDriver::connect_with(
            &valid,
            std::env::temp_dir(),
            Overrides {
                endpoint_url: Some(m.endpoint.clone()),
                region: Some(m.region.clone()),
                keys: Some(("testing".into(), "testing".into())),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        conformance::lifecycle(&driver, &valid).await
    });
    if let Err(e) = result {
        panic!("{e}\n--- moto log ---\n{}", m.log());
    }
    // Every body the driver sent passes botocore's models.
    assert!(m.check_bodies(name) >= 3);
    m
}

/// The harness through the orchestrator (which resolves `${vms.X.address}` from the driver's
/// outputs before the task definition is translated).
fn run_orchestrated(name: &str, yaml: &str) -> Moto {
    let m = Moto::start(name, "us-east-1");
    orchestrated(&m, name, yaml, |_| Ok(()));
    m
}

/// [`run_orchestrated`] on a running moto, with `check` reading the deployed app back from
/// moto between the first apply and destroy.
fn orchestrated(m: &Moto, name: &str, yaml: &str, check: impl Fn(&Moto) -> Result<(), String>) {
    use bridge_core::model::ProviderKind;
    let valid = app(yaml);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let result = rt.block_on(async {
        let driver = AwsDriver::connect_with(
            &valid,
            std::env::temp_dir(),
            Overrides {
                endpoint_url: Some(m.endpoint.clone()),
                region: Some(m.region.clone()),
                keys: Some(("testing".into(), "testing".into())),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let partition = bridge_core::partition::Partition::new(&valid, Some(ProviderKind::Aws))
            .map_err(|e| format!("{e:?}"))?;
        let mut drivers: std::collections::BTreeMap<
            ProviderKind,
            Box<dyn bridge_providers::DynDriver>,
        > = Default::default();
        drivers.insert(ProviderKind::Aws, Box::new(driver));
        let orch = bridge_providers::orchestrator::Orchestrator::new(partition, drivers)
            .map_err(|e| e.to_string())?
            .with_poll(std::time::Duration::from_millis(200));
        conformance::hybrid(&orch, || {
            let r = check(m);
            async move { r }
        })
        .await
    });
    if let Err(e) = result {
        panic!("{e}\n--- moto log ---\n{}", m.log());
    }
    assert!(m.check_bodies(name) >= 3);
}

#[test]
fn aws_driver_passes_the_conformance_harness_on_ec2() {
    let m = run(
        "conf-ec2",
        "bridge: v1\nname: confec2\nservices:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n    depends_on: [db]\n    resources: {cpus: 0.25, memory: 256MiB}\n  db:\n    image: redis:7\n    replicas: 2\n    resources: {cpus: 0.25, memory: 256MiB}\nproviders:\n  aws: {launch_type: ec2}\n",
    );
    // web depends on db (condition started): db's service is created first (the claim
    // CreatesDependencyFirst), as moto received them.
    let created: Vec<String> = m
        .recorded()
        .into_iter()
        .filter(|r| r.op == "CreateService")
        .map(|r| r.body)
        .collect();
    let first = |svc: &str| {
        created
            .iter()
            .position(|b| b.contains(&format!("\"serviceName\":\"{svc}\"")))
            .unwrap_or_else(|| panic!("no CreateService for {svc}: {created:?}"))
    };
    assert!(
        first("confec2-db") < first("confec2-web"),
        "web's service was created before db's: {created:?}"
    );
}

/// A VM with two replicas and a port, given two subnets in different zones: the replicas run
/// one in each subnet, and the app's security group, which each instance has, opens the port
/// (the claims SpreadsVmReplicas and OpensVmPorts), read back from moto's EC2.
#[test]
fn aws_vm_replicas_are_spread_over_the_subnets_and_their_port_opened() {
    let m = Moto::start("conf-spread", "us-east-1");
    let subnets = m.boto(
        "ec2",
        "describe_subnets",
        r#"{"Filters": [{"Name": "default-for-az", "Values": ["true"]}]}"#,
    );
    let mut by_zone = std::collections::BTreeMap::new();
    for s in subnets["Subnets"].as_array().into_iter().flatten() {
        if let (Some(z), Some(id)) = (s["AvailabilityZone"].as_str(), s["SubnetId"].as_str()) {
            by_zone
                .entry(z.to_string())
                .or_insert_with(|| id.to_string());
        }
    }
    let mut two: Vec<String> = by_zone.into_values().take(2).collect();
    assert_eq!(two.len(), 2, "moto has fewer than two zones: {subnets}");
    let yaml = format!(
        "bridge: v1\nname: confspread\nservices:\n  api:\n    image: nginx:1.27\n    ports: ['80:80']\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 2\n    memory: 4GiB\n    replicas: 2\n    ports: [5432]\n    placement: {{spread: zone}}\nproviders:\n  aws: {{launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/exec', images: {{ubuntu-24.04: ami-03cf127a}}, subnets: [{}, {}]}}\n",
        two[0], two[1]
    );
    two.sort();
    let checked = std::sync::atomic::AtomicBool::new(false);
    orchestrated(&m, "conf-spread", &yaml, |m| {
        let r = m.boto(
            "ec2",
            "describe_instances",
            r#"{"Filters": [{"Name": "tag:bridge.app", "Values": ["confspread"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}]}"#,
        );
        let vms: Vec<&serde_json::Value> = r["Reservations"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|x| x["Instances"].as_array().into_iter().flatten())
            .collect();
        let mut got: Vec<String> = vms
            .iter()
            .filter_map(|i| i["SubnetId"].as_str().map(str::to_string))
            .collect();
        got.sort();
        if got != two {
            return Err(format!(
                "the replicas' subnets are {got:?}, not {two:?}: {r}"
            ));
        }
        let g = m.boto(
            "ec2",
            "describe_security_groups",
            r#"{"Filters": [{"Name": "tag:bridge.app", "Values": ["confspread"]}]}"#,
        );
        let Some(group) = g["SecurityGroups"].as_array().and_then(|a| {
            a.iter().find(|sg| {
                sg["IpPermissions"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["FromPort"] == 5432))
            })
        }) else {
            return Err(format!("no security group of the app opens 5432: {g}"));
        };
        for i in &vms {
            let has = i["SecurityGroups"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["GroupId"] == group["GroupId"]));
            if !has {
                return Err(format!(
                    "instance {} is not in the group that opens 5432: {i}",
                    i["InstanceId"]
                ));
            }
        }
        checked.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    });
    assert!(checked.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn aws_driver_passes_the_conformance_harness_on_fargate() {
    // With a one-shot group (restart: never): a task definition run once with RunTask, no
    // ECS service.
    let m = run(
        "conf-fargate",
        "bridge: v1\nname: conffg\nservices:\n  web:\n    image: nginx:1.27\n    ports: ['80:80']\n    replicas: 2\n  migrate:\n    image: busybox:1\n    command: [true]\n    restart: never\nproviders:\n  aws: {launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/exec'}\n",
    );
    let runs: Vec<_> = m
        .recorded()
        .into_iter()
        .filter(|r| r.op == "RunTask")
        .collect();
    assert_eq!(runs.len(), 1, "the one-shot group ran {} times", runs.len());
    assert!(
        runs[0].body.contains("conffg-migrate") && runs[0].body.contains("awsvpcConfiguration"),
        "{}",
        runs[0].body
    );
}

#[test]
fn aws_driver_passes_the_conformance_harness_with_a_vm_and_an_address_reference() {
    let m = run_orchestrated(
        "conf-vm",
        "bridge: v1\nname: confvm\nservices:\n  api:\n    image: nginx:1.27\n    env: {DB_HOST: '${vms.db.address}'}\n    ports: ['443:8443']\nvms:\n  db:\n    image: ubuntu-24.04\n    cpus: 2\n    memory: 4GiB\n    disk: 20GiB\n    ports: [5432]\n    user_data: \"#cloud-config\\npackages: [postgresql]\\n\"\nproviders:\n  aws: {launch_type: fargate, execution_role_arn: 'arn:aws:iam::123456789012:role/exec', images: {ubuntu-24.04: ami-03cf127a}}\n",
    );
    // The reference became the VM's private address before the task definition went out: the
    // one task definition registered (it waited for the VM) holds an address.
    let tds: Vec<_> = m
        .recorded()
        .into_iter()
        .filter(|r| r.op == "RegisterTaskDefinition")
        .collect();
    assert_eq!(tds.len(), 1, "registered {} task definitions", tds.len());
    let td = tds[0].body.clone();
    let v: serde_json::Value = serde_json::from_str(&td).unwrap_or_default();
    let host = v["containerDefinitions"][0]["environment"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        host.parse::<std::net::Ipv4Addr>().is_ok(),
        "DB_HOST is not an address: {td}"
    );
    // The root disk takes the AMI's root device name (moto's ami-03cf127a: /dev/sda1).
    assert!(
        m.recorded().iter().any(|r| r.op == "RunInstances"
            && r.body.contains("BlockDeviceMapping.1.Ebs.VolumeSize=20")
            && r.body
                .contains("BlockDeviceMapping.1.DeviceName=%2Fdev%2Fsda1")),
        "no RunInstances with the 20 GiB root disk on /dev/sda1"
    );
}
