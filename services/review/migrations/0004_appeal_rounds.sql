-- Issue #20: a 复查/复核 decision that revokes (撤销) or changes (变更) the opinion sends the
-- matter back to the organ that handled it, whose new opinion is appealed afresh. `round`
-- numbers a case's opinions (1 the first, one more per remand); appeals and hearings belong to
-- the round of the opinion they are against, so a second 复查 is a row of its own.
alter table cases add column if not exists round integer not null default 1;
-- The last remand: when, by which level's decision and with which outcome. The case awaits its
-- new opinion while `remanded_at` is set and `served_on` is not.
alter table cases add column if not exists remanded_at timestamptz;
alter table cases add column if not exists remanded_level text;
alter table cases add column if not exists remanded_outcome text;

alter table appeals add column if not exists round integer not null default 1;
alter table appeals drop constraint if exists appeals_pkey;
alter table appeals add primary key (case_no, round, level);

alter table hearings add column if not exists round integer not null default 1;
alter table hearings drop constraint if exists hearings_pkey;
alter table hearings add primary key (case_no, round, level, started_at);
drop index if exists hearings_one_open;
create unique index hearings_one_open on hearings (case_no, round, level)
    where finished_at is null;
-- Who acted for the 复核 organ (`<role>:<token id>` of the caller), as `appeals.decided_by`.
alter table hearings add column if not exists started_by text;
alter table hearings add column if not exists finished_by text;
