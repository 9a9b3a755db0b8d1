-- Facts the bureau's practices need (issue #15): the weekly analysis counts by channel and town,
-- finds group, repeat and leapfrog (越级) petitions and clusters of similar ones; listed
-- matters (清单) and leaders' cases (包案) have KPIs of their own.
alter table cases add column channel text;
-- `ordinary` or a configured source (中央巡视移交, 省联席办交办, …); `listed` when it is a listed
-- matter (from a listed source at registration, or listed later).
alter table cases add column source text not null default 'ordinary';
alter table cases add column listed boolean not null default false;
alter table cases add column town text;
alter table cases add column group_size integer not null default 1;
-- Keyed hash of the petitioner (never the identity): repeat petitioners in a week.
alter table cases add column petitioner_key text;
-- The organ that registered it (the case number's division) and whether that skipped a level:
-- the city registered a matter of a county below it.
alter table cases add column registered_by text;
alter table cases add column leapfrog boolean not null default false;
-- Content words of the redacted text with their weights ({word: weight}), for topic clusters.
alter table cases add column matter_words jsonb;
-- 包案: the leader who owns the case; the leader who received it on a reception day.
alter table cases add column leader text;
alter table cases add column reception_leader text;

create index cases_listed on cases (county, source) where listed;
create index cases_leader on cases (leader) where leader is not null;
