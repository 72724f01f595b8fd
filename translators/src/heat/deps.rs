//! The dependency edges between Heat resources that address references create, kept acyclic
//! with an incremental topological order (Pearce and Kelly, "A dynamic topological sort
//! algorithm for directed acyclic graphs", 2006).
//!
//! Every edge `from -> to` (from reads to's address, so Heat creates `to` first) keeps
//! `ord[from] < ord[to]`. A query whose order already agrees answers at once; otherwise only the
//! nodes between the two positions are searched. Adding an edge that disagrees reorders just the
//! nodes in that window. Walking the whole graph per added edge (what this replaced) made a
//! 10,000-service depends_on chain quadratic.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// An acyclic set of `from -> to` edges between resource names.
#[derive(Debug, Default)]
pub struct DepGraph {
    index: HashMap<String, usize>,
    ord: Vec<i64>,
    out: Vec<Vec<usize>>,
    inn: Vec<Vec<usize>>,
    edges: HashSet<(usize, usize)>,
    /// Scratch for the searches: `seen[n] == stamp` marks a node visited by the current one
    /// (a fresh `HashSet` per search was a quarter of rendering 1,000 services, issue 15).
    seen: RefCell<(u32, Vec<u32>)>,
    lowest: i64,
    highest: i64,
}

impl DepGraph {
    /// Would `from -> to` close a dependency cycle (`to` already reaches `from`, or the two are
    /// the same)?
    pub fn would_cycle(&self, from: &str, to: &str) -> bool {
        if from == to {
            return true;
        }
        let (Some(&f), Some(&t)) = (self.index.get(from), self.index.get(to)) else {
            // A name with no edges yet cannot be on a cycle.
            return false;
        };
        if self.ord[f] < self.ord[t] {
            return false;
        }
        self.forward(t, self.ord[f]).1
    }

    /// Add `from -> to`. An edge that would close a cycle is not added (returns false): callers
    /// ask [`DepGraph::would_cycle`] first.
    pub fn insert(&mut self, from: &str, to: &str) -> bool {
        if from == to {
            return false;
        }
        let (f, t) = match (self.index.get(from).copied(), self.index.get(to).copied()) {
            (Some(f), Some(t)) => (f, t),
            // A new name takes a position that already agrees with the edge.
            (None, Some(t)) => {
                self.lowest -= 1;
                (self.node(from, self.lowest), t)
            }
            (Some(f), None) => {
                self.highest += 1;
                (f, self.node(to, self.highest))
            }
            (None, None) => {
                let f = self.node(from, self.highest + 1);
                let t = self.node(to, self.highest + 2);
                self.highest += 2;
                (f, t)
            }
        };
        if self.edges.contains(&(f, t)) {
            return true;
        }
        if self.ord[f] > self.ord[t] && !self.reorder(f, t) {
            return false;
        }
        self.edges.insert((f, t));
        self.out[f].push(t);
        self.inn[t].push(f);
        true
    }

    fn node(&mut self, name: &str, ord: i64) -> usize {
        let i = self.ord.len();
        self.index.insert(name.to_string(), i);
        self.ord.push(ord);
        self.out.push(Vec::new());
        self.inn.push(Vec::new());
        i
    }

    /// The nodes reachable from `start` whose position is at most `upto`, and whether the node at
    /// `upto` is among them.
    fn forward(&self, start: usize, upto: i64) -> (Vec<usize>, bool) {
        let mut scratch = self.seen.borrow_mut();
        let (stamp, marks) = &mut *scratch;
        if marks.len() < self.ord.len() {
            marks.resize(self.ord.len(), 0);
        }
        *stamp = stamp.wrapping_add(1);
        if *stamp == 0 {
            marks.fill(0);
            *stamp = 1;
        }
        let stamp = *stamp;
        let mut seen = |n: usize| std::mem::replace(&mut marks[n], stamp) != stamp;
        seen(start);
        let mut stack = vec![start];
        let mut reached = Vec::new();
        while let Some(n) = stack.pop() {
            if self.ord[n] == upto {
                return (reached, true);
            }
            reached.push(n);
            for &m in &self.out[n] {
                if self.ord[m] <= upto && seen(m) {
                    stack.push(m);
                }
            }
        }
        (reached, false)
    }

    /// Make room for `f -> t` where `ord[f] > ord[t]`: the nodes reaching `f` from the window
    /// move before the nodes `t` reaches, reusing the window's positions. False on a cycle.
    fn reorder(&mut self, f: usize, t: usize) -> bool {
        let (ahead, cycle) = self.forward(t, self.ord[f]);
        if cycle {
            return false;
        }
        let lower = self.ord[t];
        let mut seen = HashSet::from([f]);
        let mut stack = vec![f];
        let mut behind = Vec::new();
        while let Some(n) = stack.pop() {
            behind.push(n);
            for &m in &self.inn[n] {
                if self.ord[m] > lower && seen.insert(m) {
                    stack.push(m);
                }
            }
        }
        let by_ord = |v: &mut Vec<usize>, ord: &[i64]| v.sort_unstable_by_key(|&n| ord[n]);
        let mut ahead = ahead;
        by_ord(&mut behind, &self.ord);
        by_ord(&mut ahead, &self.ord);
        let mut slots: Vec<i64> = behind.iter().chain(&ahead).map(|&n| self.ord[n]).collect();
        slots.sort_unstable();
        for (n, slot) in behind.iter().chain(&ahead).zip(slots) {
            self.ord[*n] = slot;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::DepGraph;

    #[test]
    fn cycles_are_found_whatever_the_insertion_order() {
        let mut g = DepGraph::default();
        assert!(g.insert("a", "b"));
        assert!(g.insert("c", "d"));
        // d -> a disagrees with the order given so far: the window is reordered.
        assert!(g.insert("d", "a"));
        assert!(g.would_cycle("b", "c"));
        assert!(!g.insert("b", "c"));
        assert!(!g.would_cycle("c", "b"));
        assert!(g.would_cycle("a", "a"));
        assert!(!g.would_cycle("x", "a"));
        assert!(g.insert("c", "b"));
        assert!(g.would_cycle("b", "d"));
    }

    #[test]
    fn matches_a_full_walk_on_a_pseudo_random_graph() {
        // Every answer checked against a plain reachability walk.
        let n = 40usize;
        let mut g = DepGraph::default();
        let mut edges: Vec<(usize, usize)> = Vec::new();
        let reaches = |edges: &[(usize, usize)], from: usize, to: usize| {
            let mut stack = vec![from];
            let mut seen = vec![false; n];
            while let Some(x) = stack.pop() {
                if x == to {
                    return true;
                }
                if std::mem::replace(&mut seen[x], true) {
                    continue;
                }
                stack.extend(edges.iter().filter(|e| e.0 == x).map(|e| e.1));
            }
            false
        };
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..600 {
            let (a, b) = (next(), next());
            let (fa, fb) = (format!("r{a}"), format!("r{b}"));
            let expect = a == b || reaches(&edges, b, a);
            assert_eq!(g.would_cycle(&fa, &fb), expect, "{a} -> {b}");
            assert_eq!(g.insert(&fa, &fb), !expect, "{a} -> {b}");
            if !expect && !edges.contains(&(a, b)) {
                edges.push((a, b));
            }
        }
        assert!(edges.len() > 50, "the graph grew: {}", edges.len());
    }
}
