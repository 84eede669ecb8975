//! Missing batteries that every sculpt crate shares, in the spirit of rust-analyzer's `stdx`:
//! small, dependency-free helpers that would otherwise be written again in each crate.
//!
//! * [`write_atomic`] and [`write_atomic_with`]: every file sculpt writes goes through a
//!   temporary file in the same folder and a rename, so a reader (or a crash) never sees a
//!   half-written file.
//! * [`now_rfc3339`] and [`rfc3339`]: the UTC clock as RFC 3339 text, without a time crate.
//! * [`available_memory`]: how much memory this process may still use, to refuse a model that
//!   cannot fit before allocating it.
//! * [`stats`]: Kendall's τ, Spearman's ρ and Pearson's r, and [`stats::TimingStat`], the order
//!   statistics a set of timed passes is summarised by.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("sculpt-stdx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! sculpt_stdx::write_atomic(&dir.join("a.txt"), b"hello")?;
//! assert_eq!(std::fs::read_to_string(dir.join("a.txt"))?, "hello");
//! assert_eq!(sculpt_stdx::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
//! assert_eq!(sculpt_stdx::stats::spearman(&[1.0, 2.0, 3.0], &[10.0, 30.0, 20.0]), 0.5);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod fs;
mod memory;
pub mod stats;

pub use clock::{now_rfc3339, rfc3339};
pub use fs::{temp_path_for, write_atomic, write_atomic_with};
pub use memory::available_memory;
