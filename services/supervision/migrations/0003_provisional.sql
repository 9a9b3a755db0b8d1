-- A due time that depends on a year the holiday calendar does not cover yet (Monday–Friday was
-- assumed for it) is provisional: shown as such, and recomputed when the calendar is reloaded
-- with that year's official holidays.
alter table deadlines add column if not exists provisional boolean not null default false;
create index if not exists deadlines_provisional on deadlines (id)
    where provisional and state in ('pending', 'paused');
