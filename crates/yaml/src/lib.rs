//! The one place sculpt reads and writes YAML.
//!
//! Every YAML document sculpt reads — device profiles, search spaces, compression plans, sweep
//! files, model specs — goes through [`from_str`] or [`from_path`], so that:
//!
//! * unknown keys are rejected (the target types use `#[serde(deny_unknown_fields)]`),
//! * every error names the file, the line and, where known, the key, and
//! * the YAML library can be swapped in one place (serde_yaml is deprecated upstream).
//!
//! Semantic checks that run after deserialisation (a negative bandwidth, a ratio above one) use
//! [`line_of_key`] to point at the offending line.
//!
//! ```
//! #[derive(serde::Deserialize, Debug)]
//! #[serde(deny_unknown_fields)]
//! struct Device { name: String, cores: u32 }
//!
//! let err = sculpt_yaml::from_str::<Device>("name: x\ncores: 4\nclock: 3\n", "dev.yaml".as_ref())
//!     .unwrap_err();
//! assert_eq!(err.line(), Some(3));
//! assert!(err.to_string().starts_with("dev.yaml:3:"));
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML document that could not be read, with the place it went wrong.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    path: PathBuf,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    msg: String,
}

impl Error {
    /// An error found after deserialisation, at `key` (a dotted path such as `memory.dram.bandwidth`)
    /// of the document `text` read from `path`; the line is looked up with [`line_of_key`].
    pub fn at_key(path: &Path, text: &str, key: &str, msg: impl Into<String>) -> Error {
        let parts: Vec<&str> = key.split('.').collect();
        Error {
            path: path.to_path_buf(),
            line: line_of_key(text, &parts),
            column: None,
            key: Some(key.to_string()),
            msg: msg.into(),
        }
    }

    /// An error about the file as a whole (it could not be read, say).
    pub fn whole_file(path: &Path, msg: impl Into<String>) -> Error {
        Error { path: path.to_path_buf(), line: None, column: None, key: None, msg: msg.into() }
    }

    /// The file the document came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The dotted key the error is about, when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The message without the location.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.msg)
    }
}

/// Deserialises `text`, which came from `origin` (used only in error messages).
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<T, Error> {
    if text.trim().is_empty() {
        return Err(Error::whole_file(origin, "the document is empty"));
    }
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        // serde_yaml appends " at line N column M" to its messages; we print the place ourselves.
        let raw = e.to_string();
        let msg = match raw.find(" at line ") {
            Some(idx) => raw[..idx].to_string(),
            None => raw,
        };
        // serde_yaml names the path of a nested error as a prefix: `input.channels: invalid type`.
        let (prefix, msg) = split_key_prefix(&msg);
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"));
        let key = match (prefix, field) {
            (Some(p), Some(f)) => Some(format!("{p}.{f}")),
            (Some(p), None) => Some(p.to_string()),
            (None, Some(f)) => Some(f.to_string()),
            (None, None) => None,
        };
        let msg = msg.to_string();
        Error {
            path: origin.to_path_buf(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            key,
            msg,
        }
    })
}

/// Splits serde_yaml's `path.to.key: message` into the path and the message.
fn split_key_prefix(msg: &str) -> (Option<&str>, &str) {
    if let Some((head, tail)) = msg.split_once(": ") {
        let is_path = !head.is_empty()
            && head.chars().all(|c| c.is_ascii_alphanumeric() || "_.-[]".contains(c))
            && !head.contains(' ');
        if is_path {
            return (Some(head), tail);
        }
    }
    (None, msg)
}

/// Deserialises the mapping `text` key by key: every top-level key whose value `T` accepts is
/// kept, every other is dropped and named in the second part of the result, so that a document
/// written by another version still yields every setting that kept its meaning.
///
/// `T` must accept any subset of its keys (every field `#[serde(default)]`). An error means the
/// text is not a YAML mapping at all.
pub fn from_str_keeping_valid_keys<T: DeserializeOwned>(
    text: &str,
    origin: &Path,
) -> Result<(T, Vec<String>), Error> {
    let mapping: serde_yaml::Mapping = from_str(text, origin)?;
    let mut kept = serde_yaml::Mapping::new();
    let mut dropped = Vec::new();
    for (key, value) in mapping {
        let mut trial = kept.clone();
        trial.insert(key.clone(), value.clone());
        if serde_yaml::from_value::<T>(serde_yaml::Value::Mapping(trial)).is_ok() {
            kept.insert(key, value);
        } else {
            dropped.push(match &key {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
            });
        }
    }
    let value = serde_yaml::from_value(serde_yaml::Value::Mapping(kept))
        .map_err(|e| Error::whole_file(origin, e.to_string()))?;
    Ok((value, dropped))
}

/// Reads and deserialises the YAML file at `path`.
pub fn from_path<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = read_text(path)?;
    from_str(&text, path)
}

/// Reads a YAML file as text, with an error that names the file.
pub fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::whole_file(path, format!("cannot read: {e}")))
}

/// Serialises `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_yaml::to_string(value)
        .map_err(|e| Error::whole_file(Path::new("<output>"), format!("cannot serialise: {e}")))
}

/// Finds the 1-based line on which the nested key `key_path` is defined in a block-style YAML
/// document, such as `["memory", "dram", "bandwidth_gbps"]`.
///
/// Each key is searched for below the previous one, at a deeper indentation; a key written in
/// flow style (`dram: {bandwidth_gbps: 10}`) is found on the line of its parent. Numeric parts
/// index block sequences (`layers.2.name`). Returns the deepest line found, or `None` when not
/// even the first key is present.
pub fn line_of_key(text: &str, key_path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found: Option<usize> = None;
    for part in key_path {
        let mut hit = None;
        if let Ok(index) = part.parse::<usize>() {
            // The index-th "- " item directly below the parent.
            let mut seen = 0usize;
            let mut item_indent = None;
            let first = start + usize::from(found.is_some());
            for (idx, line) in lines.iter().enumerate().skip(first) {
                let indent = indent_of(line);
                let body = line.trim_start();
                if body.is_empty() || body.starts_with('#') {
                    continue;
                }
                if parent_indent.is_some_and(|p| indent <= p) && !body.starts_with("- ") {
                    break;
                }
                if body.starts_with("- ") || body == "-" {
                    if item_indent.is_none() {
                        item_indent = Some(indent);
                    }
                    if item_indent == Some(indent) {
                        if seen == index {
                            hit = Some((idx, indent + 1));
                            break;
                        }
                        seen += 1;
                    }
                }
            }
        } else {
            let needle_plain = format!("{part}:");
            let needle_quoted = format!("\"{part}\":");
            let needle_single = format!("'{part}':");
            for (idx, line) in lines.iter().enumerate().skip(start) {
                let indent = indent_of(line);
                let body = line.trim_start().trim_start_matches("- ");
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                if idx > start && parent_indent.is_some_and(|p| indent <= p) {
                    break;
                }
                let starts = body.starts_with(&needle_plain)
                    || body.starts_with(&needle_quoted)
                    || body.starts_with(&needle_single);
                if starts {
                    hit = Some((idx, indent));
                    break;
                }
                // Flow style on the parent's line: `parent: {part: 1}`.
                if idx == start && found.is_some() {
                    let flow1 = format!("{{{part}:");
                    let flow2 = format!(" {part}:");
                    if line.contains(&flow1) || line.contains(&flow2) {
                        return Some(idx + 1);
                    }
                }
            }
        }
        match hit {
            Some((idx, indent)) => {
                found = Some(idx + 1);
                start = idx;
                parent_indent = Some(indent);
            }
            None => return found,
        }
    }
    found
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        bandwidth_gbps: f64,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        dram: Inner,
    }

    const DOC: &str = "\
# a device
name: npu
dram:
  bandwidth_gbps: -3
layers:
  - name: a
  - name: b
    bits: 4
";

    fn check_line(path: &[&str], expected: Option<usize>) {
        assert_eq!(line_of_key(DOC, path), expected, "{path:?}");
    }

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        check_line(&["name"], Some(2));
        check_line(&["dram"], Some(3));
        check_line(&["dram", "bandwidth_gbps"], Some(4));
        check_line(&["layers", "1", "bits"], Some(8));
        check_line(&["layers", "0", "name"], Some(6));
        check_line(&["missing"], None);
        // A key that is absent below a present parent reports the parent's line.
        check_line(&["dram", "latency"], Some(3));
    }

    #[test]
    fn flow_style_key_reports_parent_line() {
        let doc = "a: 1\nquant: {weight_bits: 3, granularity: per_tensor}\n";
        assert_eq!(line_of_key(doc, &["quant", "granularity"]), Some(2));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = from_str::<Outer>(
            "name: x\ndram:\n  bandwidth_gbps: 1\n  speed: 2\n",
            "p.yaml".as_ref(),
        )
        .unwrap_err();
        assert_eq!(err.line(), Some(4));
        assert_eq!(err.key(), Some("dram.speed"));
        let text = err.to_string();
        assert!(text.starts_with("p.yaml:4:"), "{text}");
        assert!(text.contains("unknown field `speed`"), "{text}");
    }

    #[test]
    fn missing_and_mistyped_fields() {
        let err = from_str::<Outer>("name: x\n", "p.yaml".as_ref()).unwrap_err();
        assert_eq!(err.key(), Some("dram"));
        assert!(err.to_string().contains("missing field `dram`"));
        let err = from_str::<Outer>("name: x\ndram:\n  bandwidth_gbps: fast\n", "p.yaml".as_ref())
            .unwrap_err();
        assert_eq!(err.line(), Some(3));
        assert_eq!(err.key(), Some("dram.bandwidth_gbps"));
        assert!(
            err.to_string().starts_with("p.yaml:3:19: key `dram.bandwidth_gbps`: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn empty_and_unreadable_files() {
        let err = from_str::<Outer>("  \n", "e.yaml".as_ref()).unwrap_err();
        assert_eq!(err.to_string(), "e.yaml: the document is empty");
        let err = from_path::<Outer>("/nonexistent/x.yaml".as_ref()).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/x.yaml: cannot read:"));
    }

    #[test]
    fn semantic_error_points_at_key() {
        let err = Error::at_key("d.yaml".as_ref(), DOC, "dram.bandwidth_gbps", "must be > 0");
        assert_eq!(err.to_string(), "d.yaml:4: key `dram.bandwidth_gbps`: must be > 0");
    }

    #[test]
    fn keeping_valid_keys_drops_only_the_mistyped_ones() {
        #[derive(serde::Deserialize, Debug, Default, PartialEq)]
        struct Loose {
            #[serde(default)]
            seed: Option<u64>,
            #[serde(default)]
            name: Option<String>,
        }
        let (v, dropped) = from_str_keeping_valid_keys::<Loose>(
            "seed: [1, 2]\nname: x\nextra: 3\n",
            "l.yaml".as_ref(),
        )
        .unwrap();
        assert_eq!(v, Loose { seed: None, name: Some("x".into()) });
        assert_eq!(dropped, vec!["seed".to_string()]);
        assert!(from_str_keeping_valid_keys::<Loose>("- a\n", "l.yaml".as_ref()).is_err());
    }
}
