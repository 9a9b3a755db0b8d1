//! Dual coordinate descent for L2-regularised squared-hinge-loss SVMs, one class against the rest.

use std::collections::HashMap;

use crate::model::LinearModel;

/// How a [`LinearModel`] is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Cost of a training error against the weights' size: larger fits the examples closer.
    pub c: f32,
    /// Keys seen in fewer documents than this are dropped: a word one example used says more
    /// about that example than about its class, and the model stays small.
    pub min_df: u32,
    /// Scale from decision values to the softmax that turns them into probabilities.
    pub sharpness: f32,
    /// Upper bound on passes over the examples per class.
    pub max_passes: u32,
}

/// A label whose misses cost more than its false alarms: its examples' training errors weigh
/// `cost` times C when it is learnt against the rest, which moves its boundary outwards.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCost {
    pub label: String,
    pub cost: f32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            c: 1.0,
            min_df: 2,
            sharpness: 6.0,
            max_passes: 200,
        }
    }
}

/// Stop once no example's projected gradient moves by more than this in a pass.
const TOLERANCE: f32 = 1e-3;

/// A training document: the column of each known key and its value, unit length.
pub(crate) type Sparse = Vec<(u32, f32)>;

/// Vocabulary and inverse document frequencies of the examples' keys (each document's keys
/// deduplicated), keeping those in at least `min_df` documents. Columns follow key order, so a
/// model does not depend on the examples' order.
pub(crate) fn vocabulary(docs: &[Vec<u64>], min_df: u32) -> (HashMap<u64, u32>, Vec<f32>) {
    let mut df: HashMap<u64, u32> = HashMap::new();
    for doc in docs {
        let mut keys = doc.clone();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            *df.entry(k).or_default() += 1;
        }
    }
    let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|&(_, n)| n >= min_df).collect();
    kept.sort_unstable();
    let n = docs.len() as f32;
    let mut index = HashMap::with_capacity(kept.len());
    let mut idf = Vec::with_capacity(kept.len());
    for (column, (key, df)) in kept.into_iter().enumerate() {
        // The smoothed form: as if one more document held every key.
        idf.push(((1.0 + n) / (1.0 + df as f32)).ln() + 1.0);
        index.insert(key, column as u32);
    }
    (index, idf)
}

/// A document's unit-length vector over the vocabulary; empty when it has no known key.
pub(crate) fn vectorise(keys: &[u64], index: &HashMap<u64, u32>, idf: &[f32]) -> Sparse {
    let mut v: Sparse = keys
        .iter()
        .filter_map(|k| index.get(k).map(|&c| (c, idf[c as usize])))
        .collect();
    v.sort_unstable_by_key(|&(c, _)| c);
    v.dedup_by_key(|&mut (c, _)| c);
    let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, x) in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Trains one class against the rest: the weights over `columns` features and the bias (the
/// bias is a constant feature of value 1, regularised like the others, as in LIBLINEAR).
pub(crate) fn one_vs_rest(
    docs: &[Sparse],
    positive: &[bool],
    positive_cost: f32,
    columns: usize,
    options: &Options,
) -> (Vec<f32>, f32) {
    let mut w = vec![0.0_f32; columns];
    let mut bias = 0.0_f32;
    let mut alpha = vec![0.0_f32; docs.len()];
    // Squared hinge loss: the dual's diagonal gains 1/(2C) and alpha has no upper bound.
    let diagonal_of = |positive: bool| {
        let c = if positive {
            options.c * positive_cost
        } else {
            options.c
        };
        1.0 / (2.0 * c.max(f32::MIN_POSITIVE))
    };
    let diagonals: Vec<f32> = positive.iter().map(|&p| diagonal_of(p)).collect();
    let q: Vec<f32> = docs
        .iter()
        .zip(&diagonals)
        .map(|(d, diagonal)| d.iter().map(|(_, x)| x * x).sum::<f32>() + 1.0 + diagonal)
        .collect();
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..options.max_passes.max(1) {
        rng.shuffle(&mut order);
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        for &i in &order {
            let y = if positive[i] { 1.0 } else { -1.0 };
            let doc = &docs[i];
            let margin = doc.iter().map(|&(c, x)| w[c as usize] * x).sum::<f32>() + bias;
            let g = y * margin - 1.0 + diagonals[i] * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / q[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                for &(c, x) in doc {
                    w[c as usize] += step * x;
                }
                bias += step;
            }
        }
        if pg_max - pg_min <= TOLERANCE {
            break;
        }
    }
    (w, bias)
}

/// A small deterministic generator: the same examples always train the same model.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

impl LinearModel {
    /// Learns one model per distinct label (in order of first appearance) from documents given as
    /// their feature keys.
    pub fn train<'a>(
        examples: impl IntoIterator<Item = (Vec<u64>, &'a str)>,
        options: Options,
        costs: &[LabelCost],
    ) -> Self {
        let mut labels: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        let mut of_label = Vec::new();
        for (doc, label) in examples {
            let li = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.to_owned());
                    labels.len() - 1
                }
            };
            keys.push(doc);
            of_label.push(li);
        }
        let (index, idf) = vocabulary(&keys, options.min_df.max(1));
        let docs: Vec<Sparse> = keys.iter().map(|k| vectorise(k, &index, &idf)).collect();
        let columns = idf.len();
        let k = labels.len();
        // Weights laid out per column, each row holding every label's weight: scoring a document
        // reads one row per known key.
        let mut weights = vec![0.0_f32; columns * k];
        let mut biases = vec![0.0_f32; k];
        // One label alone has nothing to be told apart from.
        if k > 1 {
            for (li, bias) in biases.iter_mut().enumerate() {
                let positive: Vec<bool> = of_label.iter().map(|&l| l == li).collect();
                let cost = costs
                    .iter()
                    .find(|c| c.label == labels[li])
                    .map_or(1.0, |c| c.cost);
                let (w, b) = one_vs_rest(&docs, &positive, cost, columns, &options);
                for (column, x) in w.into_iter().enumerate() {
                    weights[column * k + li] = x;
                }
                *bias = b;
            }
        }
        LinearModel {
            labels,
            index,
            idf,
            weights,
            biases,
            sharpness: options.sharpness,
        }
    }
}
