//! The fidelity ledger a translator fills as it goes: every neutral field the app sets gets a
//! line saying whether the target carries it, approximates it, or cannot express it.

use std::collections::{BTreeSet, HashMap};

use bridge_core::Diagnostics;
use bridge_core::diag::Diagnostic;

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

    /// [`Ledger::claimed`], allocating nothing when the field already holds this very claim
    /// (the result is the same either way: the last write wins).
    pub fn claimed_unless_same(&mut self, field: &str, claim: Claim, reason: &str) {
        let same = self
            .index
            .get(field)
            .and_then(|i| self.entries.get(*i))
            .is_some_and(|e| {
                e.fidelity == Fidelity::Approximated && e.claim == Some(claim) && e.reason == reason
            });
        if !same {
            self.claimed(field, claim, reason);
        }
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

    /// A warning (`code`, the target's "a field it cannot express") for every field this
    /// ledger drops that no diagnostic of the translation names already (the field itself, a
    /// part of it, or what holds it), so `render`, `plan` and `deploy` say what the target
    /// leaves out, not only `fidelity`. Called last by each translator's `build`.
    pub fn report_drops(&self, diags: &mut Diagnostics, code: &'static str, target: &str) {
        let named: BTreeSet<&str> = diags
            .iter()
            .map(|d| d.path.as_str())
            .filter(|p| !p.is_empty())
            .collect();
        let covered = |f: &str| {
            // What holds it: every prefix ending before a `.` or `[`.
            let holder = f
                .char_indices()
                .filter(|(_, c)| *c == '.' || *c == '[')
                .any(|(i, _)| named.contains(&f[..i]));
            // It, or a part of it: the named paths sorted from `f` on that start with it.
            holder
                || named
                    .range(f..)
                    .take_while(|p| p.starts_with(f))
                    .any(|p| matches!(p.as_bytes().get(f.len()), None | Some(b'.' | b'[')))
        };
        let mut out = Vec::new();
        for e in &self.entries {
            if e.fidelity == Fidelity::Dropped && !covered(&e.field) {
                out.push(
                    Diagnostic::warning(code, format!("not carried on {target}: {}", e.reason))
                        .with_path(e.field.clone()),
                );
            }
        }
        for d in out {
            diags.push(d);
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
    // Sorted, the entries at and under a path are one run starting where the path would be
    // inserted: each error looks its run up instead of scanning the whole ledger (issue 15).
    t.ledger.sort_by(|a, b| a.field.cmp(&b.field));
    for (path, reason) in errors {
        let start = t
            .ledger
            .partition_point(|e| e.field.as_str() < path.as_str());
        let mut hit = false;
        for e in t.ledger[start..]
            .iter_mut()
            .take_while(|e| e.field.starts_with(path.as_str()))
        {
            let rest = &e.field[path.len()..];
            if rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') {
                hit = true;
                e.fidelity = Fidelity::Dropped;
                e.reason.clone_from(&reason);
                e.claim = None;
            }
        }
        if !hit {
            t.ledger.insert(
                start,
                LedgerEntry {
                    field: path,
                    fidelity: Fidelity::Dropped,
                    reason,
                    claim: None,
                },
            );
        }
    }
    t.ledger.sort_by(|a, b| a.field.cmp(&b.field));
}
