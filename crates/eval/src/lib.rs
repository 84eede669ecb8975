//! Evaluation for sculpt: data readers (IDX, safetensors, text), the bundled Fashion-MNIST
//! subsets, and metrics of a model's outputs.
//!
//! * [`load_data`] reads data named on the command line into a [`Dataset`].
//! * [`evaluate`] runs a model over a dataset and returns an [`EvalReport`].
//!
//! ```
//! let model = sculpt_model::load_model("builtin:demo-mlp").unwrap();
//! let data = sculpt_eval::load_data(sculpt_eval::BUILTIN_CALIB).unwrap();
//! let report = sculpt_eval::evaluate(&model, &data, 256).unwrap();
//! assert_eq!(report.metric, "accuracy");
//! assert_eq!(report.n_samples, 512);
//! ```
#![deny(missing_docs)]

mod data;
mod error;
mod evaluate;
mod fidelity;
mod idx;

pub use data::{
    BUILTIN_CALIB, BUILTIN_EVAL, Data, Dataset, FASHION_MNIST_DIR, Split, balanced_subset,
    dense_from_safetensors, fashion_mnist, load_data, read_idx_images, read_scored_pairs,
    read_text_lines, write_dense_u8,
};
pub use error::{Error, Result};
pub use evaluate::{
    DEFAULT_BATCH, EvalReport, accuracy, dense_outputs, evaluate, fit_inputs, pair_cosines,
    text_outputs,
};
pub use fidelity::{Fidelity, fidelity};
pub use idx::{IdxArray, idx_bytes, parse_idx, read_idx};
