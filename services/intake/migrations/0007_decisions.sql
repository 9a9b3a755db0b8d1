-- The decisions served on the petitioner (`reply`, `review`, `rereview`: outcome, organ, date),
-- which the petitioner's query view shows with the appeal window and the organ to appeal to
-- (issue #20). Deadlines (`deadlines`) now hold every clock supervision reports, by code.
alter table cases add column if not exists decisions jsonb not null default '{}';
