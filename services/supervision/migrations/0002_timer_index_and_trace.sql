-- Every index costs the scheduling rate; reconciliation walks the primary key instead.
drop index if exists deadlines_pending;

-- Trace context of the fact that started a clock, so what it fires continues the case's
-- trace (W3C pairs, as stored in the outbox's headers).
alter table deadlines add column if not exists trace jsonb not null default '[]';
