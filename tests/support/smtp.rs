//! A real SMTP server on 127.0.0.1 for the tests, with faults on demand.
//!
//! The protocol is the `mailin` crate's session state machine (the engine of
//! `mailin-embedded`); the TCP side is written here because the faults need it:
//! `mailin-embedded`'s `serve()` never returns and keeps its listener, so it can
//! neither go down and come back on the same port nor stop answering.
//!
//! TLS (implicit, or STARTTLS on the same socket) is rustls over the blocking
//! socket, with a self-signed certificate for 127.0.0.1 and `localhost` made by
//! `rcgen`; AUTH is mailin's (PLAIN and LOGIN, offered only once TLS is on), and XOAUTH2
//! (which mailin does not know) is answered here: `user=…\x01auth=Bearer …\x01\x01`
//! decoded and the token checked by the test's validator, `535 5.7.3` as Exchange answers
//! a token it does not take.
//!
//! One thread accepts connections, one thread serves each. Nothing here sleeps
//! to wait for the server: `start`/`up` return once the port accepts, and
//! `wait_for` polls.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder, response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How the server answers from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 250 to everything; mail is recorded.
    Accept,
    /// `450` to every RCPT TO.
    TempFail,
    /// `550` to every RCPT TO.
    PermFail,
    /// Connections are accepted but get no answer at all, not even the greeting;
    /// open sessions stop answering too.
    Stall,
    /// Answers everything until the end of DATA, then holds the final answer
    /// until the mode changes (the mail is recorded then, as a real server
    /// would accept it after the client gave up).
    StallData,
    /// `535` to every AUTH, whatever the credentials.
    AuthReject,
    /// `530` to MAIL FROM in a session that did not authenticate, as a server
    /// that requires AUTH answers a client that sent none.
    AuthRequired,
}

/// A self-signed certificate for `localhost` and 127.0.0.1.
#[derive(Clone)]
pub struct TestCert {
    /// The certificate in PEM, for a client's `ca_file`.
    pub pem: String,
    config: Arc<ServerConfig>,
}

impl TestCert {
    /// The rustls server side, for the HTTPS test servers.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    pub fn localhost() -> TestCert {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("generate a test certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
        // The provider is named: the dependency tree may enable more than one.
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("server certificate");
        TestCert {
            pem: cert.cert.pem(),
            config: Arc::new(config),
        }
    }
}

/// How the server secures a connection.
#[derive(Clone, Default)]
pub enum ServerTls {
    /// Plain text throughout.
    #[default]
    None,
    /// TLS from the first byte (port 465 style): the greeting is sent encrypted.
    Implicit(TestCert),
    /// Plain greeting, STARTTLS offered in EHLO, the same socket upgraded.
    Starttls(TestCert),
}

/// Decides whether an XOAUTH2 (user, token) pair signs in.
pub type TokenCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

#[derive(Clone, Default)]
pub struct Options {
    pub tls: ServerTls,
    /// The one username and password AUTH accepts; `None`: AUTH is not offered.
    pub auth: Option<(String, String)>,
    /// AUTH XOAUTH2 is offered and its tokens checked by this.
    pub xoauth2: Option<TokenCheck>,
}

/// One mail as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed, without the final `.`.
    pub data: Vec<u8>,
    /// Whether the session was encrypted when MAIL FROM came.
    pub tls: bool,
    /// The user the session authenticated as before MAIL FROM.
    pub user: Option<String>,
}

struct Shared {
    options: Options,
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
    /// TCP connections accepted so far.
    connections: AtomicUsize,
    /// Mails whose final answer is being held (`Mode::StallData`).
    held: AtomicUsize,
    /// Raised by `down` (and drop); sessions of an older epoch end.
    epoch: AtomicU64,
    listening: AtomicBool,
    /// Open sessions, so `down` can cut them like a crashing server.
    live: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
    /// Addresses refused with 550 at RCPT TO, whatever the mode.
    refused: Mutex<Vec<String>>,
    /// Every AUTH XOAUTH2: (user, token, accepted).
    xoauth2: Mutex<Vec<(String, String, bool)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn mode(&self) -> Mode {
        *lock(&self.mode)
    }
    fn gone(&self, epoch: u64) -> bool {
        self.epoch.load(Ordering::SeqCst) != epoch
    }
    /// Blocks while `held` says so, polling; false if the server went down meanwhile.
    fn hold_while(&self, epoch: u64, held: impl Fn(Mode) -> bool) -> bool {
        while held(self.mode()) {
            if self.gone(epoch) {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        !self.gone(epoch)
    }
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl SmtpServer {
    /// A server on a free port that accepts everything.
    pub fn start() -> SmtpServer {
        Self::start_with(Options::default())
    }

    /// A server with TLS and AUTH as `options` say.
    pub fn start_with(options: Options) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an SMTP test port");
        let port = listener.local_addr().expect("local address").port();
        let mut server = SmtpServer {
            port,
            shared: Arc::new(Shared {
                options,
                mode: Mutex::new(Mode::Accept),
                received: Mutex::new(Vec::new()),
                connections: AtomicUsize::new(0),
                held: AtomicUsize::new(0),
                epoch: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                live: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                refused: Mutex::new(Vec::new()),
                xoauth2: Mutex::new(Vec::new()),
            }),
            acceptor: None,
        };
        server.listen(listener);
        server
    }

    /// From now on `address` is refused with 550 at RCPT TO; others are not.
    pub fn refuse(&self, address: &str) {
        lock(&self.shared.refused).push(address.to_string());
    }

    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// What arrived so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Polls until `n` mails have arrived or `timeout` passed; returns what arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Mails that reached the end of DATA while the answer was held.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Every AUTH XOAUTH2 so far: (user, token, accepted).
    pub fn xoauth2_attempts(&self) -> Vec<(String, String, bool)> {
        lock(&self.shared.xoauth2).clone()
    }

    /// TCP connections accepted so far (pooling reuses them).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The server crashes: the port is closed (connecting is refused) and every
    /// open session is cut.
    pub fn down(&mut self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().expect("SMTP acceptor thread");
        }
        for (_, stream) in lock(&self.shared.live).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The server comes back on the same port, with what it received before.
    pub fn up(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        // std sets SO_REUSEADDR, so the port is free again at once; retry only in case
        // another process grabbed it in between.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding SMTP test port {}: {e}", self.port);
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on SMTP test port {} again: {e}", self.port),
            }
        };
        self.listen(listener);
    }

    fn listen(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::clone(&self.shared);
        let epoch = shared.epoch.load(Ordering::SeqCst);
        shared.listening.store(false, Ordering::SeqCst);
        self.acceptor = Some(thread::spawn(move || accept_loop(listener, shared, epoch)));
        // Ready once the acceptor runs; the socket already accepts (the kernel queues
        // connections), so this only guards against a thread that failed to start.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.shared.listening.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "SMTP acceptor did not start");
            thread::yield_now();
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, epoch: u64) {
    shared.listening.store(true, Ordering::SeqCst);
    while !shared.gone(epoch) {
        match listener.accept() {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(stream, shared, epoch));
            }
            // Non-blocking: nothing waiting; look at the epoch again shortly.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => eprintln!("SMTP test server: accept failed: {e}"),
        }
    }
    // The listener is dropped here: the port refuses connections from now on.
}

/// A connection before or after TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    fn tls(tcp: TcpStream, cert: &TestCert) -> std::io::Result<Conn> {
        let conn =
            ServerConnection::new(Arc::clone(&cert.config)).map_err(std::io::Error::other)?;
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn serve(stream: TcpStream, shared: Arc<Shared>, epoch: u64) {
    let _ = stream.set_nonblocking(false);
    // No TCP_NODELAY or TCP_QUICKACK here: the server behaves as real ones do, so a
    // client that makes it wait for delayed ACKs shows in the tests and the benchmark.
    // Each answer goes out in one write.
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (Ok(tcp), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    lock(&shared.live).insert(id, registered);
    if shared.gone(epoch) {
        // `down` ran between accept and registration.
        let _ = stream.shutdown(Shutdown::Both);
    }
    let peer = stream
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let secure = Arc::new(AtomicBool::new(false));
    let handler = Recorder {
        shared: Arc::clone(&shared),
        epoch,
        secure: Arc::clone(&secure),
        user: None,
        mail_tls: false,
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut builder = SessionBuilder::new("iopd-test-smtp");
    if let ServerTls::Starttls(_) = shared.options.tls {
        builder.enable_start_tls();
    }
    if shared.options.auth.is_some() || shared.options.xoauth2.is_some() {
        builder
            .enable_auth(AuthMechanism::Plain)
            .enable_auth(AuthMechanism::Login);
    }
    let mut session = builder.build(peer, handler);
    let conn = match &shared.options.tls {
        ServerTls::Implicit(cert) => {
            // mailin offers AUTH only on an encrypted session.
            session.tls_active();
            secure.store(true, Ordering::SeqCst);
            Conn::tls(stream, cert)
        }
        _ => Ok(Conn::Plain(stream)),
    };
    let Ok(conn) = conn else {
        let _ = tcp.shutdown(Shutdown::Both);
        lock(&shared.live).remove(&id);
        return;
    };
    let mut conn = BufReader::new(conn);
    let answer = |c: &mut BufReader<Conn>, res: &Response| {
        // `Stall`: the server stops answering (it still holds the connection).
        let mut buf = Vec::with_capacity(128);
        let written =
            shared.hold_while(epoch, |m| m == Mode::Stall) && res.write_to(&mut buf).is_ok();
        if shared.options.xoauth2.is_some() {
            // mailin's EHLO lists its own mechanisms only.
            buf = replace_bytes(
                &buf,
                b"AUTH PLAIN LOGIN\r\n",
                b"AUTH PLAIN LOGIN XOAUTH2\r\n",
            );
        }
        written && c.get_mut().write_all(&buf).is_ok() && c.get_mut().flush().is_ok()
    };
    // With implicit TLS the handshake runs inside this first write.
    if answer(&mut conn, &session.greeting()) {
        let mut line = Vec::with_capacity(128);
        loop {
            line.clear();
            match conn.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let res = match xoauth2(&shared, &line) {
                Some(XOAuth2::Refuse(res)) => res,
                // mailin's state machine is told of the sign-in as AUTH PLAIN, which
                // `Recorder::check` accepts through the same validator.
                Some(XOAuth2::Accept(plain)) => session.process(plain.as_bytes()),
                None => session.process(&line),
            };
            let go_on = match res.action {
                Action::Reply => answer(&mut conn, &res),
                Action::NoReply => true,
                Action::Close => {
                    answer(&mut conn, &res);
                    if let Conn::Tls(s) = conn.get_mut() {
                        s.conn.send_close_notify();
                        let _ = s.flush();
                    }
                    false
                }
                Action::UpgradeTls => {
                    // Anything the client sent after STARTTLS is dropped with the
                    // buffer: commands pipelined past it must not count as encrypted
                    // (RFC 3207, section 4.2; the STARTTLS injection bugs).
                    let upgraded = match (answer(&mut conn, &res), &shared.options.tls) {
                        (true, ServerTls::Starttls(cert)) => match conn.into_inner() {
                            Conn::Plain(s) => Conn::tls(s, cert).ok(),
                            Conn::Tls(_) => None,
                        },
                        _ => None,
                    };
                    match upgraded {
                        Some(c) => {
                            conn = BufReader::new(c);
                            session.tls_active();
                            secure.store(true, Ordering::SeqCst);
                            true
                        }
                        None => break,
                    }
                }
            };
            if !go_on {
                break;
            }
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
    lock(&shared.live).remove(&id);
}

enum XOAuth2 {
    Refuse(Response),
    /// The same sign-in as an `AUTH PLAIN` line.
    Accept(String),
}

/// `AUTH XOAUTH2 <base64>`, checked; `None` for any other line.
fn xoauth2(shared: &Shared, line: &[u8]) -> Option<XOAuth2> {
    use base64::Engine;
    let check = shared.options.xoauth2.as_ref()?;
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let (verb, arg) = text.split_once(' ')?;
    let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
    if !verb.eq_ignore_ascii_case("AUTH") || !mechanism.eq_ignore_ascii_case("XOAUTH2") {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let decoded = b64
        .decode(initial.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok());
    let parsed = decoded.as_deref().and_then(|d| {
        let rest = d.strip_prefix("user=")?;
        let (user, rest) = rest.split_once('\x01')?;
        let token = rest
            .strip_prefix("auth=Bearer ")?
            .strip_suffix("\x01\x01")?;
        Some((user.to_string(), token.to_string()))
    });
    let Some((user, token)) = parsed else {
        return Some(XOAuth2::Refuse(Response::custom(
            501,
            "5.5.2 Cannot decode the XOAUTH2 response".to_string(),
        )));
    };
    let accepted = shared.mode() != Mode::AuthReject && check(&user, &token);
    lock(&shared.xoauth2).push((user.clone(), token.clone(), accepted));
    Some(if accepted {
        XOAuth2::Accept(format!(
            "AUTH PLAIN {}\r\n",
            b64.encode(format!("\0{user}\0{token}"))
        ))
    } else {
        XOAuth2::Refuse(Response::custom(
            535,
            "5.7.3 Authentication unsuccessful [test server]".to_string(),
        ))
    })
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    match haystack.windows(from.len()).position(|w| w == from) {
        Some(i) => [&haystack[..i], to, &haystack[i + from.len()..]].concat(),
        None => haystack.to_vec(),
    }
}

/// The per-connection `mailin` handler: answers by the current mode and records mail.
struct Recorder {
    shared: Arc<Shared>,
    epoch: u64,
    /// Set by `serve` once the connection is encrypted.
    secure: Arc<AtomicBool>,
    /// Who authenticated in this session.
    user: Option<String>,
    /// Whether the session was encrypted at this mail's MAIL FROM.
    mail_tls: bool,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Recorder {
    fn check(&mut self, user: &str, password: &str) -> Response {
        let matches = self
            .shared
            .options
            .auth
            .as_ref()
            .is_some_and(|(u, p)| u == user && p == password)
            || self
                .shared
                .options
                .xoauth2
                .as_ref()
                .is_some_and(|check| check(user, password));
        if matches && self.shared.mode() != Mode::AuthReject {
            self.user = Some(user.to_string());
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        if self.shared.mode() == Mode::AuthRequired && self.user.is_none() {
            return response::AUTHENTICATION_REQUIRED;
        }
        self.mail_tls = self.secure.load(Ordering::SeqCst);
        self.from = from.to_string();
        self.to.clear();
        self.data.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if lock(&self.shared.refused).iter().any(|r| r == to) {
            return Response::custom(550, "5.1.1 No such mailbox here".to_string());
        }
        match self.shared.mode() {
            Mode::TempFail => Response::custom(450, "4.2.1 Mailbox busy, try later".to_string()),
            Mode::PermFail => Response::custom(550, "5.1.1 No such mailbox here".to_string()),
            _ => {
                self.to.push(to.to_string());
                response::OK
            }
        }
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if self.shared.mode() == Mode::StallData {
            self.shared.held.fetch_add(1, Ordering::SeqCst);
        }
        if !self.shared.hold_while(self.epoch, |m| m == Mode::StallData) {
            return response::NO_SERVICE;
        }
        lock(&self.shared.received).push(Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
            tls: self.mail_tls,
            user: self.user.clone(),
        });
        response::OK
    }

    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        self.check(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check(username, password)
    }
}
