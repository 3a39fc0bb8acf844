//! A throw-away PostgreSQL server for the tests: `initdb` into a temporary
//! directory, started on a free port. PostgreSQL refuses to run as root, so
//! when the tests run as root the server runs as the `postgres` user through
//! `runuser`. One server per test binary; each test gets its own database.
//! A watcher stops the server and removes its directory when the test
//! process exits, so nothing is left running.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct PgServer {
    pub port: u16,
}

fn bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("IOPD_TEST_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    // Debian keeps the server binaries outside PATH, one folder per version.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql) or IOPD_TEST_PG_BINDIR")
    })
}

fn is_root() -> bool {
    // SAFETY-free check: root's home or uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs `program args` as the `postgres` user when we are root.
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn start() -> PgServer {
    let bin = bindir();
    let base = std::env::temp_dir().join(format!("iopd-pg-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&base).expect("create the PostgreSQL directory");
    if is_root() {
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&base)
            .status()
            .map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "chown postgres {}", base.display());
    }
    let data = base.join("data");
    let out = as_pg_user(&bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
            "-D",
        ])
        .arg(&data)
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let parent = std::process::id();
    // The watcher: start postgres, then stop it once the test process is gone.
    let script = format!(
        "{postgres} -D {data} -p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 >{base}/log 2>&1 & \
         pg=$!; while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT $pg 2>/dev/null; wait $pg; rm -rf {base}",
        postgres = bin.join("postgres").display(),
        data = data.display(),
        base = base.display(),
    );
    // The watcher outlives this process on purpose: it stops the server after we exit.
    #[allow(clippy::zombie_processes)]
    let _watcher = as_pg_user(Path::new("/bin/sh"))
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start; see {}/log",
            base.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Accepting TCP is not yet accepting queries: wait for a real answer.
    loop {
        let ok = Command::new(bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAtc",
                "SELECT 1",
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL does not answer; see {}/log",
            base.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    PgServer { port }
}

pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(start)
}

/// A new, empty database on the shared server; returns its URL.
pub fn fresh_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let s = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new(bindir().join("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAtc",
        ])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://postgres@127.0.0.1:{}/{name}", s.port)
}
