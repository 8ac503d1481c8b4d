-- Near-duplicate candidates are the newest originals sharing a SimHash band: one index per band on
-- (band, id), holding originals only, so the lookup reads a few index entries newest first instead
-- of every post that ever shared the band (reposts of a busy story share bands by the thousand).
DROP INDEX posts_band0;
DROP INDEX posts_band1;
DROP INDEX posts_band2;
DROP INDEX posts_band3;
CREATE INDEX posts_band0_originals ON posts (band0, id) WHERE duplicate_of IS NULL;
CREATE INDEX posts_band1_originals ON posts (band1, id) WHERE duplicate_of IS NULL;
CREATE INDEX posts_band2_originals ON posts (band2, id) WHERE duplicate_of IS NULL;
CREATE INDEX posts_band3_originals ON posts (band3, id) WHERE duplicate_of IS NULL;
