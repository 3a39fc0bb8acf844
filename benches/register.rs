//! The register and `iopd plan` at 100 000 partnerships, on SQLite and on a
//! throw-away PostgreSQL server, through the real binary:
//! - import of a 100 000-row CSV (issue target < 10 s per backend);
//! - `iopd partnerships --format json` (target < 1 s);
//! - `iopd plan --days 365 --format json` against a plain query reading the
//!   same rows (target ratio ≤ 2).
//!
//! Run: `cargo bench --bench register` (IOPD_BENCH_PARTNERSHIPS to scale).

#[path = "common.rs"]
mod common;
#[path = "../tests/support/pg.rs"]
mod pg;

use common::{config, iopd, median};

use std::time::Instant;

/// Every column `plan` reads, with no work on the values: the floor.
type PartnershipRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);
type PartnershipRest = (
    chrono::NaiveDate,
    Option<chrono::NaiveDate>,
    Option<i64>,
    Option<i32>,
    Option<i32>,
    String,
);
type EventRow = (i64, String, chrono::NaiveDate, String, String, String);

macro_rules! read_all {
    ($conn:expr) => {{
        let p: Vec<PartnershipRow> = sqlx::query_as(
            "SELECT id, organisation, committee, officer_name, officer_email, deputy_email, partner_email FROM partnerships ORDER BY id",
        )
        .fetch_all(&mut $conn)
        .await
        .expect("read");
        let q: Vec<PartnershipRest> = sqlx::query_as(
            "SELECT start_date, end_date, annual_amount_ore, checkins_per_year, notice_months, notes FROM partnerships ORDER BY id",
        )
        .fetch_all(&mut $conn)
        .await
        .expect("read");
        let e: Vec<EventRow> = sqlx::query_as(
            "SELECT id, partnership_id, occurred_on, data, recorded_by, channel FROM events ORDER BY partnership_id, id",
        )
        .fetch_all(&mut $conn)
        .await
        .expect("read");
        std::hint::black_box((p.len(), q.len(), e.len()));
    }};
}

async fn plain_read(url: &str) -> f64 {
    use sqlx::Connection;
    let t = Instant::now();
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        read_all!(c);
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        read_all!(c);
    }
    t.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("IOPD_BENCH_PARTNERSHIPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let ns = n.to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    let csv = dir.path().join("big.csv");
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    iopd(
        &cfg,
        &sqlite("gen.db"),
        &[
            "synth",
            "--partnerships",
            &ns,
            "--csv",
            csv.to_str().expect("path"),
            "--now",
            "2026-11-01",
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    println!(
        "| backend | import {n} rows | partnerships --format json | plan --days 365 --format json | plain read | plan / plain |"
    );
    println!("|---|---|---|---|---|---|");
    for backend in ["sqlite", "postgres"] {
        let fresh = |i: usize| {
            if backend == "sqlite" {
                sqlite(&format!("import{i}.db"))
            } else {
                pg::fresh_database()
            }
        };
        let csv_s = csv.to_str().expect("path");
        let mut imports = Vec::new();
        let mut last = String::new();
        for i in 0..3 {
            let db = fresh(i);
            iopd(&cfg, &db, &["migrate", "--now", "2026-11-01"]);
            imports.push(iopd(&cfg, &db, &["import", csv_s, "--now", "2026-11-01"]));
            last = db;
        }
        let lists: Vec<f64> = (0..3)
            .map(|_| iopd(&cfg, &last, &["partnerships", "--format", "json"]))
            .collect();

        let db = fresh(9);
        iopd(
            &cfg,
            &db,
            &[
                "synth",
                "--partnerships",
                &ns,
                "--events-per-partnership",
                "20",
                "--now",
                "2026-11-01",
            ],
        );
        let plans: Vec<f64> = (0..3)
            .map(|_| {
                iopd(
                    &cfg,
                    &db,
                    &[
                        "plan",
                        "--days",
                        "365",
                        "--format",
                        "json",
                        "--now",
                        "2026-11-01T09:00",
                    ],
                )
            })
            .collect();
        let plains: Vec<f64> = (0..3).map(|_| rt.block_on(plain_read(&db))).collect();
        let (imp, list, plan, plain) = (
            median(imports),
            median(lists),
            median(plans),
            median(plains),
        );
        println!(
            "| {backend} | {imp:.2} s | {list:.2} s | {plan:.2} s | {plain:.2} s | {:.2} |",
            plan / plain
        );
    }
}
