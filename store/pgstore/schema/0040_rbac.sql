-- rocketlite schema 40: integrations (webhooks). Integrations lists them oldest first, ties
-- by id in byte order (bbolt's key order): created_ns is the doc's _createdAt in nanoseconds,
-- as precise as the doc (timestamptz keeps microseconds).

CREATE TABLE integrations (
    id         text PRIMARY KEY,
    created_ns bigint NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX integrations_created ON integrations (created_ns, id COLLATE "C");
