//! Sizes from the cloud's own catalogue on EC2 (issue 12): the AWS driver reads the region's
//! instance types once per run in `check` (DescribeInstanceTypeOfferings for the region, then
//! DescribeInstanceTypes, every page; both request bodies checked against botocore's EC2 model)
//! and the translator picks the smallest type that holds each VM. Against moto (its catalogue of
//! several hundred real types): a VM of 1 vCPU and 1 GiB gets `t2.micro`-sized (1 vCPU, 1 GiB),
//! which the stock list (t3/m5/c5/r5) lacks, read back from DescribeInstances; render without
//! credentials warns T227; a VM larger than every type is an error naming it and the largest.

#[path = "support/moto.rs"]
mod moto;
#[path = "support/peers.rs"]
mod peers;

use bridge_providers::Driver;
use bridge_providers::aws::{AwsDriver, Overrides};
use bridge_providers::engine::{self, ApplyOptions};
use moto::{Moto, workdir};
use peers::text;
use serde_json::Value;

fn yaml(name: &str, cpus: &str, memory: &str) -> String {
    format!(
        "bridge: v1\nname: {name}\nvms:\n  db:\n    image: ubuntu\n    cpus: {cpus}\n    memory: {memory}\nproviders:\n  aws: {{region: us-east-1, images: {{ubuntu: ami-12c6146b}}}}\n"
    )
}

fn load(yaml: &str) -> bridge_core::ValidApp {
    let l = bridge_core::load_str(
        &std::sync::Arc::from("bridge.yaml"),
        yaml,
        std::path::Path::new("."),
        &bridge_core::LoadOptions::default(),
    );
    l.valid
        .unwrap_or_else(|| panic!("does not validate: {:?}", l.diagnostics))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

async fn driver(m: &Moto, app: &bridge_core::ValidApp) -> AwsDriver {
    AwsDriver::connect_with(
        app,
        std::env::temp_dir(),
        Overrides {
            endpoint_url: Some(m.endpoint.clone()),
            region: Some(m.region.clone()),
            keys: Some(("testing".into(), "testing".into())),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"))
}

fn vm_type(desired: &[bridge_core::plan::Desired]) -> String {
    desired
        .iter()
        .find(|d| d.id.kind == "instance")
        .map(|d| {
            d.spec["RunInstances"]["InstanceType"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

#[test]
fn aws_vm_gets_the_smallest_instance_type_the_region_offers() {
    let m = Moto::start("itypes", "us-east-1");
    let app = load(&yaml("it-itypes", "1", "1GiB"));
    let rt = rt();
    rt.block_on(async {
        let d = driver(&m, &app).await;
        // Before verify: the stock list, and the translator says so.
        let (desired, diags) = d.desired(&app);
        assert!(diags.iter().any(|x| x.code == "T229"), "{diags:?}");
        assert_eq!(vm_type(&desired), "t3.micro");

        d.verify(&app).await.unwrap_or_else(|e| panic!("verify: {e}"));
        let types = d.instance_types().await.unwrap_or_else(|e| panic!("{e}"));
        // Cached: a second read sends nothing.
        let before = m.recorded().len();
        let _ = d.instance_types().await;
        assert_eq!(m.recorded().len(), before, "the catalogue is read once per run");
        // What moto offers in the region, independently through boto3.
        let offered = m.boto(
            "ec2",
            "describe_instance_type_offerings",
            r#"{"LocationType": "region"}"#,
        );
        let offered: Vec<&str> = offered["InstanceTypeOfferings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["InstanceType"].as_str())
            .collect();
        assert!(types.len() > 100, "{}", types.len());
        assert!(types.iter().all(|t| offered.contains(&t.name.as_str())));
        assert!(types.iter().any(|t| t.arm64), "no Graviton types read");
        assert!(types.iter().any(|t| t.gpus > 0), "no GPU types read");

        let (desired, diags) = d.desired(&app);
        assert!(!diags.has_errors(), "{diags:?}");
        assert!(!diags.iter().any(|x| x.code == "T229"), "{diags:?}");
        let chosen = vm_type(&desired);
        assert!(!["t3.micro", ""].contains(&chosen.as_str()), "{chosen}");
        // The smallest x86-64 type without GPUs that holds 1 vCPU and 1 GiB, by boto3's answer.
        let info = m.boto(
            "ec2",
            "describe_instance_types",
            &format!(r#"{{"InstanceTypes": ["{chosen}"]}}"#),
        );
        let it = &info["InstanceTypes"][0];
        assert_eq!(it["VCpuInfo"]["DefaultVCpus"], 1, "{it}");
        assert_eq!(it["MemoryInfo"]["SizeInMiB"], 1024, "{it}");
        assert!(
            it["ProcessorInfo"]["SupportedArchitectures"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "x86_64")),
            "{it}"
        );

        let quiet = |_: &engine::Event| {};
        let plan = engine::plan(&d, "it-itypes", &desired)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        engine::apply_plan(&d, "it-itypes", &plan, &ApplyOptions::default(), &quiet)
            .await
            .unwrap_or_else(|e| panic!("deploy: {e}"));
        // Read back from EC2.
        let got = m.boto(
            "ec2",
            "describe_instances",
            r#"{"Filters": [{"Name": "tag:bridge.app", "Values": ["it-itypes"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}]}"#,
        );
        let types: Vec<Value> = got["Reservations"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["Instances"].as_array().cloned().unwrap_or_default())
            .map(|i| i["InstanceType"].clone())
            .collect();
        assert_eq!(types, [Value::String(chosen.clone())], "{got}");
        engine::destroy(&d, "it-itypes", &ApplyOptions::default(), &quiet)
            .await
            .unwrap_or_else(|e| panic!("destroy: {e}"));
    });
    let recorded = m.recorded();
    for op in [
        "DescribeInstanceTypes",
        "DescribeInstanceTypeOfferings",
        "RunInstances",
    ] {
        assert!(recorded.iter().any(|r| r.op == op), "no {op} sent");
    }
    assert!(m.check_bodies("itypes") >= 3);
}

#[test]
fn aws_vm_larger_than_every_type_names_it_and_the_largest() {
    let m = Moto::start("itbig", "us-east-1");
    let app = load(&yaml("it-itbig", "4096", "1GiB"));
    rt().block_on(async {
        let d = driver(&m, &app).await;
        d.verify(&app)
            .await
            .unwrap_or_else(|e| panic!("verify: {e}"));
        let (_, diags) = d.desired(&app);
        let e = diags
            .iter()
            .find(|x| x.severity == bridge_core::Severity::Error && x.path == "vms.db")
            .unwrap_or_else(|| panic!("no error on vms.db: {diags:?}"));
        assert!(
            e.message.contains("vm `db`") && e.message.contains("the region offers"),
            "{}",
            e.message
        );
        let hint = e.hint.clone().unwrap_or_default();
        // The largest x86-64 type the region offers, as bridge read it.
        let types = d.instance_types().await.unwrap_or_else(|e| panic!("{e}"));
        let biggest = types
            .iter()
            .filter(|t| !t.arm64 && t.gpus == 0)
            .map(|t| t.vcpus)
            .max()
            .unwrap_or_default();
        assert!(hint.contains(&format!("({biggest} vCPU")), "{hint}");
    });
}

#[test]
fn aws_render_without_credentials_says_the_sizes_are_the_stock_list() {
    let dir = workdir("itrender");
    std::fs::write(dir.join("bridge.yaml"), yaml("it-itr", "1", "1GiB"))
        .unwrap_or_else(|e| panic!("{e}"));
    let o = moto::bridge(None, &dir)
        .args(["render", "-f", "bridge.yaml", "-p", "aws", "-o", "out"])
        .output()
        .unwrap_or_else(|e| panic!("render: {e}"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("T229"), "{}", text(&o));
}
