//! bridge-translators
