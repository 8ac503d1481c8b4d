-- The order in which posts became visible (commit order). Readers that follow the store (the
-- search index) go by `seq`, not by `id`: on PostgreSQL ids are taken when a transaction inserts,
-- in a different order than transactions commit. SQLite has one writer, so `seq` is the id.
ALTER TABLE posts ADD COLUMN seq BIGINT;
UPDATE posts SET seq = id;
CREATE UNIQUE INDEX posts_seq ON posts (seq);
