-- rocketlite schema 10: users (their lookup keys and roles), login and personal access
-- tokens, avatars and preferences.

-- Names and e-mails are unique as Go's strings.ToLower folds them (the bbolt store's
-- indexes): PostgreSQL's lower() follows the database's locale (ASCII only under C), so the
-- keys are computed by the store and kept in columns beside the names.
DROP INDEX users_username;
DROP INDEX users_email;
ALTER TABLE users
    ADD COLUMN username_key text NOT NULL DEFAULT '',
    ADD COLUMN email_key text NOT NULL DEFAULT '',
    -- the global roles, for the last-admin check (count of active admins)
    ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key) WHERE email_key <> '';
-- Users() pages in id order, byte-wise as bbolt's keys, whatever the database's collation.
CREATE INDEX users_id_bytes ON users (id COLLATE "C");
CREATE INDEX users_admins ON users (id) WHERE active AND 'admin' = ANY (roles);

-- Login tokens: only the SHA-256 of a token is stored. issued and expires are Unix
-- nanoseconds (a personal access token expires at the largest, 2^63-1: never).
CREATE TABLE tokens (
    hash    bytea PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued  bigint NOT NULL,
    expires bigint NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id, hash);
CREATE INDEX tokens_expires ON tokens (expires, hash);

-- Personal access tokens: the name of a token of the tokens table. The row outlives its
-- token (a password change revokes every token): it is live only while the token exists.
CREATE TABLE personal_tokens (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    text NOT NULL,
    hash    bytea NOT NULL,
    doc     json NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE avatars (
    user_id      text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    content_type text NOT NULL,
    data         bytea NOT NULL,
    etag         text NOT NULL
);

-- Preferences: the JSON object as the store wrote it.
CREATE TABLE preferences (
    user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    doc     json NOT NULL
);
