-- The claim takes due deliveries `order by next_attempt_at, created_at`. Keyed on
-- (channel, next_attempt_at) alone, the index could not give that order: every claim read and
-- sorted the channel's whole backlog (1,000-1,700 rows, ~1 ms, a third of PostgreSQL's time in
-- `bench pipeline`) to hand out one row. With created_at in the key it reads the first rows.
create index deliveries_due_in_claim_order on deliveries (channel, next_attempt_at, created_at)
    where status in ('pending', 'retrying');
drop index if exists deliveries_due_by_channel;
