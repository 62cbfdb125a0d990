-- rocketlite schema 20: rooms and memberships beyond the base tables.

-- name_key is the room's name lowercased as Go's strings.ToLower does (the bbolt store's
-- rooms_by_name key), so that uniqueness and lookups ignore case the same way whatever the
-- database's locale (lower() under the C locale folds ASCII only). NULL for a direct room.
ALTER TABLE rooms ADD COLUMN name_key text;
DROP INDEX rooms_name;
CREATE UNIQUE INDEX rooms_name_key ON rooms (name_key);

-- Lists are ordered by bytes, as the bbolt store's keys are, whatever the database's
-- collation: the public rank index says so, so that ORDER BY ... COLLATE "C" uses it.
DROP INDEX rooms_public_rank;
CREATE INDEX rooms_public_rank ON rooms (msgs DESC, name COLLATE "C", id COLLATE "C") WHERE type = 'c';

-- sub_mark is the member's read mark: the room's Counted (doc uc) when they last read, so that
-- their unread count is Counted - sub_mark without a write per member on a send (the bbolt
-- store's sub_marks).
ALTER TABLE members ADD COLUMN sub_mark bigint NOT NULL DEFAULT 0;

-- reads: the last message sequence number a reader has read in a room (chat history's
-- unread filter), for members and for readers of a public room who are not members.
CREATE TABLE reads (
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
