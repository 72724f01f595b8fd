//! Deploy-time claims: what a ledger line promises a driver (or the target, driven by what
//! bridge sends) does when the app is deployed: waits for a dependency's health, resolves an
//! address, replaces VMs a batch at a time, ships files, stores a secret... A line that makes
//! such a promise carries its [`Claim`] (see [`crate::ledger::Ledger::claimed`]), and
//! [`proofs`] names the driver tests that prove it on each target. `tests/ledger_claims.rs`
//! renders every example and corpus file for every target and fails when a claim that appears
//! has no proving test, when a named test does not exist, or when a line without a claim uses
//! deploy-time wording.

use bridge_core::model::ProviderKind;
use serde::Serialize;

/// A deploy-time behaviour a ledger line promises. Closed: a new kind of promise is a new
/// variant, with its proving tests in [`proofs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// The driver creates a dependency first and waits until it reports healthy before
    /// creating what depends on it.
    WaitsForHealthyDependency,
    /// The driver creates a dependency first (without waiting for it to run).
    CreatesDependencyFirst,
    /// A `service_healthy` dependency on another VM is waited for at deploy time (by the
    /// driver, or by the target on a signal bridge's artifact sends).
    WaitsForHealthAcrossVms,
    /// `${...}` address references are resolved at deploy time, by the one resolver, before
    /// the consumer is created.
    ResolvesAddressReferences,
    /// The driver registers the group's name in the target's service registry, so other tasks
    /// resolve it.
    RegistersServiceNames,
    /// A service's name resolves from containers on other VMs (hosts entries written when each
    /// container starts).
    ResolvesNamesAcrossVms,
    /// Project files (binds of files beside the app) are written where the container binds
    /// them before it starts.
    ShipsProjectFiles,
    /// The driver stores a secret's or config's value in the target's secret store.
    StoresInSecretStore,
    /// The VM fetches secrets from the target's secret store when it boots.
    FetchesSecretsAtBoot,
    /// The driver opens a VM's ports in the app's security group.
    OpensVmPorts,
    /// The driver spreads a VM's replicas over the given subnets.
    SpreadsVmReplicas,
    /// The driver pins a group's services to one node with a node label it sets.
    PinsGroupToOneNode,
    /// An update replaces at most `parallelism` VMs (or servers) at once.
    ReplacesInBatches,
    /// An update replaces the next batch only once the previous batch's replacements reported
    /// healthy; one that never does fails the update.
    GatesBatchesOnHealth,
    /// An update watches each batch for `monitor`, then waits `delay`, before the next batch.
    PacesBatches,
    /// An update stops the old VM before starting the new one (stop-first).
    StopsBeforeStarting,
    /// An update starts the new VM before deleting the old one (start-first).
    StartsBeforeStopping,
    /// A failed update is rolled back by the driver.
    RollsBackFailedUpdates,
}

impl Claim {
    /// Every claim.
    pub const ALL: [Claim; 18] = [
        Claim::WaitsForHealthyDependency,
        Claim::CreatesDependencyFirst,
        Claim::WaitsForHealthAcrossVms,
        Claim::ResolvesAddressReferences,
        Claim::RegistersServiceNames,
        Claim::ResolvesNamesAcrossVms,
        Claim::ShipsProjectFiles,
        Claim::StoresInSecretStore,
        Claim::FetchesSecretsAtBoot,
        Claim::OpensVmPorts,
        Claim::SpreadsVmReplicas,
        Claim::PinsGroupToOneNode,
        Claim::ReplacesInBatches,
        Claim::GatesBatchesOnHealth,
        Claim::PacesBatches,
        Claim::StopsBeforeStarting,
        Claim::StartsBeforeStopping,
        Claim::RollsBackFailedUpdates,
    ];
}

/// The driver tests (`tests/<file>.rs::<fn>`) that prove `claim` on `target`; empty when none
/// does (the audit then fails wherever a ledger makes the claim, unless [`UNPROVEN`] lists it).
pub fn proofs(claim: Claim, target: ProviderKind) -> &'static [&'static str] {
    use Claim::*;
    use ProviderKind::{Aws, Gce, Openstack, Swarm};
    match (claim, target) {
        (WaitsForHealthyDependency, Aws) => &[
            "tests/aws_health.rs::aws_api_waits_until_db_tasks_report_healthy",
            "tests/aws_health.rs::aws_a_check_that_never_passes_fails_the_deploy_within_the_timeout",
        ],
        (WaitsForHealthyDependency, Swarm) => {
            &["tests/swarm_depends.rs::a_healthy_dependency_is_created_first_and_waited_for"]
        }
        (CreatesDependencyFirst, Aws) => {
            &["tests/aws_conformance.rs::aws_driver_passes_the_conformance_harness_on_ec2"]
        }
        (WaitsForHealthAcrossVms, Gce) => {
            &["tests/gce_rolling.rs::service_healthy_dependency_on_another_host_is_waited_for"]
        }
        (WaitsForHealthAcrossVms, Openstack) => &[
            "tests/openstack_health.rs::deploy_waits_for_the_health_signal_and_fails_without_it",
            "tests/heat_health_signal.rs::a_healthy_container_signals_success",
        ],
        (ResolvesAddressReferences, Aws) => &[
            "tests/aws_conformance.rs::aws_driver_passes_the_conformance_harness_with_a_vm_and_an_address_reference",
            "tests/hybrid.rs::an_app_across_aws_and_gce_with_a_reference_each_way_passes_the_harness",
        ],
        (ResolvesAddressReferences, Gce) => &[
            "tests/gce_lifecycle.rs::gce_address_references_resolve_to_internal_dns_names_at_deploy_time",
            "tests/hybrid.rs::an_app_across_aws_and_gce_with_a_reference_each_way_passes_the_harness",
        ],
        (ResolvesAddressReferences, Swarm) => &[
            "tests/hybrid_cli.rs::one_deploy_across_swarm_and_aws_wires_the_vm_address_and_follows_its_replacement",
            "tests/hybrid_openstack.rs::swarm_containers_read_the_address_nova_reports_and_follow_a_replaced_vm",
        ],
        // Read back from moto, and run: names resolved and reached through the played Service
        // Connect proxy on the Docker Engine, not from a task outside the namespace.
        (RegistersServiceNames, Aws) => &[
            "tests/aws_names.rs::aws_names_resolve_across_tasks_on_fargate",
            "tests/aws_names.rs::aws_names_resolve_across_tasks_on_ec2",
        ],
        (ResolvesNamesAcrossVms, Gce) => &[
            "tests/names_across_vms.rs::gce_names_resolve_across_vms",
            "tests/names_across_vms.rs::gce_a_replaced_host_is_followed_without_a_restart",
        ],
        (ResolvesNamesAcrossVms, Openstack) => &[
            "tests/names_across_vms.rs::openstack_names_resolve_across_servers",
            "tests/openstack_peers_follow.rs::a_replaced_server_updates_its_peers_metadata_in_place",
        ],
        (ShipsProjectFiles, Aws) => {
            &["tests/project_files.rs::ecs_init_container_writes_the_files_that_the_consumer_binds"]
        }
        (ShipsProjectFiles, Gce) => &[
            "tests/project_files.rs::gce_writes_the_files_with_cloud_init_and_the_container_reads_them",
        ],
        (ShipsProjectFiles, Openstack) => &[
            "tests/project_files.rs::openstack_writes_the_files_with_cloud_init_and_the_container_reads_them",
        ],
        (StoresInSecretStore, Aws) => &[
            "tests/aws_lifecycle.rs::aws_secret_values_are_written_behind_the_arns_and_never_shown",
            "tests/aws_secrets.rs::aws_compose_file_secret_is_created_read_by_arn_updated_and_destroyed",
        ],
        (StoresInSecretStore, Gce) => &[
            "tests/gce_lifecycle.rs::gce_secret_values_go_to_secret_manager_only_and_reach_no_output_state_or_compute_request",
        ],
        // The boot script from the instance's user data run against the test server's Secret
        // Manager and metadata server, the values read in the container it starts.
        (FetchesSecretsAtBoot, Gce) => &[
            "tests/gce_boot_secrets.rs::gce_vm_fetches_file_env_and_external_secrets_at_boot_and_fails_without_one",
        ],
        (OpensVmPorts, Aws) | (SpreadsVmReplicas, Aws) => &[
            "tests/aws_conformance.rs::aws_vm_replicas_are_spread_over_the_subnets_and_their_port_opened",
        ],
        (PinsGroupToOneNode, Swarm) => {
            &["tests/swarm_depends.rs::a_group_is_pinned_to_one_node_by_the_label_bridge_sets"]
        }
        (ReplacesInBatches, Gce) => &[
            "tests/gce_rolling.rs::stop_first_keeps_two_of_three_running",
            "tests/gce_rolling.rs::start_first_keeps_three_running_and_alternates_names",
        ],
        (ReplacesInBatches, Openstack) => &[
            "tests/openstack_rolling.rs::a_changed_service_is_replaced_one_server_at_a_time",
            "tests/openstack_rollback.rs::an_update_waits_for_the_replacement_servers_health_signal",
        ],
        // The health gate's line also makes the batch promise.
        (GatesBatchesOnHealth, Openstack) => &[
            "tests/openstack_gate.rs::the_next_server_is_replaced_only_after_the_previous_replacement_signalled_healthy",
            "tests/openstack_rolling.rs::a_changed_service_is_replaced_one_server_at_a_time",
        ],
        // The rollback line also makes the batch promise (one line per `update`), and the
        // health gate's for a health-checked service.
        (RollsBackFailedUpdates, Openstack) => &[
            "tests/openstack_rollback.rs::a_failed_update_is_rolled_back_to_the_running_previous_spec",
            "tests/openstack_rolling.rs::a_changed_service_is_replaced_one_server_at_a_time",
            "tests/openstack_rollback.rs::an_update_waits_for_the_replacement_servers_health_signal",
            "tests/openstack_gate.rs::the_next_server_is_replaced_only_after_the_previous_replacement_signalled_healthy",
        ],
        (PacesBatches, Gce) => {
            &["tests/gce_rolling.rs::delay_waits_between_hosts_and_monitor_watches_each"]
        }
        (StopsBeforeStarting, Gce) => {
            &["tests/gce_rolling.rs::stop_first_keeps_two_of_three_running"]
        }
        (StartsBeforeStopping, Gce) => {
            &["tests/gce_rolling.rs::start_first_keeps_three_running_and_alternates_names"]
        }
        (RollsBackFailedUpdates, Gce) => {
            &["tests/gce_rolling.rs::a_new_instance_that_never_boots_is_rolled_back"]
        }
        _ => &[],
    }
}

/// Claims a ledger still makes that no driver test proves yet, each with why: reviewed, and
/// kept short. The audit fails when one of them gains a proof (move it to [`proofs`]) or is no
/// longer made by any rendered example or corpus file (delete it).
pub const UNPROVEN: &[(Claim, ProviderKind, &str)] = &[];
