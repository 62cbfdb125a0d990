-- The node that wrote each events row: a node applied its own writes' page and cache changes
-- at commit, and does not apply them a second time when the row comes back (events.go).
ALTER TABLE events ADD COLUMN node text NOT NULL DEFAULT '';
