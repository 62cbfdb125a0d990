-- rocketlite schema 1: the records every domain shares. Each record is kept whole as the
-- JSON the bbolt store writes (doc, type json, so it is stored as written); the other
-- columns are what indexes and queries need, and a write keeps them in step with doc.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE users (
    id         text PRIMARY KEY,
    username   text NOT NULL,
    email      text NOT NULL DEFAULT '',
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    doc        json NOT NULL
);
-- user names and e-mails are unique case-insensitively
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email <> '';
CREATE INDEX users_created ON users (created_at, id);

CREATE TABLE rooms (
    id         text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    type       text NOT NULL,
    creator_id text NOT NULL DEFAULT '',
    msgs       bigint NOT NULL DEFAULT 0,
    -- seq is the room's last message sequence number, taken (row locked) in the send
    -- transaction: messages' (room_id, seq) follow the commit order of the room's sends
    seq        bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    doc        json NOT NULL
);
CREATE UNIQUE INDEX rooms_name ON rooms (lower(name)) WHERE name <> '';
CREATE INDEX rooms_creator ON rooms (creator_id);
-- publicRooms / channels.list order: most messages first, ties by name
CREATE INDEX rooms_public_rank ON rooms (msgs DESC, name, id) WHERE type = 'c';

CREATE TABLE members (
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    doc     json NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_user ON members (user_id, room_id);

CREATE TABLE messages (
    room_id    text NOT NULL,
    seq        bigint NOT NULL,
    id         text NOT NULL,
    ts         timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    author_id  text NOT NULL DEFAULT '',
    text       text NOT NULL DEFAULT '',
    doc        json NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE UNIQUE INDEX messages_id ON messages (id);
CREATE INDEX messages_ts ON messages (room_id, ts, seq);
CREATE INDEX messages_updated ON messages (room_id, updated_at);
-- chat.search: substring search without reading the room
CREATE INDEX messages_text_trgm ON messages USING gin (lower(text) gin_trgm_ops);

CREATE TABLE roles (
    name text PRIMARY KEY,
    doc  json NOT NULL
);

CREATE TABLE permissions (
    id    text PRIMARY KEY,
    roles text[] NOT NULL DEFAULT '{}',
    doc   json NOT NULL
);

-- events: every committed write's realtime events, one row per transaction, for every
-- node's hub (events.go). seq is taken at insert, as the transaction's last statement.
CREATE TABLE events (
    seq  bigserial PRIMARY KEY,
    at   timestamptz NOT NULL DEFAULT now(),
    body bytea NOT NULL
);
