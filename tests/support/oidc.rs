//! A real OpenID provider for the tests: `oidc-provider` (npm, OpenID
//! Certified) run by Node from `tests/browser/oidc-provider.mjs`, on
//! loopback over HTTPS with a certificate made here. Its users and groups
//! are in that script. The process ends with the value.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct IdProvider {
    child: Child,
    pub issuer: String,
    /// The certificate's PEM file, for `[auth] ca_file`.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl IdProvider {
    /// Starts the provider for a client whose return address is `redirect`.
    pub fn start(redirect: &str, post_logout: &str) -> IdProvider {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .expect("a test certificate");
        let ca_file = dir.path().join("provider.pem");
        let key_file = dir.path().join("provider-key.pem");
        std::fs::write(&ca_file, cert.cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("write the key");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = super::repo().join("tests/browser/oidc-provider.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .arg(&ca_file)
            .arg(&key_file)
            .arg(redirect)
            .arg(post_logout)
            .current_dir(super::repo().join("tests/browser"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (npm ci in tests/browser installs oidc-provider; .ci/run does it)");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("ready ") {
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let issuer = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                break line.trim_start_matches("ready ").to_string();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the OpenID provider stopped at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the OpenID provider did not start"
            );
        };
        IdProvider {
            child,
            issuer,
            ca_file,
            _dir: dir,
        }
    }

    /// The `[auth]` section for iopd at `base` (`http://ADDR`).
    pub fn auth_toml(&self, base: &str, secret_file: &std::path::Path) -> String {
        format!(
            "[auth]\nissuer = \"{}\"\nclient_id = \"iopd\"\nclient_secret_file = \"{}\"\n\
             redirect_url = \"{base}/arbetsyta/inloggad\"\nca_file = \"{}\"\n\
             coordinator_groups = [\"iop-samordning\"]\nofficer_groups = [\"handlaggare\"]\n\
             reader_groups = [\"revision\"]\n",
            self.issuer,
            super::path_str(secret_file),
            super::path_str(&self.ca_file)
        )
    }
}

impl Drop for IdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
