-- Facts out of their order (two instances sharing a consumer, or one retried after its case's
-- next fact): a fact older than what a clock already knows must not restart, reopen or leave
-- open what a newer fact settled.

-- The time of the fact that started the clock (null on rows from before: they constrain
-- nothing).
alter table deadlines add column fact_at timestamptz;

-- What a fact did to a case's clocks of one kind (`*`: every kind), remembered even when it
-- found no clock: a clock that starts late from an older fact is then settled as that fact
-- settled it (closed, its hearing paused or finished, its time extended).
create table clock_marks (
    case_no  text        not null,
    kind     text        not null,
    mark     text        not null check (mark in ('closed', 'paused', 'resumed', 'extended')),
    at       timestamptz not null,
    reason   text        not null default '',
    days     integer,
    primary key (case_no, kind, mark, at)
);

-- The projection's type and unit, each with the time of the fact that set it, so an older
-- assignment or reclassification delivered late does not overwrite a newer one.
alter table cases add column classified_at timestamptz;
alter table cases add column department_at timestamptz;
