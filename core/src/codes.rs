//! Every stable diagnostic code bridge emits, with a one-line meaning. Codes never change meaning;
//! compose keys that bridge does not map have their own codes in [`crate::compose::keys`].

/// Broken YAML or JSON.
pub const YAML_SYNTAX: &str = "E001";
/// A key appears twice in one mapping.
pub const DUPLICATE_KEY: &str = "E002";
/// A size, depth or alias-expansion limit was hit.
pub const YAML_LIMIT: &str = "E003";
/// The file is neither a bridge.yaml nor a compose file.
pub const UNKNOWN_FORMAT: &str = "E004";
/// The file could not be read.
pub const READ_FAILED: &str = "E005";
/// A key that the schema does not know.
pub const UNKNOWN_FIELD: &str = "E010";
/// A value of the wrong type.
pub const WRONG_TYPE: &str = "E011";
/// A required field is missing.
pub const MISSING_FIELD: &str = "E012";
/// A value the field does not accept.
pub const INVALID_VALUE: &str = "E013";
/// A size or CPU quantity that does not parse.
pub const BAD_UNIT: &str = "E014";
/// A duration that does not parse.
pub const BAD_DURATION: &str = "E015";
/// A port mapping that does not parse or is out of range.
pub const BAD_PORT: &str = "E016";
/// A volume mount that does not parse.
pub const BAD_MOUNT: &str = "E017";
/// An unsupported `bridge:` version.
pub const BAD_VERSION: &str = "E018";
/// A name that is not a DNS label.
pub const BAD_NAME: &str = "E020";
/// A reference to something that is not defined.
pub const DANGLING_REF: &str = "E021";
/// A dependency cycle.
pub const CYCLE: &str = "E022";
/// Two services publish the same host port and protocol.
pub const DUPLICATE_HOST_PORT: &str = "E023";
/// A reservation larger than its limit.
pub const RESERVATION_OVER_LIMIT: &str = "E024";
/// A `${...}` reference in a bridge.yaml value that is not understood.
pub const BAD_REFERENCE: &str = "E025";
/// A placement constraint that does not parse.
pub const BAD_CONSTRAINT: &str = "E026";
/// A secret without exactly one source.
pub const SECRET_SOURCE: &str = "E027";
/// Fields that contradict each other.
pub const CONFLICT: &str = "E028";
/// The app defines nothing to run.
pub const EMPTY_APP: &str = "E029";
/// `condition: healthy` on a dependency that has no health check.
pub const NO_HEALTH_CHECK: &str = "E030";
/// A secret, config, volume or network that is defined but never used.
pub const UNUSED: &str = "W020";
/// A field that has no effect together with the others given.
pub const NO_EFFECT: &str = "W021";
/// A compose `build:` without `image:`.
pub const BUILD_WITHOUT_IMAGE: &str = "E101";
/// `${VAR?err}` with VAR unset.
pub const REQUIRED_VARIABLE: &str = "E102";
/// Malformed `${...}` interpolation.
pub const INTERPOLATION: &str = "E103";
/// An env file that cannot be read or parsed.
pub const ENV_FILE: &str = "E104";
/// `extends` that cannot be resolved.
pub const EXTENDS: &str = "E105";
/// A `network_mode` that bridge cannot express.
pub const NETWORK_MODE: &str = "E106";
/// A compose file that is not valid against the Compose Specification.
pub const COMPOSE_INVALID: &str = "E107";
/// A compose service with no image.
pub const NO_IMAGE: &str = "E108";
/// A variable used without a value; it becomes the empty string, as in docker compose.
pub const UNSET_VARIABLE: &str = "W101";
/// A value that was approximated on import.
pub const APPROXIMATED: &str = "W102";
/// A compose service left out by its `profiles`.
pub const PROFILE_INACTIVE: &str = "W103";
/// A compose `version:` key, which the Compose Specification made obsolete.
pub const OBSOLETE_VERSION: &str = "W104";
/// A top-level compose attribute that bridge does not map.
pub const TOP_LEVEL_DROPPED: &str = "W105";
/// Services of one group with different replica counts or modes.
pub const GROUP_REPLICAS: &str = "E201";
/// Placement constraints that no host size satisfies.
pub const UNSATISFIABLE_CONSTRAINT: &str = "E202";
/// A unit larger than every host size it may run on.
pub const UNIT_TOO_LARGE: &str = "E203";
/// No host sizes to place containers on.
pub const NO_HOST_TYPES: &str = "E204";
/// A spread, constraint or max_per_host the placement solver cannot honour.
pub const UNSUPPORTED_PLACEMENT: &str = "E205";
/// A `node.role` constraint on a target whose hosts have no node roles: ignored.
pub const NODE_ROLE_IGNORED: &str = "W206";

/// A compose file in the legacy v1 format (services at the top level).
pub const COMPOSE_V1: &str = "W106";

/// Several providers configured, none chosen, and a component that does not name its own.
pub const NO_DEFAULT_PROVIDER: &str = "E070";
/// A component placed on a provider that cannot run it (a VM on Swarm).
pub const CANNOT_HOST: &str = "E071";

/// A relative bind source (a project file or directory) that cannot be read at render time.
pub const PROJECT_FILE_MISSING: &str = "E072";
/// A project file shipped by a relative bind mount that exceeds a target's size limit.
pub const PROJECT_FILE_TOO_LARGE: &str = "E073";

/// A field of a provider artifact or live deployment that `bridge export` cannot read back.
pub const EXPORT_DROPPED: &str = "X001";
/// A field `bridge export` reads back with a different but close meaning.
pub const EXPORT_APPROXIMATED: &str = "X002";
/// A provider artifact `bridge export` cannot read (not the expected shape, a required field missing).
pub const EXPORT_UNREADABLE: &str = "X003";

/// Every code above with its meaning, for `bridge explain` and the docs.
pub const ALL: &[(&str, &str)] = &[
    (YAML_SYNTAX, "broken YAML or JSON"),
    (DUPLICATE_KEY, "a key appears twice in one mapping"),
    (YAML_LIMIT, "a size, depth or alias-expansion limit was hit"),
    (
        UNKNOWN_FORMAT,
        "the file is neither a bridge.yaml nor a compose file",
    ),
    (READ_FAILED, "the file could not be read"),
    (UNKNOWN_FIELD, "a key that the schema does not know"),
    (WRONG_TYPE, "a value of the wrong type"),
    (MISSING_FIELD, "a required field is missing"),
    (INVALID_VALUE, "a value the field does not accept"),
    (BAD_UNIT, "a size or cpu quantity that does not parse"),
    (BAD_DURATION, "a duration that does not parse"),
    (
        BAD_PORT,
        "a port mapping that does not parse or is out of range",
    ),
    (BAD_MOUNT, "a volume mount that does not parse"),
    (BAD_VERSION, "an unsupported `bridge:` version"),
    (BAD_NAME, "a name that is not a DNS label"),
    (DANGLING_REF, "a reference to something that is not defined"),
    (CYCLE, "a dependency cycle"),
    (
        DUPLICATE_HOST_PORT,
        "two services publish the same host port and protocol",
    ),
    (
        RESERVATION_OVER_LIMIT,
        "a reservation larger than its limit",
    ),
    (BAD_REFERENCE, "a `${...}` reference that is not understood"),
    (BAD_CONSTRAINT, "a placement constraint that does not parse"),
    (SECRET_SOURCE, "a secret without exactly one source"),
    (CONFLICT, "fields that contradict each other"),
    (EMPTY_APP, "the app defines nothing to run"),
    (
        NO_HEALTH_CHECK,
        "`condition: healthy` on a dependency without a health check",
    ),
    (
        UNUSED,
        "a secret, config, volume or network defined but never used",
    ),
    (
        NO_EFFECT,
        "a field that has no effect with the others given",
    ),
    (BUILD_WITHOUT_IMAGE, "a compose `build:` without `image:`"),
    (REQUIRED_VARIABLE, "`${VAR?err}` with VAR unset"),
    (INTERPOLATION, "malformed `${...}` interpolation"),
    (ENV_FILE, "an env file that cannot be read or parsed"),
    (EXTENDS, "`extends` that cannot be resolved"),
    (NETWORK_MODE, "a `network_mode` that bridge cannot express"),
    (
        COMPOSE_INVALID,
        "a compose file that breaks the Compose Specification",
    ),
    (NO_IMAGE, "a compose service with no image"),
    (
        UNSET_VARIABLE,
        "a variable used without a value becomes the empty string",
    ),
    (APPROXIMATED, "a value that was approximated on import"),
    (
        PROFILE_INACTIVE,
        "a compose service left out by its profiles",
    ),
    (OBSOLETE_VERSION, "the obsolete compose `version:` key"),
    (
        TOP_LEVEL_DROPPED,
        "a top-level compose attribute that bridge does not map",
    ),
    (
        GROUP_REPLICAS,
        "services of one group with different replica counts or modes",
    ),
    (
        UNSATISFIABLE_CONSTRAINT,
        "placement constraints that no host size satisfies",
    ),
    (
        UNIT_TOO_LARGE,
        "a unit larger than every host size it may run on",
    ),
    (NO_HOST_TYPES, "no host sizes to place containers on"),
    (
        UNSUPPORTED_PLACEMENT,
        "a spread, constraint or max_per_host the solver cannot honour",
    ),
    (
        NODE_ROLE_IGNORED,
        "a node.role constraint on a target whose hosts have no node roles: ignored",
    ),
    (
        NO_DEFAULT_PROVIDER,
        "several providers configured, none chosen, and a component without `provider:`",
    ),
    (
        CANNOT_HOST,
        "a component placed on a provider that cannot run it (a vm on swarm)",
    ),
    (
        PROJECT_FILE_MISSING,
        "a relative bind mount names a project file or directory that cannot be read",
    ),
    (
        PROJECT_FILE_TOO_LARGE,
        "a project file shipped by a relative bind mount exceeds the target's size limit",
    ),
    (
        EXPORT_DROPPED,
        "a field of a provider artifact or deployment that export cannot read back: left out of the bridge.yaml",
    ),
    (
        EXPORT_APPROXIMATED,
        "a field export reads back with a close but different meaning",
    ),
    (
        EXPORT_UNREADABLE,
        "a provider artifact export cannot read: the file, field and what was expected are named",
    ),
];

/// The static code equal to `code`, or [`INVALID_VALUE`] when it is not a known code.
pub fn lookup(code: &str) -> &'static str {
    ALL.iter()
        .map(|(c, _)| *c)
        .chain(crate::compose::keys::codes())
        .find(|c| *c == code)
        .unwrap_or(INVALID_VALUE)
}

/// Every code with its meaning, the compose key catalogue included, sorted by code.
pub fn all_with_compose() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ALL
        .iter()
        .map(|(c, m)| (c.to_string(), m.to_string()))
        .collect();
    v.extend(crate::compose::keys::explain());
    v.sort();
    v
}
