-- Bucket tagging for the S3 door: a bucket's tag set as a JSON array of [key, value] pairs,
-- NULL when it has none (GetBucketTagging then answers NoSuchTagSet). Object tags live in the
-- object row's metadata JSON, so an object's write, overwrite and delete carry them.
ALTER TABLE buckets ADD COLUMN tags TEXT;
