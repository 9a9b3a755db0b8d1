-- 导入法定途径: when a matter was diverted into a legal channel, into which, and whether the
-- bureau did it at intake or the handling department after accepting it (the county
-- comparison counts the two apart).
alter table cases add column diverted_at timestamptz;
alter table cases add column diversion text;
alter table cases add column diverted_after_acceptance boolean not null default false;
create index cases_diverted on cases (county, diverted_at) where diverted_at is not null;
