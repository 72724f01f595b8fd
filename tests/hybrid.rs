//! Issue 11 acceptance: one app across providers, through the orchestrator. examples/13 on AWS
//! (moto server, every body checked against botocore's models) and GCE (the Compute test
//! server, every body checked against the discovery document) with an address reference each
//! way passes the multi-provider conformance harness; the addresses the peers hold are read back
//! and compared with what the producers' APIs report.

#[path = "support/moto.rs"]
mod moto;
mod support;

use std::collections::BTreeMap;

use bridge_core::model::ProviderKind;
use bridge_core::partition::Partition;
use bridge_providers::DynDriver;
use bridge_providers::aws::{AwsDriver, Overrides};
use bridge_providers::orchestrator::Orchestrator;
use support::gce::{PROJECT, Server, ZONE, valid};
use support::peers;

/// examples/13-hybrid-each-way as it stands, pointed at the test peers: the GCE project and
/// zone of the Compute test server, moto's region and AMI, an execution role (moto has no IAM
/// default).
fn each_way(name: &str) -> String {
    let src =
        std::fs::read_to_string(peers::root().join("examples/13-hybrid-each-way/bridge.yaml"))
            .unwrap_or_else(|e| panic!("examples/13: {e}"));
    let mut y = src.clone();
    for (from, to) in [
        ("name: orders\n".to_string(), format!("name: {name}\n")),
        (
            "region: eu-west-1, ".to_string(),
            "execution_role_arn: 'arn:aws:iam::123456789012:role/exec', ".to_string(),
        ),
        (
            "ami-0c1c30571d2dae5c9".to_string(),
            "ami-03cf127a".to_string(),
        ),
        (
            "project: acme-orders, zone: europe-west1-b".to_string(),
            format!("project: {PROJECT}, zone: {ZONE}"),
        ),
    ] {
        assert!(y.contains(&from), "examples/13 changed: {from:?} is gone");
        y = y.replace(&from, &to);
    }
    y
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

#[test]
fn an_app_across_aws_and_gce_with_a_reference_each_way_passes_the_harness() {
    let name = "hyb-aws-gce";
    let m = moto::Moto::start(name, "us-east-1");
    let server = Server::start("hybrid", 3600.0);
    let app = valid(&each_way(name));
    let partition = Partition::new(&app, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        partition.providers(),
        vec![ProviderKind::Aws, ProviderKind::Gce]
    );
    let rt = rt();
    let result = rt.block_on(async {
        let aws = AwsDriver::connect_with(
            &app,
            std::env::temp_dir(),
            Overrides {
                endpoint_url: Some(m.endpoint.clone()),
                region: Some(m.region.clone()),
                keys: Some(("testing".into(), "testing".into())),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let gce = server.driver(&app).map_err(|e| e.to_string())?;
        let mut drivers: BTreeMap<ProviderKind, Box<dyn DynDriver>> = BTreeMap::new();
        drivers.insert(ProviderKind::Aws, Box::new(aws));
        drivers.insert(ProviderKind::Gce, Box::new(gce));
        let orch = Orchestrator::new(partition, drivers)
            .map_err(|e| e.to_string())?
            .with_poll(std::time::Duration::from_millis(200));
        support::conformance::hybrid(&orch, || async {
            // AWS -> GCE: the task definition ECS holds carries the address Compute reports for
            // the VM (its external NAT IP, else its internal IP: another provider reaches it).
            let (_, inst) = server.request(
                "GET",
                &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/{name}-db"),
                Some(&server.token()),
                None,
            );
            let nic = &inst["networkInterfaces"][0];
            let want = nic["accessConfigs"][0]["natIP"]
                .as_str()
                .or(nic["networkIP"].as_str())
                .ok_or(format!("the GCE VM has no address: {inst}"))?
                .to_string();
            let families = m.boto("ecs", "list_task_definitions", "{}");
            let arn = families["taskDefinitionArns"]
                .as_array()
                .and_then(|a| a.iter().filter_map(|x| x.as_str()).find(|x| x.contains("api")))
                .ok_or(format!("no api task definition: {families}"))?
                .to_string();
            let td = m.boto(
                "ecs",
                "describe_task_definition",
                &serde_json::json!({"taskDefinition": arn}).to_string(),
            );
            let env = &td["taskDefinition"]["containerDefinitions"][0]["environment"];
            let got = env
                .as_array()
                .and_then(|e| e.iter().find(|x| x["name"] == "DB_HOST"))
                .and_then(|x| x["value"].as_str())
                .unwrap_or_default();
            if got != want {
                return Err(format!("DB_HOST on ECS is {got:?}, Compute reports {want:?}"));
            }
            // GCE -> AWS: the worker's user data holds the private address EC2 reports for cache.
            let ec2 = m.boto(
                "ec2",
                "describe_instances",
                &serde_json::json!({"Filters": [{"Name": "tag:bridge.component", "Values": ["instance/cache"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}]}).to_string(),
            );
            let ip = ec2["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
                .as_str()
                .ok_or(format!("cache has no private address: {ec2}"))?
                .to_string();
            let (_, w) = server.request(
                "GET",
                &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/{name}-worker"),
                Some(&server.token()),
                None,
            );
            let ud = w["metadata"]["items"]
                .as_array()
                .and_then(|i| i.iter().find(|x| x["key"] == "user-data"))
                .and_then(|x| x["value"].as_str())
                .unwrap_or_default();
            if !ud.contains(&format!("CACHE_HOST={ip}")) {
                return Err(format!("the worker's user data does not hold {ip}: {ud}"));
            }
            Ok(())
        })
        .await
    });
    if let Err(e) = result {
        panic!("{e}\n--- moto log ---\n{}", m.log());
    }
    // Every body sent to AWS passes botocore's models (the test server refused any body the
    // discovery document does not allow).
    assert!(m.check_bodies(name) >= 2);
}
