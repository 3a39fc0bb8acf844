use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::Path;

// Migrations are embedded with `sqlx::migrate!`; rebuild when they change.
// IOPD_SOURCE_HASH fingerprints the program's source: it is part of the rules
// hash (`delivery::rules_hash`), so a version that may compute reminders
// differently evaluates every partnership again on its first tick.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.sort();
    let mut h = DefaultHasher::new();
    for f in &files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    println!("cargo:rustc-env=IOPD_SOURCE_HASH={:016x}", h.finish());
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
