//! What the benchmarks share: running the release binary, the median, and a
//! configuration with fifty committees.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub fn iopd(config: &Path, db: &str, args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_iopd"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("IOPD__DATABASE__URL", db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run iopd");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "iopd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The example configuration with 50 committees, ten meetings a year each.
pub fn config(dir: &Path) -> std::path::PathBuf {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/iopd.example.toml"
    ))
    .expect("example");
    let mut toml = example.replace(
        "# tracking_start = \"2026-12-01\"",
        "tracking_start = \"2025-01-01\"",
    );
    let meetings: Vec<String> = (2015..=2030)
        .flat_map(|y| [1, 2, 3, 4, 5, 6, 9, 10, 11, 12].map(move |m| format!("\"{y}-{m:02}-14\"")))
        .collect();
    for i in 0..48 {
        toml.push_str(&format!(
            "\n[committees.c{i:02}]\nname = \"Nämnd {i}\"\nsecretary_email = \"sekr{i}@example.org\"\nsubmission_days = 21\nmeetings = [{}]\n",
            meetings.join(", ")
        ));
    }
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}
