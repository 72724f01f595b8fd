//! The fidelity ledger a translator fills as it goes: every neutral field the app sets gets a
//! line saying whether the target carries it, approximates it, or cannot express it.

use std::collections::HashMap;

use crate::claims::Claim;
use crate::{Fidelity, LedgerEntry};

/// Collects ledger entries; one per field path (a later entry for the same path replaces an
/// earlier one, so a translator may refine a verdict).
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Vec<LedgerEntry>,
    /// Field -> position in `entries`, so a 10,000-service app stays linear.
    index: HashMap<String, usize>,
}

impl Ledger {
    /// The field is carried with the same meaning.
    pub fn mapped(&mut self, field: impl Into<String>) {
        self.put(field.into(), Fidelity::Mapped, String::new(), None);
    }

    /// The field is carried with the same meaning, and the line promises what happens at deploy
    /// time (see [`Ledger::claimed`]).
    pub fn mapped_claim(&mut self, field: impl Into<String>, claim: Claim) {
        self.put(field.into(), Fidelity::Mapped, String::new(), Some(claim));
    }

    /// The field is carried with a close but different meaning.
    pub fn approximated(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.put(field.into(), Fidelity::Approximated, reason.into(), None);
    }

    /// The field is carried with a close but different meaning, and the line promises what
    /// happens at deploy time: `claim` says what, and [`crate::claims::proofs`] which driver
    /// tests prove it.
    pub fn claimed(&mut self, field: impl Into<String>, claim: Claim, reason: impl Into<String>) {
        self.put(
            field.into(),
            Fidelity::Approximated,
            reason.into(),
            Some(claim),
        );
    }

    /// The field cannot be expressed on the target.
    pub fn dropped(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.put(field.into(), Fidelity::Dropped, reason.into(), None);
    }

    fn put(&mut self, field: String, fidelity: Fidelity, reason: String, claim: Option<Claim>) {
        if let Some(e) = self
            .index
            .get(&field)
            .and_then(|i| self.entries.get_mut(*i))
        {
            e.fidelity = fidelity;
            e.reason = reason;
            e.claim = claim;
        } else {
            self.index.insert(field.clone(), self.entries.len());
            self.entries.push(LedgerEntry {
                field,
                fidelity,
                reason,
                claim,
            });
        }
    }

    /// The entries, sorted by field.
    pub fn into_entries(mut self) -> Vec<LedgerEntry> {
        self.entries.sort_by(|a, b| a.field.cmp(&b.field));
        self.entries
    }
}

/// Make the ledger agree with the translation's errors: a field the translator rejects is not
/// carried, whatever an earlier line said. Each error with a path downgrades the entries at that
/// path (and below it) to dropped, or adds one when the ledger has none, with the error as reason.
pub fn settle(t: &mut crate::Translation) {
    let errors: Vec<(String, String)> = t
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && !d.path.is_empty())
        .map(|d| (d.path.clone(), format!("render fails here: {}", d.message)))
        .collect();
    for (path, reason) in errors {
        let mut hit = false;
        for e in &mut t.ledger {
            let under = e.field == path
                || e.field
                    .strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['));
            if under {
                hit = true;
                e.fidelity = Fidelity::Dropped;
                e.reason.clone_from(&reason);
                e.claim = None;
            }
        }
        if !hit {
            t.ledger.push(LedgerEntry {
                field: path,
                fidelity: Fidelity::Dropped,
                reason,
                claim: None,
            });
        }
    }
    t.ledger.sort_by(|a, b| a.field.cmp(&b.field));
}
