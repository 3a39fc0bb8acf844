-- The coordinator's workspace behind a sign-in.
--
-- A session is known by the SHA-256 of its cookie value (the value itself is
-- never stored); `csrf` is the anti-forgery token of its forms. Times are
-- unix seconds. A session ends at logout, after `[auth] idle_minutes`
-- without a request, or `absolute_hours` after sign-in.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    via        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);

-- One-time sign-in links (`iopd admin-link`, for bodies without an identity
-- provider, or when it is down): the SHA-256 of the token, used once, valid
-- for 15 minutes.
CREATE TABLE signin_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Sign-ins under way with the body's OpenID Connect provider, keyed by the
-- SHA-256 of the `state` sent to it: the nonce the ID token must carry, the
-- PKCE verifier, the SHA-256 of the browser's sign-in cookie (the answer is
-- taken only from the browser that asked) and where to go afterwards. Each
-- is used once and lives 10 minutes.
CREATE TABLE login_attempts (
    state_hash    TEXT PRIMARY KEY NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- The workspace's list filters by an officer's or deputy's address, case-insensitively.
CREATE INDEX partnerships_officer_lower ON partnerships (LOWER(officer_email));
CREATE INDEX partnerships_deputy_lower ON partnerships (LOWER(deputy_email));
