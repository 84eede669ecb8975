//! Measured lookup tables: latencies (and optionally energies) a user measured on the device.
//!
//! # File format
//!
//! A CSV file with a header naming these columns, in any order:
//!
//! | column | content |
//! |---|---|
//! | `kind` | a [`WorkloadKind`] name (`linear`, `conv2d`, …) |
//! | `precision` | the requested precision ([`Precision`] name: the weight precision, or the activation precision of a weight-less layer) |
//! | `sparsity` | `dense`, `N:M` (`2:4`) or `unstructured:R` (`unstructured:0.5`) |
//! | `m`, `n`, `k`, `groups` | the GEMM dimensions; all four empty for a layer without a GEMM |
//! | `macs` | the layer's multiply-accumulates (an integer) |
//! | `latency_s` | measured latency in seconds, `> 0` |
//! | `energy_j` | measured energy in joules, `>= 0`, or empty |
//!
//! # Lookup rules
//!
//! A layer is looked up by its kind, requested precision and sparsity; only rows equal in all
//! three are *candidates*.
//!
//! 1. **Exact.** A candidate matches exactly when both it and the layer carry GEMM dimensions and
//!    they are equal, or when one of them carries none and the MACs are equal. Several exact
//!    matches (repeated measurements) are averaged.
//! 2. **Interpolated.** Otherwise candidates are grouped by MACs (latencies averaged per MAC
//!    count) and the layer's latency is interpolated linearly in MACs between the nearest group
//!    below and the nearest above (a group at exactly the layer's MACs is used as it is). There is
//!    no extrapolation: a layer outside the candidates' MAC range is a miss.
//! 3. **Miss.** The profile's `missing` setting decides: `error` fails with
//!    [`Error::LookupMiss`](crate::Error::LookupMiss) naming the entry, `analytic` uses the
//!    analytic model.
//!
//! Energy follows the same rule when every row used carries `energy_j`; otherwise the energy is
//! the analytic compute and memory energy plus static power over the measured latency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::workload::{Gemm, Precision, Sparsity, WorkloadKind};

const COLUMNS: [&str; 10] =
    ["kind", "precision", "sparsity", "m", "n", "k", "groups", "macs", "latency_s", "energy_j"];

/// One row of a lookup table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// The 1-based line of the row in its file.
    pub line: usize,
    /// The layer kind.
    pub kind: WorkloadKind,
    /// The requested precision.
    pub precision: Precision,
    /// The sparsity.
    pub sparsity: Sparsity,
    /// The GEMM dimensions, when given.
    pub gemm: Option<Gemm>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Measured latency in seconds.
    pub latency_s: f64,
    /// Measured energy in joules, when given.
    pub energy_j: Option<f64>,
}

/// A value read from a table and how it was found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableHit {
    /// Latency in seconds.
    pub latency_s: f64,
    /// Energy in joules, when every row used carried one.
    pub energy_j: Option<f64>,
    /// Exact match (`true`) or interpolation (`false`).
    pub exact: bool,
}

/// A measured lookup table read from a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupTable {
    path: PathBuf,
    rows: Vec<TableRow>,
}

impl LookupTable {
    /// Reads the table at `path`.
    pub fn from_path(path: &Path) -> Result<LookupTable, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Table {
            path: path.to_path_buf(),
            row: None,
            column: None,
            msg: format!("cannot read: {e}"),
        })?;
        LookupTable::parse(&text, path)
    }

    /// Parses a table from `text`, which came from `origin` (used in error messages).
    pub fn parse(text: &str, origin: &Path) -> Result<LookupTable, Error> {
        let err = |row: Option<usize>, column: Option<&str>, msg: String| Error::Table {
            path: origin.to_path_buf(),
            row,
            column: column.map(str::to_string),
            msg,
        };
        let mut reader =
            csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let header =
            reader.headers().map_err(|e| err(Some(1), None, format!("bad header: {e}")))?.clone();
        let mut index = BTreeMap::new();
        for (idx, name) in header.iter().enumerate() {
            if !COLUMNS.contains(&name) {
                return Err(err(
                    Some(1),
                    Some(name),
                    format!("unknown column; expected {}", COLUMNS.join(", ")),
                ));
            }
            if index.insert(name.to_string(), idx).is_some() {
                return Err(err(Some(1), Some(name), "column given twice".into()));
            }
        }
        for name in COLUMNS {
            if !index.contains_key(name) {
                return Err(err(Some(1), Some(name), "missing column".into()));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line() as usize);
                err(line, None, format!("malformed row: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let cell = |name: &str| record.get(index[name]).unwrap_or("");
            let bad = |name: &str, what: &str| {
                err(Some(line), Some(name), format!("{what}, got `{}`", cell(name)))
            };
            let kind = WorkloadKind::from_name(cell("kind"))
                .ok_or_else(|| bad("kind", "not a layer kind"))?;
            let precision = Precision::from_name(cell("precision"))
                .ok_or_else(|| bad("precision", "not a precision"))?;
            let sparsity = Sparsity::parse(cell("sparsity"))
                .ok_or_else(|| bad("sparsity", "expected `dense`, `N:M` or `unstructured:R`"))?;
            let dims: Vec<&str> = ["m", "n", "k", "groups"].into_iter().map(cell).collect();
            let gemm = if dims.iter().all(|d| d.is_empty()) {
                None
            } else {
                let mut parsed = [0u64; 4];
                for (slot, name) in parsed.iter_mut().zip(["m", "n", "k", "groups"]) {
                    *slot = cell(name).parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                        bad(name, "expected a positive integer (or all of m, n, k, groups empty)")
                    })?;
                }
                Some(Gemm { m: parsed[0], n: parsed[1], k: parsed[2], groups: parsed[3] })
            };
            let macs =
                cell("macs").parse::<u64>().map_err(|_| bad("macs", "expected an integer"))?;
            if let Some(g) = &gemm
                && g.macs() != macs
            {
                return Err(err(
                    Some(line),
                    Some("macs"),
                    format!("{macs} differs from groups·m·n·k = {}", g.macs()),
                ));
            }
            let latency_s = cell("latency_s")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| bad("latency_s", "expected a number > 0"))?;
            let energy_j = match cell("energy_j") {
                "" => None,
                text => Some(
                    text.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| bad("energy_j", "expected a number >= 0 or nothing"))?,
                ),
            };
            rows.push(TableRow {
                line,
                kind,
                precision,
                sparsity,
                gemm,
                macs,
                latency_s,
                energy_j,
            });
        }
        Ok(LookupTable { path: origin.to_path_buf(), rows })
    }

    /// The file the table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rows, in file order.
    pub fn rows(&self) -> &[TableRow] {
        &self.rows
    }

    /// Looks a layer up by the rules in the module documentation; `None` is a miss.
    pub fn lookup(
        &self,
        kind: WorkloadKind,
        precision: Precision,
        sparsity: &Sparsity,
        gemm: Option<&Gemm>,
        macs: u64,
    ) -> Option<TableHit> {
        let candidates: Vec<&TableRow> = self
            .rows
            .iter()
            .filter(|r| r.kind == kind && r.precision == precision && r.sparsity.same_as(sparsity))
            .collect();
        let exact: Vec<&TableRow> = candidates
            .iter()
            .copied()
            .filter(|r| match (&r.gemm, gemm) {
                (Some(a), Some(b)) => a == b,
                _ => r.macs == macs,
            })
            .collect();
        if !exact.is_empty() {
            return Some(mean_hit(&exact, true));
        }
        let mut by_macs: BTreeMap<u64, Vec<&TableRow>> = BTreeMap::new();
        for row in candidates {
            by_macs.entry(row.macs).or_default().push(row);
        }
        if let Some(rows) = by_macs.get(&macs) {
            return Some(mean_hit(rows, false));
        }
        let (lo_macs, lo) = by_macs.range(..macs).next_back()?;
        let (hi_macs, hi) = by_macs.range(macs..).next()?;
        let (lo, hi) = (mean_hit(lo, false), mean_hit(hi, false));
        let t = (macs - lo_macs) as f64 / (hi_macs - lo_macs) as f64;
        let lerp = |a: f64, b: f64| a + t * (b - a);
        Some(TableHit {
            latency_s: lerp(lo.latency_s, hi.latency_s),
            energy_j: lo.energy_j.zip(hi.energy_j).map(|(a, b)| lerp(a, b)),
            exact: false,
        })
    }
}

fn mean_hit(rows: &[&TableRow], exact: bool) -> TableHit {
    let count = rows.len() as f64;
    let latency_s = rows.iter().map(|r| r.latency_s).sum::<f64>() / count;
    let energy_j = rows
        .iter()
        .map(|r| r.energy_j)
        .collect::<Option<Vec<f64>>>()
        .map(|e| e.iter().sum::<f64>() / count);
    TableHit { latency_s, energy_j, exact }
}
