-- Schema version 4: the process that runs a job.
--
-- `process` is `<pid>:<start time>` of the process that started a RUNNING
-- job, read from `/proc` on Linux and NULL elsewhere. A new run of the same
-- instance from another process marks such a job ABORTED only when that
-- process is gone; while it lives, the new run is refused. The start time
-- tells a live run from a new process that reuses the pid of a dead one.
ALTER TABLE jobs ADD COLUMN process TEXT;
