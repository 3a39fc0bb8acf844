-- Calendar feeds: a person's subscription address carries `version`
-- signed in it; `iopd feed-revoke` raises it, so every older address stops
-- working. No row means version 0. The address is stored in lower case.
CREATE TABLE feed_tokens (
    email   TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
