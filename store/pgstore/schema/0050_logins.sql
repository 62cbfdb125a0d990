-- Failed logins per account (or per hash of a name with no account), shared by the nodes so
-- that the throttle holds whichever node a guess reaches (logins.go).
CREATE TABLE login_failures (
    key bytea NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);
