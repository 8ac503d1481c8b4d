//! Classification metrics: per-class precision, recall and F1, macro-F1 and a confusion matrix.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Gold and predicted labels; a missing prediction is `None`.
#[derive(Debug, Default, Clone)]
pub struct Confusion {
    pub labels: Vec<String>,
    /// (gold, predicted or "(none)") → count
    pub cells: BTreeMap<(String, String), usize>,
    pub total: usize,
    pub covered: usize,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

pub const NONE: &str = "(none)";

impl Confusion {
    pub fn new(labels: Vec<String>) -> Self {
        Self { labels, ..Default::default() }
    }

    pub fn add(&mut self, gold: &str, predicted: Option<&str>) {
        self.total += 1;
        if predicted.is_some() {
            self.covered += 1;
        }
        *self.cells.entry((gold.to_owned(), predicted.unwrap_or(NONE).to_owned())).or_default() += 1;
    }

    fn count(&self, gold: &str, pred: &str) -> usize {
        self.cells.get(&(gold.to_owned(), pred.to_owned())).copied().unwrap_or(0)
    }

    pub fn class(&self, label: &str) -> ClassScore {
        let tp = self.count(label, label) as f64;
        let predicted: usize = self.cells.iter().filter(|((_, p), _)| p == label).map(|(_, n)| n).sum();
        let support: usize = self.cells.iter().filter(|((g, _), _)| g == label).map(|(_, n)| n).sum();
        let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let recall = if support > 0 { tp / support as f64 } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        ClassScore { precision, recall, f1, support }
    }

    pub fn macro_f1(&self) -> f64 {
        let scored: Vec<f64> =
            self.labels.iter().filter(|l| self.class(l).support > 0).map(|l| self.class(l).f1).collect();
        if scored.is_empty() { 0.0 } else { scored.iter().sum::<f64>() / scored.len() as f64 }
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = self.labels.iter().map(|l| self.count(l, l)).sum();
        if self.total == 0 { 0.0 } else { correct as f64 / self.total as f64 }
    }

    pub fn coverage(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.covered as f64 / self.total as f64 }
    }

    /// A plain-text report: per-class table, macro-F1, coverage and the confusion matrix.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let _ =
            writeln!(s, "{:<16} {:>9} {:>9} {:>9} {:>8}", "class", "precision", "recall", "f1", "support");
        for l in &self.labels {
            let c = self.class(l);
            let _ = writeln!(
                s,
                "{:<16} {:>9.3} {:>9.3} {:>9.3} {:>8}",
                l, c.precision, c.recall, c.f1, c.support
            );
        }
        let _ = writeln!(
            s,
            "macro_f1={:.4} accuracy={:.4} coverage={:.4} n={}",
            self.macro_f1(),
            self.accuracy(),
            self.coverage(),
            self.total
        );
        let mut cols = self.labels.clone();
        cols.push(NONE.to_owned());
        let _ = writeln!(s, "confusion (rows = gold, columns = predicted):");
        let _ = write!(s, "{:<16}", "");
        for (i, _) in cols.iter().enumerate() {
            let _ = write!(s, " {:>5}", format!("[{i}]"));
        }
        let _ = writeln!(s);
        for l in &self.labels {
            let _ = write!(s, "{:<16}", l);
            for c in &cols {
                let _ = write!(s, " {:>5}", self.count(l, c));
            }
            let _ = writeln!(s);
        }
        for (i, c) in cols.iter().enumerate() {
            let _ = writeln!(s, "  [{i}] {c}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        let mut c = Confusion::new(vec!["a".into(), "b".into()]);
        c.add("a", Some("a"));
        c.add("a", Some("b"));
        c.add("b", Some("b"));
        c.add("b", None);
        let a = c.class("a");
        assert_eq!((a.precision, a.recall), (1.0, 0.5));
        let b = c.class("b");
        assert_eq!((b.precision, b.recall), (0.5, 0.5));
        assert!((c.macro_f1() - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-9);
        assert_eq!(c.coverage(), 0.75);
        assert!(c.report().contains("macro_f1=0.5833"));
    }
}
