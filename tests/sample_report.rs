//! The sample report committed under reports/demo must be what the current code writes from the
//! committed run directory: a change to the report format without regenerating the sample fails
//! here. Regenerate with
//! `sculpt search --out reports/demo --budget 2000 --space search-spaces/full.yaml --max-accuracy-drop 0.01`.

use std::path::Path;
use std::process::Command;

/// Plan links are relative to where the report is written; compare what they point at.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut l = line.to_string();
        for open in ["href=\"", "]("] {
            let mut from = 0;
            while let Some(start) = l[from..].find(open).map(|i| i + from + open.len()) {
                match l[start..].find("plans/front-") {
                    Some(rel) if !l[start..start + rel].contains(['"', ')']) => {
                        l.replace_range(start..start + rel, "");
                        from = start;
                    }
                    _ => from = start,
                }
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn committed_sample_report_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_sculpt"))
        .args(["report", "reports/demo", "--out", out.to_str().unwrap()])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for file in ["index.html", "report.md"] {
        let fresh = std::fs::read_to_string(out.join(file)).unwrap();
        let committed =
            std::fs::read_to_string(root.join("reports/demo/report").join(file)).unwrap();
        // The sample names its run directory as given, not where it was generated.
        assert!(committed.contains("run directory reports/demo"), "{file}");
        assert!(!committed.contains(root.to_str().unwrap()), "{file} names the checkout");
        assert!(
            normalise(&fresh) == normalise(&committed),
            "reports/demo/report/{file} is stale; regenerate it (see this test's doc comment)"
        );
    }
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&out), names(&root.join("reports/demo/report")));
}
