//! One-vs-rest linear SVMs over sparse, TF-IDF weighted binary features.
//!
//! Each class gets an L2-regularised, squared-hinge-loss SVM trained by dual coordinate descent
//! (Hsieh et al., "A Dual Coordinate Descent Method for Large-scale Linear SVM", ICML 2008; the
//! method of LIBLINEAR's default solver). On the bureau's petitions it ranks departments, types
//! and diversions 2–3 points better than naive Bayes over the same features (docs/benchmarks.md,
//! session 17), and a few thousand examples train in well under a second.
//!
//! Features are opaque `u64` keys (the caller decides what a word is). A document is the set of
//! its keys: each known key weighs its inverse document frequency, and the vector is scaled to
//! unit length, so a long letter does not outvote a short one by length alone.
//!
//! This crate is kept apart from the domain crate so that the development profile can optimise
//! it: unoptimised, training takes seconds per model and every test that builds a classifier
//! would pay it.

mod model;
mod train;

pub use model::LinearModel;
pub use train::{LabelCost, Options};
