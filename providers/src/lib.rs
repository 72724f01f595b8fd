//! bridge-providers
