-- Listed matters (清单化管理、项目化推进): matters handed down from above (中央巡视移交,
-- 省联席办交办, 上级交办, 领导批示, …), each tracked item by item with milestones and a weekly
-- progress entry. Milestones past their due time show as overdue on the list and in the weekly
-- analysis; the statutory clocks of a listed matter are escalated earlier (supervision.listed).
create table listed_matters (
    case_no    text        primary key,
    county     text        not null,
    source     text        not null,
    title      text        not null,
    listed_at  timestamptz not null,
    listed_by  text        not null,
    closed_at  timestamptz,
    created_at timestamptz not null default now()
);
create index listed_matters_source on listed_matters (county, source, listed_at);

create table listed_milestones (
    id         uuid        primary key,
    case_no    text        not null references listed_matters (case_no),
    position   integer     not null,
    name       text        not null,
    due_at     timestamptz not null,
    done_at    timestamptz,
    done_by    text,
    note       text,
    created_at timestamptz not null default now()
);
create index listed_milestones_case on listed_milestones (case_no, position);

-- 项目化推进: one entry per matter and ISO week (China time) at most; a second entry in the same
-- week replaces the first.
create table listed_progress (
    id         uuid        primary key,
    case_no    text        not null references listed_matters (case_no),
    week       text        not null,
    who        text        not null,
    done       text        not null,
    next_step  text        not null,
    due        date,
    at         timestamptz not null,
    unique (case_no, week)
);
