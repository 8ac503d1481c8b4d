-- Per-source post counts for the status page come from this index alone.
CREATE INDEX posts_source ON posts (source_id);
