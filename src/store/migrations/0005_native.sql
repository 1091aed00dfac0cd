-- API jobs: the command each asynchronous job was submitted as, for the doors that report jobs
-- by command (the native API's queryAsyncJobResult and listAsyncJobs). A job whose work the
-- orchestrator does has a row in `jobs` with the same id (backed = 1); a job with no work left
-- after the request (a deployment left stopped, say) ended when it was made (backed = 0).

CREATE TABLE api_jobs (
    id          TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    user_id     TEXT NOT NULL,
    instance_id TEXT,
    backed      BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX api_jobs_account ON api_jobs (account_id, created_ms);
