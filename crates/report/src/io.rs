//! Atomic file writes and relative links.

use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A temporary name next to `path`, unique within this process, keeping the extension (the
/// bitmap encoder picks the image format from it).
pub(crate) fn temp_path_for(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}{ext}", std::process::id()))
}

/// Writes a file through `fill` into a temporary file next to `path`, then renames it into place,
/// so that readers never see a half-written file.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        fill(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
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

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("sculpt-report-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir.join("a.txt"), b"hello").unwrap();
        write_atomic(&dir.join("a.txt"), b"world").unwrap();
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "world");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
