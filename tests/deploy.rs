//! The systemd unit stays hardened: `systemd-analyze security` must rate it
//! at an exposure of 2.0 or less (the scale runs from 0, locked down, to 10).

use std::process::Command;

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_2() {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/iopd.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", unit])
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed; .ci/run installs it");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for iopd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
    let unit_text = std::fs::read_to_string(unit).unwrap();
    for must in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=iopd",
        "LoadCredential=",
    ] {
        assert!(unit_text.contains(must), "the unit lacks {must}");
    }
}

/// One `sudo install` line of the README that puts something under /etc/iopd.
struct Install {
    mode: u32,
    dir: bool,
    /// Source file (relative to the repository) for files.
    src: Option<String>,
    dest: String,
}

fn readme_installs() -> Vec<Install> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    for line in readme.lines() {
        let line = line.split('#').next().unwrap();
        let Some(rest) = line.trim().strip_prefix("sudo install ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let dir = words.contains(&"-d");
        let mode_at = words
            .iter()
            .position(|w| *w == "-m")
            .expect("install without -m");
        let mode = u32::from_str_radix(words[mode_at + 1], 8).unwrap();
        let paths: Vec<&str> = words[mode_at + 2..].to_vec();
        if dir {
            for p in paths.iter().filter(|p| p.starts_with("/etc/iopd")) {
                out.push(Install {
                    mode,
                    dir,
                    src: None,
                    dest: p.to_string(),
                });
            }
        } else if let [src, dest] = paths[..]
            && (dest.starts_with("/etc/iopd") || dest == "/usr/bin/iopd")
        {
            out.push(Install {
                mode,
                dir,
                src: Some(src.to_string()),
                dest: dest.to_string(),
            });
        }
    }
    out
}

/// The mode the Debian package gives a file, from Cargo.toml's assets.
fn package_mode(dest: &str) -> u32 {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let needle = format!("\"{}\"", dest.trim_start_matches('/'));
    let line = manifest
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("the package ships no {dest}"));
    let mode = line.rsplit('"').nth(1).unwrap();
    u32::from_str_radix(mode, 8).unwrap()
}

fn chown(path: &std::path::Path, user: &str) {
    let ok = Command::new("chown").arg(user).arg(path).status().unwrap();
    assert!(ok.success(), "chown {user} {}", path.display());
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The service as the README installs it (modes and owners) runs as a user
/// that is neither root nor in root's group, as `DynamicUser=yes` does: it
/// must read its configuration and credentials and reach READY.
#[test]
fn the_installed_service_reads_its_configuration_as_an_unprivileged_user() {
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, Instant};

    let installs = readme_installs();
    let conf = installs
        .iter()
        .find(|i| i.dest == "/etc/iopd/iopd.toml")
        .expect("the README installs /etc/iopd/iopd.toml");
    assert_eq!(
        conf.mode,
        package_mode("/etc/iopd/iopd.toml"),
        "the README and the Debian package give iopd.toml different modes"
    );
    // dpkg creates directories 0755; the README must not be stricter.
    let etc = installs
        .iter()
        .find(|i| i.dir && i.dest == "/etc/iopd")
        .expect("install -d /etc/iopd");
    assert_eq!(etc.mode, 0o755, "/etc/iopd");

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    set_mode(root, 0o755);
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    for i in &installs {
        let dest = at(&i.dest);
        std::fs::create_dir_all(if i.dir { &dest } else { dest.parent().unwrap() }).unwrap();
        if let Some(src) = &i.src {
            let from = if src.starts_with("target/") {
                std::path::PathBuf::from(env!("CARGO_BIN_EXE_iopd"))
            } else {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(src)
            };
            std::fs::copy(from, &dest).unwrap();
        }
        set_mode(&dest, i.mode);
    }
    for d in ["usr", "usr/bin", "etc"] {
        set_mode(&at(d), 0o755);
    }
    // What systemd makes: the state directory owned by the service's user,
    // and the credentials readable by it only.
    let state = at("/var/lib/iopd");
    std::fs::create_dir_all(&state).unwrap();
    set_mode(&at("/var"), 0o755);
    set_mode(&at("/var/lib"), 0o755);
    chown(&state, "nobody");
    set_mode(&state, 0o700);
    let creds = at("/run/credentials/iopd.service");
    std::fs::create_dir_all(&creds).unwrap();
    for d in ["/run", "/run/credentials"] {
        set_mode(&at(d), 0o755);
    }
    std::fs::write(
        creds.join("link-secret"),
        "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n",
    )
    .unwrap();
    chown(&creds.join("link-secret"), "nobody");
    set_mode(&creds.join("link-secret"), 0o400);
    chown(&creds, "nobody");
    set_mode(&creds, 0o500);

    // The unit's command line and environment, with its paths moved under `root`.
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/iopd.service"))
        .unwrap();
    let relocate = |s: &str| {
        s.replace("/usr/bin/", &format!("{}/", at("/usr/bin").display()))
            .replace("/etc/iopd", &at("/etc/iopd").display().to_string())
            .replace("/var/lib/iopd", &state.display().to_string())
    };
    let exec: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .map(|l| relocate(l).split_whitespace().map(String::from).collect())
        .expect("ExecStart");
    let env: Vec<(String, String)> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), relocate(v))
        })
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "IOPD__DATABASE__URL"),
        "the unit sets the database"
    );
    let web_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let notify_path = root.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    set_mode(&notify_path, 0o777);
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let as_service = |args: &[&str]| {
        let mut cmd = Command::new("runuser");
        cmd.args([
            "-u",
            "nobody",
            "--",
            "sh",
            "-c",
            "umask 077 && exec \"$@\"",
            "sh",
        ]);
        cmd.args(&exec[..exec.len() - 1]).args(args);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CREDENTIALS_DIRECTORY", &creds)
            .env("IOPD__WEB__LISTEN", format!("127.0.0.1:{web_port}"))
            .env(
                "IOPD__WEB__PUBLIC_URL",
                format!("http://localhost:{web_port}"),
            )
            .env("IOPD__WEB__LINK_SECRET_FILE", creds.join("link-secret"))
            .env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&state);
        cmd
    };
    assert_eq!(
        exec.last().map(String::as_str),
        Some("run"),
        "ExecStart ends with run"
    );

    let out = as_service(&["check-config"]).output().unwrap();
    assert!(
        out.status.success(),
        "check-config as the service's user:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let log = root.join("run.log");
    let mut child = as_service(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    let mut ready = false;
    while Instant::now() < deadline && !ready {
        if let Ok(n) = notify.recv(&mut buf) {
            ready = String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1");
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "iopd run exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
    }
    // SIGTERM to iopd itself (runuser's child), as systemd's stop would send it.
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        ready,
        "no READY=1 from iopd run as the service's user:\n{text}"
    );
    assert!(status.success(), "iopd run stopped with {status}:\n{text}");
    assert!(
        state.join("iopd.db").exists(),
        "the database is in the state directory"
    );
}
