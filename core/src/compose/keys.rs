//! The compose keys catalogue: how each compose key is treated on import (mapped, approximated,
//! or reported with its own diagnostic code).

/// Every code this catalogue assigns.
pub fn codes() -> impl Iterator<Item = &'static str> {
    std::iter::empty()
}

/// Each catalogue code with its meaning, for `bridge explain`.
pub fn explain() -> Vec<(String, String)> {
    Vec::new()
}
