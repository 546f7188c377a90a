-- Claims as HOT updates. A claim changes a job's state, attempts, owner
-- and lease expiry; when none of those is part of an index, PostgreSQL
-- writes the new row version on the same page without touching any index
-- (a heap-only tuple), so a claim costs no index insertions and leaves no
-- dead entries at the head of the claim index. The claim index therefore
-- selects live jobs by "finished IS NULL" (the same rows as state < 2:
-- every end of a job sets finished), the group index no longer holds the
-- state, and pages keep room for the new versions (fillfactor; existing
-- pages get it when they are next rewritten).
UPDATE cssc_jobs SET finished = now() WHERE state >= 2 AND finished IS NULL;
ALTER TABLE cssc_jobs SET (fillfactor = 50);
DROP INDEX cssc_jobs_claim;
CREATE INDEX cssc_jobs_claim ON cssc_jobs (kind, priority DESC, id) WHERE finished IS NULL;
DROP INDEX cssc_jobs_group;
CREATE INDEX cssc_jobs_group ON cssc_jobs (grp);
