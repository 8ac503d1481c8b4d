-- The order in which posts became visible (commit order). Readers that follow the store (the
-- search index) go by `seq`, not by `id`: ids are taken when a transaction inserts, in a
-- different order than transactions commit. Each writing transaction numbers its posts from this
-- sequence as its last statement, under a transaction-scoped advisory lock held until commit, so
-- seq order is commit order while the rest of the transactions run side by side.
CREATE SEQUENCE post_commit_seq;
ALTER TABLE posts ADD COLUMN seq BIGINT;
UPDATE posts SET seq = id;
SELECT setval('post_commit_seq', COALESCE((SELECT MAX(seq) FROM posts), 0) + 1, false);
CREATE UNIQUE INDEX posts_seq ON posts (seq);
