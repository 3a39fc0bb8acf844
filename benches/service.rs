//! `iopd run` and `iopd tick` through the release binary on SQLite:
//! - start to READY=1 (systemd notify protocol) at 10 000 partnerships
//!   (target < 200 ms), median of 5 starts;
//! - idle RSS of the service after its catch-up tick (target < 30 MB);
//! - a tick with nothing new to send at 100 000 partnerships (target < 2 s)
//!   and its peak RSS (target ≤ 200 MB); the next working days' ticks, which
//!   have some stages due, and a full pass (`tick --full`), for comparison.
//!
//! Run: `cargo bench --bench service` (IOPD_BENCH_PARTNERSHIPS scales the tick
//! part; 0 skips it).

#[path = "common.rs"]
mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config, iopd, median};

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `iopd ARGS` under /usr/bin/time: (seconds, peak RSS in KB, stdout).
fn timed(
    cfg: &std::path::Path,
    db: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (f64, u64, String) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_iopd"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("IOPD__DATABASE__URL", db)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run iopd under /usr/bin/time (Debian package time)");
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "iopd {args:?}: {stderr}");
    let kb = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (secs, kb, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let n: usize = std::env::var("IOPD_BENCH_PARTNERSHIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let out_dir = dir.path().join("mail-out");
    let out_s = out_dir.to_str().expect("path").to_string();
    let file_env = [("IOPD__MAIL__FILE__DIR", out_s.as_str())];

    // Start to READY and idle RSS at 10 000 partnerships.
    let ready_db = sqlite("ready.db");
    iopd(
        &cfg,
        &ready_db,
        &["synth", "--partnerships", "10000", "--now", "2026-11-01"],
    );
    let mut readies = Vec::new();
    let mut idle = (0, 0);
    for i in 0..5 {
        let sock_path = dir.path().join(format!("notify{i}"));
        let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_iopd"))
            .arg("--config")
            .arg(&cfg)
            .args(["run", "--now", "2026-11-02T08:05"])
            .env("IOPD__DATABASE__URL", &ready_db)
            .envs(file_env)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start iopd run");
        let mut buf = [0u8; 512];
        loop {
            let len = sock.recv(&mut buf).expect("READY=1 within 30 s");
            if String::from_utf8_lossy(&buf[..len])
                .lines()
                .any(|l| l == "READY=1")
            {
                break;
            }
        }
        readies.push(t.elapsed().as_secs_f64() * 1000.0);
        if i == 4 {
            // Past the catch-up tick, the service only wakes every five seconds.
            std::thread::sleep(Duration::from_secs(40));
            idle = (rss_kb(child.id(), "VmRSS:"), rss_kb(child.id(), "VmHWM:"));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&out_dir);

    println!(
        "start to READY=1, 10 000 partnerships, SQLite: median {:.0} ms of {readies:.0?}",
        median(readies.clone())
    );
    println!(
        "idle RSS after the catch-up tick: {} KB (peak during start and catch-up {} KB)",
        idle.0, idle.1
    );
    if n == 0 {
        return;
    }

    // Ticks at n partnerships.
    let db = sqlite("tick.db");
    iopd(
        &cfg,
        &db,
        &[
            "synth",
            "--partnerships",
            &n.to_string(),
            "--now",
            "2026-11-01",
        ],
    );
    let (first, first_kb, first_out) =
        timed(&cfg, &db, &file_env, &["tick", "--now", "2026-11-02T08:05"]);
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut quiet = Vec::new();
    let mut quiet_kb = 0;
    let mut quiet_out = String::new();
    for i in 0..3 {
        let (s, kb, o) = timed(
            &cfg,
            &db,
            &file_env,
            &["tick", "--now", &format!("2026-11-02T08:1{i}")],
        );
        quiet.push(s);
        quiet_kb = quiet_kb.max(kb);
        quiet_out = o;
    }
    let (next, next_kb, next_out) =
        timed(&cfg, &db, &file_env, &["tick", "--now", "2026-11-03T08:05"]);
    let _ = std::fs::remove_dir_all(&out_dir);
    // The days after: whatever share of the register reaches its next check.
    let mut later = Vec::new();
    for day in ["2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09"] {
        let r = timed(
            &cfg,
            &db,
            &file_env,
            &["tick", "--now", &format!("{day}T08:05")],
        );
        let _ = std::fs::remove_dir_all(&out_dir);
        later.push((day, r));
    }
    // 1 % due: a new officer recorded for every hundredth partnership after
    // the day's tick, so their current stages go to the new address.
    for i in (0..n).step_by(100) {
        let id = format!("SYN/{}:{i:06}", 2015 + (i % 12));
        let email = format!("ny{i}@example.org");
        iopd(
            &cfg,
            &db,
            &[
                "record",
                "officer-replaced",
                "-p",
                &id,
                "--name",
                "Ny handläggare",
                "--email",
                &email,
                "--from",
                "2026-11-09",
                "--now",
                "2026-11-09T09:00",
            ],
        );
    }
    let (one, one_kb, one_out) =
        timed(&cfg, &db, &file_env, &["tick", "--now", "2026-11-09T09:30"]);
    let _ = std::fs::remove_dir_all(&out_dir);
    // A full pass (what a configuration change or an upgrade costs once).
    let (full, full_kb, full_out) = timed(
        &cfg,
        &db,
        &file_env,
        &["tick", "--full", "--now", "2026-11-09T09:45"],
    );

    println!(
        "tick, {n} partnerships, first of the day: {first:.2} s, peak RSS {} MB: {}",
        first_kb / 1024,
        first_out.trim()
    );
    println!(
        "tick, nothing new to send: median {:.2} s of {quiet:.2?}, peak RSS {} MB: {}",
        median(quiet.clone()),
        quiet_kb / 1024,
        quiet_out.trim()
    );
    println!(
        "tick, next working day: {next:.2} s, peak RSS {} MB: {}",
        next_kb / 1024,
        next_out.trim()
    );
    for (day, (s, kb, out)) in later {
        println!(
            "tick, {day}: {s:.2} s, peak RSS {} MB: {}",
            kb / 1024,
            out.trim()
        );
    }
    println!(
        "tick, 1 % due (a new officer for every hundredth partnership): {one:.2} s, peak RSS {} MB: {}",
        one_kb / 1024,
        one_out.trim()
    );
    println!(
        "tick --full, nothing new to send: {full:.2} s, peak RSS {} MB: {}",
        full_kb / 1024,
        full_out.trim()
    );
}
