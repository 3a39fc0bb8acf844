//! Shared helpers so each integration test reads like a scenario: a
//! configuration in a temporary directory, a real SQLite file or a real
//! PostgreSQL database, and the real `iopd` binary.
#![allow(dead_code)]

pub mod entra;
pub mod mail;
pub mod oidc;
pub mod oidc_mock;
pub mod pg;
pub mod proxy;
pub mod smtp;
pub mod year;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_config() -> PathBuf {
    repo().join("config/iopd.example.toml")
}

pub fn example_csv() -> PathBuf {
    repo().join("config/example-partnerships.csv")
}

/// A runtime for tests that call the library directly: two workers, so
/// spawned tasks run at the same time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}

/// One test's world: a temporary directory with a configuration and a database.
pub struct World {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db_url: String,
    pub backend: Backend,
    /// Extra `IOPD__…` overrides for every command.
    pub env: Vec<(String, String)>,
}

impl World {
    /// The example configuration with the database pointed at `backend`.
    pub fn new(backend: Backend) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("iopd.toml");
        std::fs::copy(example_config(), &config).expect("copy the example config");
        let db_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("iopd.db").display()),
            Backend::Postgres => pg::fresh_database(),
        };
        // The tests' world has tracked since 2026-01-01 (the example leaves
        // the key out, so a new installation tracks from its first day).
        World {
            dir,
            config,
            db_url,
            backend,
            env: vec![(
                "IOPD__POLICY__TRACKING_START".to_string(),
                "2026-01-01".to_string(),
            )],
        }
    }

    /// The example configuration, mail to the test SMTP server on
    /// `smtp_port`, and the register `csv` imported on 2026-04-01.
    pub fn with_register(backend: Backend, smtp_port: u16, csv: &str) -> World {
        let mut w = World::new(backend);
        w.use_smtp(smtp_port);
        let file = w.write("register.csv", csv);
        w.ok(&["import", path_str(&file), "--now", "2026-04-01"]);
        w
    }

    /// The same world with another configuration text.
    pub fn with_config(backend: Backend, toml: &str) -> World {
        let w = World::new(backend);
        std::fs::write(&w.config, toml).expect("write config");
        w
    }

    /// The world's database opened through the library (migrated, as a
    /// command opens it), with room for eight connections at once.
    pub async fn store(&self) -> iopd::store::Store {
        let db = iopd::config::Database {
            url: iopd::config::Secret::new(self.db_url.clone()),
            password: None,
            max_connections: 8,
        };
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date");
        iopd::store::Store::open(&db, today)
            .await
            .expect("open the store")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write file");
        p
    }

    /// `iopd --config … ARGS` with the database URL given through the
    /// environment (`IOPD__DATABASE__URL`), as a deployment would.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iopd"));
        c.arg("--config").arg(&self.config).args(args);
        c.env("IOPD__DATABASE__URL", &self.db_url);
        c.env_remove("IOPD_CONFIG");
        c.env("USER", "testare");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run iopd"))
    }

    /// Runs and asserts exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "iopd {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            self.backend, r.stdout, r.stderr
        );
        r
    }

    /// Runs and asserts exit 1 (refused input).
    pub fn refused(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, 1,
            "iopd {args:?} should be refused ({:?}):\nstdout:\n{}\nstderr:\n{}",
            self.backend, r.stdout, r.stderr
        );
        r
    }

    /// Mail goes to the test SMTP server on `port` (plain text on loopback).
    pub fn use_smtp(&mut self, port: u16) {
        for (k, v) in [
            ("IOPD__MAIL__TRANSPORT", "smtp".to_string()),
            ("IOPD__MAIL__SMTP__HOST", "127.0.0.1".to_string()),
            ("IOPD__MAIL__SMTP__PORT", port.to_string()),
            ("IOPD__MAIL__SMTP__TLS", "none".to_string()),
            ("IOPD__MAIL__SMTP__TIMEOUT_SECS", "2".to_string()),
        ] {
            self.env.push((k.to_string(), v));
        }
    }

    /// Runs one SQL statement on the world's database, as another process
    /// (an older version, another replica) would have written it.
    pub fn sql(&self, statement: &str) {
        let statement = statement.to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            // sqlx wants the statement for 'static on this path.
            let q: &'static str = Box::leak(statement.into_boxed_str());
            match self.backend {
                Backend::Sqlite => {
                    let mut c = sqlx::SqliteConnection::connect(&self.db_url)
                        .await
                        .expect("connect");
                    sqlx::query(q).execute(&mut c).await.expect("statement");
                }
                Backend::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&self.db_url)
                        .await
                        .expect("connect");
                    sqlx::query(q).execute(&mut c).await.expect("statement");
                }
            }
        });
    }

    pub fn import_example(&self) {
        let csv = example_csv();
        self.ok(&[
            "import",
            csv.to_str().expect("utf-8 path"),
            "--now",
            "2026-09-01",
        ]);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a Python 3 script (an independent reader of CSV, JSON …) with
/// `args`; its standard output.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
