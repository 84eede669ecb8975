//! Renders index.html in a real browser (Debian's `chromium`, headless) and checks that the page
//! draws something and logs no console error.
//!
//! Needs an outside program: when `chromium` is not installed the test prints why and passes,
//! unless `SCULPT_REQUIRE_BROWSER=1` is set (CI sets it and installs chromium), in which case
//! the missing browser is a failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture, out_dir, png_info};
use sculpt_report::{compare, write_report};
use sculpt_run::read_run;

fn find_chromium() -> Option<String> {
    ["chromium", "chromium-browser"].into_iter().find_map(|name| {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        found.status.success().then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
    })
}

/// Runs headless chromium on `page` with `extra` arguments; returns (stdout, stderr).
fn chromium(binary: &str, page: &Path, extra: &[String]) -> (String, String) {
    let profile = out_dir(&format!(
        "chromium-profile-{}",
        page.parent().unwrap().file_name().unwrap().to_string_lossy()
    ));
    let mut command = Command::new(binary);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command.args(extra);
    command.arg(format!("file://{}", page.canonicalize().unwrap().display()));
    let output = command.output().expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn check_page(binary: &str, page: &Path, must_contain: &str) {
    let screenshot = page.with_file_name("screenshot.png");
    let (_, stderr) = chromium(
        binary,
        page,
        &[format!("--screenshot={}", screenshot.display()), "--window-size=1200,800".to_string()],
    );
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let (w, h, colours) = png_info(&screenshot);
    assert_eq!((w, h), (1200, 800));
    // A blank page is one colour; the summary alone has text, cards and a coloured rule.
    assert!(colours > 50, "screenshot has only {colours} colours");
    // The DOM after loading holds the report (the page parsed and nothing replaced it).
    let (dom, stderr) = chromium(binary, page, &["--dump-dom".to_string()]);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(dom.contains(must_contain), "the rendered DOM holds `{must_contain}`");
    assert_eq!(dom.matches("<svg").count(), dom.matches("</svg>").count());
}

#[test]
fn reports_render_in_chromium() {
    let Some(binary) = find_chromium() else {
        if std::env::var("SCULPT_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "SCULPT_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)"
            );
        }
        eprintln!(
            "skipping the browser test: chromium is not installed (set SCULPT_REQUIRE_BROWSER=1 to require it)"
        );
        return;
    };
    let run = read_run(&fixture("arm-3obj")).unwrap();
    let out = out_dir("browser-report");
    let files = write_report(&run, &out).unwrap();
    check_page(&binary, &files.index_html, "At ≤ 0.25 ms latency and ≤ 0.3 MB size on arm-a76");

    let runs = vec![read_run(&fixture("tpu-2obj")).unwrap(), run];
    let out = out_dir("browser-compare");
    let files = compare(&runs, &out).unwrap();
    check_page(&binary, &files.index_html, "Robust across");
}
