//! Atomic file writes and relative links.

use std::path::{Component, Path};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically, with an error that names the file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sculpt_stdx::write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

/// Renames a finished temporary file into place, removing it on failure.
pub(crate) fn persist(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        Error::io(path, e)
    })
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// The path of `target` as seen from the folder `from`, with `/` separators, for links in
/// reports; falls back to the absolute path when no relative path exists.
pub(crate) fn relative_link(from: &Path, target: &Path) -> String {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
            }
        })
    };
    let from = absolute(from);
    let target = match (target.parent(), target.file_name()) {
        // The target may not exist; resolve its folder and keep the name.
        (Some(parent), Some(name)) if !target.exists() => absolute(parent).join(name),
        _ => absolute(target),
    };
    let from_parts: Vec<Component<'_>> = from.components().collect();
    let target_parts: Vec<Component<'_>> = target.components().collect();
    let common = from_parts.iter().zip(&target_parts).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return target.to_string_lossy().replace('\\', "/");
    }
    let mut parts: Vec<String> = vec!["..".to_string(); from_parts.len() - common];
    parts.extend(
        target_parts[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report_folder() {
        let root = std::env::temp_dir().join(format!("sculpt-report-link-{}", std::process::id()));
        std::fs::create_dir_all(root.join("run/report")).unwrap();
        std::fs::create_dir_all(root.join("run/plans")).unwrap();
        let link = relative_link(&root.join("run/report"), &root.join("run/plans/front-000.yaml"));
        assert_eq!(link, "../plans/front-000.yaml");
        let link = relative_link(&root.join("run"), &root.join("run/plans/front-001.yaml"));
        assert_eq!(link, "plans/front-001.yaml");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
