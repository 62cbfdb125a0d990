-- rocketlite schema 30: messages (pg-messages). The columns beside doc are what the message
-- lists need; every write of a message keeps them in step with its doc.

ALTER TABLE messages
    -- "" for a user message, else the system message's type (uj, ul, message_pinned, ...)
    ADD COLUMN type      text NOT NULL DEFAULT '',
    -- who last edited it ("" never): pages show the editor under their current name
    ADD COLUMN editor_id text NOT NULL DEFAULT '',
    -- threads: a reply names its thread's first message; that message counts the replies
    ADD COLUMN tmid      text NOT NULL DEFAULT '',
    ADD COLUMN tcount    integer NOT NULL DEFAULT 0,
    ADD COLUMN tlm       timestamptz,
    ADD COLUMN pinned    boolean NOT NULL DEFAULT false;

-- Search compares lower-cased text exactly as Go's strings.ToLower does (PostgreSQL's lower()
-- depends on the locale, ASCII only under C), so column text holds the user message's text
-- lower-cased by the store ("" for system messages, which search never returns), and the
-- trigram index serves LIKE '%needle%' on it.
DROP INDEX messages_text_trgm;
CREATE INDEX messages_search ON messages USING gin (text gin_trgm_ops) WHERE type = '';

CREATE INDEX messages_pinned ON messages (room_id, seq) WHERE pinned;
-- thread heads by their last reply (chat.getThreadsList)
CREATE INDEX messages_threads ON messages (room_id, tlm, seq) WHERE tcount > 0;
-- a thread's replies, oldest first (chat.getThreadMessages)
CREATE INDEX messages_replies ON messages (tmid, seq) WHERE tmid <> '';

-- Per-user marks of a message: 's' the user starred it, 'm' it mentions the user. They
-- follow from the message's doc (starred, mentions) and are replaced with it.
CREATE TABLE message_users (
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    kind    "char" NOT NULL,
    user_id text NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (room_id, kind, user_id, seq)
);

-- Deleted messages, for syncMessages (chat.syncMessages' "deleted").
CREATE TABLE message_tombstones (
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL,
    id      text NOT NULL,
    PRIMARY KEY (room_id, at, id)
);

-- The read marks a send and History's unread bound use (members.sub_mark, reads) are
-- 0020_rooms.sql's.
