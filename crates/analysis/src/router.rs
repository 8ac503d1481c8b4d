//! The learned router: a second opinion on department assignment.
//!
//! A multinomial logistic regression (linfa-logistic) over TF-IDF features of the segmenter's
//! words plus one feature per unit whose rules fired (its share of the rule score). It predicts a
//! department name, or — trained with a label map — a category, whose support for a unit is the
//! probability of the categories listing that unit. The fitted weights are stored as JSON and
//! applied here with sparse dot products, so prediction needs no linear algebra library.

use std::collections::BTreeMap;

use linfa::traits::Fit;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Format tag written into every model file.
pub const FORMAT: &str = "yuqing-router/1";

/// Why a model could not be trained or loaded.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("need at least two labels with examples to train, found {0}")]
    TooFewClasses(usize),
    #[error("training failed: {0}")]
    Fit(String),
    #[error("not a router model: {0}")]
    Format(String),
}

/// Thresholds of the decision policy (see `assign`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Model confidence at or above which the model's own department is ranked first.
    pub override_confidence: f32,
    /// Model confidence at or above which the model's department is added when rules missed it.
    pub suggest_confidence: f32,
    /// Weight of model support against the rule share when reordering ambiguous rule results.
    pub model_weight: f32,
}

impl Default for Policy {
    fn default() -> Self {
        Self { override_confidence: 0.9, suggest_confidence: 0.25, model_weight: 1.0 }
    }
}

/// A trained router.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouterModel {
    pub format: String,
    /// Class names: department names, or categories when `label_map` is set.
    pub classes: Vec<String>,
    /// Category → department names (as in the label map file).
    pub label_map: Option<BTreeMap<String, Vec<String>>>,
    pub policy: Policy,
    vocab: BTreeMap<String, u32>,
    idf: Vec<f32>,
    /// Row-major, `classes.len()` rows of `idf.len()` weights.
    weights: Vec<f32>,
    intercept: Vec<f32>,
}

/// The features of one post: words (already segmented and filtered) and rule shares per unit id.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub words: Vec<String>,
    pub rules: Vec<(String, f32)>,
}

fn rule_key(unit: &str) -> String {
    format!("\u{1}rule:{unit}")
}

/// Training options.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub alpha: f64,
    pub max_iterations: u64,
    pub min_df: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { alpha: 0.01, max_iterations: 200, min_df: 2 }
    }
}

impl RouterModel {
    /// Trains on `(features, label)` pairs.
    pub fn train(
        examples: &[(Features, String)],
        label_map: Option<BTreeMap<String, Vec<String>>>,
        opts: TrainOptions,
    ) -> Result<Self, RouterError> {
        let mut classes: Vec<String> = examples.iter().map(|e| e.1.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(RouterError::TooFewClasses(classes.len()));
        }
        // Vocabulary by document frequency.
        let mut df: FxHashMap<String, u32> = FxHashMap::default();
        for (f, _) in examples {
            let mut seen: Vec<&str> = f.words.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for w in seen {
                *df.entry(w.to_owned()).or_default() += 1;
            }
            for (u, _) in &f.rules {
                *df.entry(rule_key(u)).or_default() += opts.min_df; // rule features are always kept
            }
        }
        let n = examples.len() as f32;
        let mut vocab = BTreeMap::new();
        let mut idf = Vec::new();
        let mut kept: Vec<(&String, &u32)> = df.iter().filter(|(_, d)| **d >= opts.min_df).collect();
        kept.sort();
        for (w, d) in kept {
            vocab.insert(w.clone(), idf.len() as u32);
            let d = if w.starts_with('\u{1}') { 1.0 } else { *d as f32 };
            idf.push(((1.0 + n) / (1.0 + d)).ln() + 1.0);
        }
        let mut model = RouterModel {
            format: FORMAT.into(),
            classes: classes.clone(),
            label_map,
            policy: Policy::default(),
            vocab,
            idf,
            weights: Vec::new(),
            intercept: Vec::new(),
        };
        let dim = model.idf.len();
        let mut x = Array2::<f64>::zeros((examples.len(), dim));
        for (row, (f, _)) in examples.iter().enumerate() {
            for (col, v) in model.vectorize(f) {
                x[[row, col as usize]] = f64::from(v);
            }
        }
        let y: Array1<usize> =
            examples.iter().map(|e| classes.binary_search(&e.1).unwrap_or_default()).collect();
        let ds = linfa::Dataset::new(x, y);
        let fitted = MultiLogisticRegression::default()
            .alpha(opts.alpha)
            .max_iterations(opts.max_iterations)
            .fit(&ds)
            .map_err(|e| RouterError::Fit(e.to_string()))?;
        // params: (features × fitted classes); fitted classes are the sorted distinct targets.
        let fitted_classes = fitted.classes().to_vec();
        let params = fitted.params();
        let mut weights = vec![0f32; classes.len() * dim];
        let mut intercept = vec![-1e3f32; classes.len()];
        for (k, &c) in fitted_classes.iter().enumerate() {
            intercept[c] = fitted.intercept()[k] as f32;
            for j in 0..dim {
                weights[c * dim + j] = params[[j, k]] as f32;
            }
        }
        model.weights = weights;
        model.intercept = intercept;
        Ok(model)
    }

    /// Sparse, L2-normalised TF-IDF vector (sublinear term frequency) plus rule features.
    fn vectorize(&self, f: &Features) -> Vec<(u32, f32)> {
        let mut tf: FxHashMap<u32, f32> = FxHashMap::default();
        for w in &f.words {
            if let Some(&i) = self.vocab.get(w) {
                *tf.entry(i).or_default() += 1.0;
            }
        }
        let mut v: Vec<(u32, f32)> =
            tf.into_iter().map(|(i, c)| (i, (1.0 + c.ln()) * self.idf[i as usize])).collect();
        let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= norm);
        }
        for (u, share) in &f.rules {
            if let Some(&i) = self.vocab.get(&rule_key(u)) {
                v.push((i, *share));
            }
        }
        v.sort_unstable_by_key(|p| p.0);
        v
    }

    /// Class probabilities, in the order of `classes`.
    pub fn predict(&self, f: &Features) -> Vec<f32> {
        let dim = self.idf.len();
        let x = self.vectorize(f);
        let mut logits: Vec<f32> = (0..self.classes.len())
            .map(|c| {
                self.intercept[c]
                    + x.iter().map(|&(j, v)| self.weights[c * dim + j as usize] * v).sum::<f32>()
            })
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for l in &mut logits {
            *l = (*l - max).exp();
            sum += *l;
        }
        logits.iter_mut().for_each(|l| *l /= sum);
        logits
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, RouterError> {
        let m: RouterModel = serde_json::from_str(text).map_err(|e| RouterError::Format(e.to_string()))?;
        if m.format != FORMAT {
            return Err(RouterError::Format(format!("format {:?}, expected {FORMAT:?}", m.format)));
        }
        let dim = m.idf.len();
        if m.weights.len() != dim * m.classes.len() || m.intercept.len() != m.classes.len() {
            return Err(RouterError::Format("weights do not match the vocabulary and classes".into()));
        }
        if m.vocab.values().any(|&i| i as usize >= dim) {
            return Err(RouterError::Format("vocabulary index out of range".into()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(words: &[&str], label: &str) -> (Features, String) {
        (Features { words: words.iter().map(|w| w.to_string()).collect(), rules: vec![] }, label.to_owned())
    }

    #[test]
    fn learns_a_separable_toy_problem_and_round_trips() {
        let mut data = Vec::new();
        for _ in 0..5 {
            data.push(ex(&["工资", "拖欠", "老板"], "人社"));
            data.push(ex(&["小区", "物业", "停水"], "住建"));
        }
        let m = RouterModel::train(&data, None, TrainOptions::default()).unwrap();
        let m = RouterModel::from_json(&m.to_json()).unwrap();
        let p = m.predict(&ex(&["拖欠", "工资"], "").0);
        let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(m.classes[best], "人社");
        assert!(RouterModel::from_json("{}").is_err());
    }
}
