//! A thin wrapper over Hugging Face's `tokenizers` that turns sentences into a [`TokenBatch`].

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy};

use crate::error::{Error, Result};
use crate::graph::TokenBatch;

/// A tokenizer loaded from a `tokenizer.json`.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("path", &self.path).finish()
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json`. The file's truncation is kept (all-MiniLM-L6-v2 truncates to 128
    /// tokens); padding is set to the longest sentence of each batch, which gives the same
    /// embeddings as fixed-length padding because padded positions are masked.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let mut inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer { path: path.to_path_buf(), msg: e.to_string() })?;
        let mut padding = inner.get_padding().cloned().unwrap_or_else(PaddingParams::default);
        padding.strategy = PaddingStrategy::BatchLongest;
        inner.with_padding(Some(padding));
        Ok(Tokenizer { inner, path: path.to_path_buf() })
    }

    /// Loads a tokenizer from the text of a `tokenizer.json`; `origin` names it in messages.
    pub fn from_json(text: &str, origin: &Path) -> Result<Tokenizer> {
        let mut inner = tokenizers::Tokenizer::from_bytes(text.as_bytes())
            .map_err(|e| Error::Tokenizer { path: origin.to_path_buf(), msg: e.to_string() })?;
        let mut padding = inner.get_padding().cloned().unwrap_or_else(PaddingParams::default);
        padding.strategy = PaddingStrategy::BatchLongest;
        inner.with_padding(Some(padding));
        Ok(Tokenizer { inner, path: origin.to_path_buf() })
    }

    /// The same tokenizer padding (and truncating) every sentence to exactly `length` tokens,
    /// for graphs whose shapes fix the sequence length.
    pub fn with_fixed_length(mut self, length: usize) -> Result<Tokenizer> {
        let mut padding = self.inner.get_padding().cloned().unwrap_or_else(PaddingParams::default);
        padding.strategy = PaddingStrategy::Fixed(length);
        self.inner.with_padding(Some(padding));
        let truncation = tokenizers::TruncationParams { max_length: length, ..Default::default() };
        self.inner
            .with_truncation(Some(truncation))
            .map_err(|e| Error::Tokenizer { path: self.path.clone(), msg: e.to_string() })?;
        Ok(self)
    }

    /// Where the tokenizer came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tokenises sentences into one padded batch.
    pub fn encode(&self, sentences: &[String]) -> Result<TokenBatch> {
        if sentences.is_empty() {
            return Err(Error::Input { msg: "no sentences to tokenise".into() });
        }
        let encodings = self
            .inner
            .encode_batch(sentences.to_vec(), true)
            .map_err(|e| Error::Tokenizer { path: self.path.clone(), msg: e.to_string() })?;
        let n = encodings.len();
        let t = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(n * t);
        let mut types = Vec::with_capacity(n * t);
        let mut mask = Vec::with_capacity(n * t);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend(e.get_attention_mask().iter().map(|&m| m as f32));
        }
        let dev = Device::Cpu;
        Ok(TokenBatch {
            ids: Tensor::from_vec(ids, (n, t), &dev)?,
            type_ids: Some(Tensor::from_vec(types, (n, t), &dev)?),
            mask: Tensor::from_vec(mask, (n, t), &dev)?,
        })
    }
}
