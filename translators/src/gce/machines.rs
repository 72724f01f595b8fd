//! GCE machine types: the catalogue the placement solver chooses from, the size of a machine type
//! named in `providers.gce.machine_type`, and the machine type for a plain VM.
//!
//! The default catalogue is the E2 family: `e2-small` and `e2-medium` (shared-core: counted at
//! their sustained share, 0.5 and 1 vCPU, though they burst to 2), `e2-standard-2/4/8/16`
//! (4 GiB per vCPU), `e2-highmem-2/4/8` (8 GiB per vCPU) and `e2-highcpu-4/8` (1 GiB per vCPU).
//! Costs are us-central1 on-demand prices in tenths of a cent per hour, rounded; they are only
//! compared, so the choice is right wherever the price ratios hold (they do in every region).

use bridge_core::placement::HostType;
use bridge_core::units::{ByteSize, Cpus};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// The E2 catalogue: name, vCPUs in thousandths, memory in GiB, relative cost.
const E2: &[(&str, u64, u64, u64)] = &[
    ("e2-small", 500, 2, 17),
    ("e2-medium", 1000, 4, 34),
    ("e2-standard-2", 2000, 8, 67),
    ("e2-standard-4", 4000, 16, 134),
    ("e2-standard-8", 8000, 32, 268),
    ("e2-standard-16", 16000, 64, 536),
    ("e2-highmem-2", 2000, 16, 90),
    ("e2-highmem-4", 4000, 32, 181),
    ("e2-highmem-8", 8000, 64, 362),
    ("e2-highcpu-4", 4000, 4, 99),
    ("e2-highcpu-8", 8000, 8, 198),
];

/// The default catalogue (E2), cheapest first within each shape.
pub fn catalogue() -> Vec<HostType> {
    E2.iter()
        .map(|&(n, c, g, cost)| HostType::new(n, Cpus(c), ByteSize(g * GIB), cost))
        .collect()
}

/// The size of a machine type: a catalogue entry, a predefined type of a known family
/// (`n2-standard-8`, `n1-highmem-4`, `c3-highcpu-22`...), or a custom type
/// (`e2-custom-4-8192`, `n2-custom-2-4096`, `custom-2-4096`). None when unknown.
pub fn size_of(machine_type: &str) -> Option<HostType> {
    if let Some(t) = catalogue().into_iter().find(|t| t.name == machine_type) {
        return Some(t);
    }
    let parts: Vec<&str> = machine_type.split('-').collect();
    let num = |s: &str| s.parse::<u64>().ok().filter(|n| *n > 0);
    let sized = |cpus: u64, mem_mib: u64| {
        Some(HostType::new(
            machine_type,
            Cpus(cpus * 1000),
            ByteSize(mem_mib * MIB),
            cpus * 34 + mem_mib * 5 / 1024,
        ))
    };
    match parts.as_slice() {
        ["custom", c, m] => sized(num(c)?, num(m)?),
        [_, "custom", c, m] => sized(num(c)?, num(m)?),
        [family, shape, n] => {
            let n = num(n)?;
            // MiB of memory per vCPU.
            let per = match (*family, *shape) {
                ("n1", "standard") => 3840,
                ("n1", "highmem") => 6656,
                ("n1", "highcpu") => 922,
                (
                    "e2" | "n2" | "n2d" | "n4" | "c3" | "c3d" | "c4" | "t2d" | "t2a" | "c2d",
                    "standard",
                ) => 4096,
                ("c2", "standard") => 4096,
                ("e2" | "n2" | "n2d" | "n4" | "c3" | "c3d" | "c4" | "c2d", "highmem") => 8192,
                ("e2" | "n2" | "n2d" | "n4" | "c3" | "c3d" | "c4" | "c2d", "highcpu") => 1024,
                _ => return None,
            };
            sized(n, n * per)
        }
        _ => None,
    }
}

/// The cheapest machine type of `catalogue` with at least `cpus` and `memory` (ties: catalogue
/// order), or None when none is large enough. Used for plain VMs, which the solver does not pack.
pub fn for_vm(catalogue: &[HostType], cpus: Cpus, memory: ByteSize) -> Option<HostType> {
    catalogue
        .iter()
        .filter(|t| t.cpus >= cpus && t.memory >= memory)
        .min_by_key(|t| t.cost)
        .cloned()
}

/// `e2-standard-16 (16 vCPU, 64GiB)`: the catalogue's largest types by cpu and by memory (one
/// when they are the same), for a diagnostic.
pub fn largest(catalogue: &[HostType]) -> String {
    let d = |t: &HostType| format!("{} ({} vCPU, {})", t.name, t.cpus, t.memory);
    let by_cpu = catalogue.iter().max_by_key(|t| (t.cpus, t.memory));
    let by_mem = catalogue.iter().max_by_key(|t| (t.memory, t.cpus));
    match (by_cpu, by_mem) {
        (Some(a), Some(b)) if a.name == b.name => d(a),
        (Some(a), Some(b)) => format!("{} and {}", d(a), d(b)),
        _ => "empty".into(),
    }
}

/// Sustained vCPUs of the shared-core types, in thousandths (Compute reports their burst
/// `guestCpus`); an unknown shared-core type is not offered to the solver.
const SHARED: &[(&str, u64)] = &[
    ("e2-micro", 250),
    ("e2-small", 500),
    ("e2-medium", 1000),
    ("f1-micro", 200),
    ("g1-small", 500),
];

/// Relative cost from the size alone (the catalogue has no prices): E2's on-demand rates per
/// vCPU and per GiB, so smaller is cheaper and the ratio of cpu to memory is weighed as E2 does.
pub fn cost_of(cpus: Cpus, memory: ByteSize) -> u64 {
    (cpus.0 * 218 + memory.0 / MIB * 29) / 1000
}

/// One item of Compute's `machineTypes.list` (a `MachineType`) as a size the solver may choose,
/// or None for a type bridge does not place containers on: deprecated, ARM64 (the hosts run the
/// x86-64 Container-Optimized OS image), with accelerators, an unknown shared-core type, or one
/// without `guestCpus` / `memoryMb`.
pub fn from_api(item: &serde_json::Value) -> Option<HostType> {
    let name = item["name"].as_str()?;
    if item
        .get("deprecated")
        .is_some_and(|d| d["state"].as_str().is_some_and(|s| !s.is_empty()))
    {
        return None;
    }
    if item["architecture"].as_str() == Some("ARM64") {
        return None;
    }
    if item["accelerators"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        return None;
    }
    let guest = item["guestCpus"].as_u64().filter(|n| *n > 0)?;
    let memory = ByteSize(item["memoryMb"].as_u64().filter(|n| *n > 0)? * MIB);
    let cpus = if item["isSharedCpu"].as_bool() == Some(true) {
        Cpus(SHARED.iter().find(|(n, _)| *n == name)?.1)
    } else {
        Cpus(guest * 1000)
    };
    Some(HostType::new(name, cpus, memory, cost_of(cpus, memory)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sizes() {
        let t = size_of("e2-standard-4").unwrap_or_default();
        assert_eq!((t.cpus, t.memory), (Cpus(4000), ByteSize(16 * GIB)));
        let t = size_of("n2-highmem-8").unwrap_or_default();
        assert_eq!((t.cpus, t.memory), (Cpus(8000), ByteSize(64 * GIB)));
        let t = size_of("n1-standard-1").unwrap_or_default();
        assert_eq!(t.memory, ByteSize(3840 * MIB));
        let t = size_of("e2-custom-6-12288").unwrap_or_default();
        assert_eq!((t.cpus, t.memory), (Cpus(6000), ByteSize(12 * GIB)));
        assert!(size_of("m3-ultramem-32").is_none());
        assert!(size_of("nonsense").is_none());
    }

    #[test]
    fn vm_sizes() {
        let c = catalogue();
        let t = for_vm(&c, Cpus(2000), ByteSize(4 * GIB)).unwrap_or_default();
        assert_eq!(t.name, "e2-standard-2");
        let t = for_vm(&c, Cpus(1000), ByteSize(GIB)).unwrap_or_default();
        assert_eq!(t.name, "e2-medium");
        let t = for_vm(&c, Cpus(2000), ByteSize(16 * GIB)).unwrap_or_default();
        assert_eq!(t.name, "e2-highmem-2");
        assert!(for_vm(&c, Cpus(64000), ByteSize(GIB)).is_none());
        assert_eq!(largest(&c), "e2-standard-16 (16 vCPU, 64GiB)");
    }

    #[test]
    fn api_items() {
        let t = from_api(
            &serde_json::json!({"name": "e2-highcpu-2", "guestCpus": 2, "memoryMb": 2048}),
        )
        .unwrap_or_default();
        assert_eq!((t.cpus, t.memory), (Cpus(2000), ByteSize(2 * GIB)));
        let t = from_api(&serde_json::json!({"name": "e2-micro", "guestCpus": 2, "memoryMb": 1024, "isSharedCpu": true}))
            .unwrap_or_default();
        assert_eq!(t.cpus, Cpus(250));
        for skip in [
            serde_json::json!({"name": "t2a-standard-1", "guestCpus": 1, "memoryMb": 4096, "architecture": "ARM64"}),
            serde_json::json!({"name": "a2-highgpu-1g", "guestCpus": 12, "memoryMb": 87040, "accelerators": [{"guestAcceleratorType": "nvidia-tesla-a100", "guestAcceleratorCount": 1}]}),
            serde_json::json!({"name": "n1-old-1", "guestCpus": 1, "memoryMb": 3840, "deprecated": {"state": "DEPRECATED"}}),
            serde_json::json!({"name": "x9-shared", "guestCpus": 2, "memoryMb": 1024, "isSharedCpu": true}),
        ] {
            assert!(from_api(&skip).is_none(), "{skip}");
        }
    }
}
