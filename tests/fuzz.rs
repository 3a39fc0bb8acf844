//! Mutation fuzzing of the two files people write by hand: the register
//! spreadsheet (CSV) and the configuration (TOML). Inputs are mutated from
//! the seed corpus in `tests/fixtures/fuzz/` with proptest's generators; the
//! property is that every input gets an answer (accepted or a list of
//! problems) and never a panic, and that an accepted import holds only
//! clean, sendable values.
//!
//! In the suite each target runs 2 s. For a long run:
//! `IOPD_FUZZ_SECS=600 cargo test --test fuzz -- --nocapture`
//! prints the number of inputs tried and any crash with its input.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use iopd::domain::{CommitteeKey, Email, is_invisible};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("IOPD_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2),
    )
}

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(dir);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    seeds
}

/// Pieces that have broken parsers before: quotes, separators, line
/// breaks, invisible and bidi characters, formulas, encoded words, huge cells.
const TOKENS: &[&str] = &[
    "\"",
    ";",
    ",",
    "\r\n",
    "\n",
    "\r",
    "\u{200B}",
    "\u{202E}",
    "\u{FEFF}",
    "=HYPERLINK(\"x\")",
    "=?utf-8?q?Bcc=3A_x=40evil=2Eexample?=",
    "\"john doe\"@example.org",
    "1.5",
    "0",
    "-1",
    "99999999999h",
    "[",
    "]",
    "=",
    "#",
    "\\",
    "\u{0}",
    "2022-01-01 00:00",
    "1/1/2022",
    "ÅÄÖ",
    "\u{1F600}",
    "kbn",
    "Socialnämnden",
];

#[derive(Debug, Clone)]
enum Op {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Delete(usize, usize),
    DuplicateLine(usize),
    Long(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Op::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Op::Insert(i, v)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Op::Token(i, t)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Op::Delete(i, n)),
        any::<usize>().prop_map(Op::DuplicateLine),
        (any::<usize>(), 1usize..100_000).prop_map(|(i, n)| Op::Long(i, n)),
    ]
}

fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match op {
            Op::Flip(i, x) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= x;
            }
            Op::Flip(..) => {}
            Op::Insert(i, v) => {
                let i = at(*i, b.len());
                b.splice(i..i, v.iter().copied());
            }
            Op::Token(i, t) => {
                let i = at(*i, b.len());
                b.splice(i..i, TOKENS[*t].bytes());
            }
            Op::Delete(i, n) => {
                let i = at(*i, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Op::DuplicateLine(i) => {
                let lines: Vec<&[u8]> = b.split(|c| *c == b'\n').collect();
                let line = lines[i % lines.len()].to_vec();
                b.extend_from_slice(b"\n");
                b.extend_from_slice(&line);
            }
            Op::Long(i, n) => {
                let i = at(*i, b.len());
                b.splice(i..i, std::iter::repeat_n(b'x', *n));
            }
        }
    }
    b
}

/// Runs `check` on mutated seeds for the configured time; returns the count.
fn fuzz(name: &str, seeds: &[Vec<u8>], check: impl Fn(&[u8])) -> u64 {
    let strategy = (0..seeds.len(), proptest::collection::vec(op(), 1..6));
    let mut runner = TestRunner::default();
    let deadline = Instant::now() + seconds();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let (seed, ops) = strategy.new_tree(&mut runner).unwrap().current();
        let input = apply(&seeds[seed], &ops);
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let path = std::env::temp_dir().join(format!("iopd-fuzz-{name}-crash"));
            std::fs::write(&path, &input).unwrap();
            panic!(
                "{name}: a panic after {n} inputs; the input is in {}",
                path.display()
            );
        }
        n += 1;
    }
    println!("{name}: {n} inputs, 0 crashes");
    n
}

#[test]
fn fuzz_csv_import() {
    let committees = vec![
        (
            CommitteeKey::parse("kbn").unwrap(),
            "Kultur- och bildningsnämnden".to_string(),
        ),
        (
            CommitteeKey::parse("hsn").unwrap(),
            "Hälso- och sjukvårdsnämnden".to_string(),
        ),
    ];
    let resolve = iopd::import::committee_resolver(committees);
    let n = fuzz("import", &corpus("import"), |bytes| {
        match iopd::import::parse(bytes, &resolve) {
            Ok(parsed) => {
                for row in &parsed.rows {
                    let p = &row.partnership;
                    // Accepted values are clean and sendable.
                    assert!(!p.id.as_str().chars().any(is_invisible), "{:?}", p.id);
                    assert!(
                        !p.organisation
                            .chars()
                            .any(|c| c.is_control() || is_invisible(c))
                    );
                    assert!(p.officer.email.as_str().parse::<lettre::Address>().is_ok());
                    assert_eq!(
                        Email::parse(p.officer.email.as_str()).as_ref(),
                        Ok(&p.officer.email)
                    );
                }
            }
            Err(problems) => {
                assert!(!problems.is_empty());
                for p in problems {
                    // Messages stay readable however long the input was.
                    assert!(
                        p.to_string().chars().count() < 2_000,
                        "{}",
                        p.to_string().len()
                    );
                }
            }
        }
    });
    assert!(n > 0);
}

#[test]
fn fuzz_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iopd.toml");
    let n = fuzz("config", &corpus("config"), |bytes| {
        std::fs::write(&path, bytes).unwrap();
        if let Err(e) = iopd::config::Config::load_with_env(&path, false) {
            assert!(!e.problems.is_empty());
            for p in &e.problems {
                assert!(
                    p.to_string().chars().count() < 2_000,
                    "{}",
                    p.to_string().len()
                );
            }
        }
    });
    assert!(n > 0);
}
