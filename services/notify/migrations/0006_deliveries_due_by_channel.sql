-- Each channel has its own sender lane (a hanging mail relay must not hold SMS receipts), so
-- the due deliveries are looked up per channel.
create index deliveries_due_by_channel on deliveries (channel, next_attempt_at)
    where status in ('pending', 'retrying');
drop index if exists deliveries_due;
