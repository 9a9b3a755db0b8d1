-- The bureau's practices (issue #15 items 3–5): leaders and their reception days (领导接访日)
-- and 包案, the roster of lawyers and psychological counsellors, their assignments and written
-- advice, case conferences (会审) and their decisions (tasks tracked in `deadlines`, kind
-- `task`, ref = the decision id).

-- Leaders kept by a bureau (county = the bureau's division code; the city's for city leaders).
create table leaders (
    id          text        primary key,
    name        text        not null,
    title       text        not null,
    county      text        not null,
    active      boolean     not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index leaders_county on leaders (county);

-- Lawyers (律师) and psychological counsellors (心理咨询师) on a bureau's roster.
create table advisers (
    id            uuid        primary key,
    kind          text        not null check (kind in ('lawyer', 'counsellor')),
    name          text        not null,
    organisation  text        not null,
    speciality    text        not null default '',
    county        text        not null,
    active        boolean     not null default true,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index advisers_county on advisers (county, kind);

-- 领导接访日: a leader receives petitioners at a place on a day.
create table reception_days (
    id          uuid        primary key,
    county      text        not null,
    leader      text        not null references leaders (id),
    at          timestamptz not null,
    place       text        not null,
    created_by  text        not null,
    created_at  timestamptz not null default now()
);
create index reception_days_county on reception_days (county, at);

-- Cases received on a reception day.
create table reception_day_cases (
    reception_day  uuid        not null references reception_days (id),
    case_no        text        not null,
    recorded_by    text        not null,
    at             timestamptz not null default now(),
    primary key (reception_day, case_no)
);

-- An adviser's assignment to a reception day or to a case (exactly one of them).
create table adviser_assignments (
    id             uuid        primary key,
    adviser        uuid        not null references advisers (id),
    county         text        not null,
    case_no        text,
    reception_day  uuid        references reception_days (id),
    assigned_by    text        not null,
    at             timestamptz not null,
    check ((case_no is null) <> (reception_day is null))
);
create unique index adviser_assignments_case on adviser_assignments (adviser, case_no)
    where case_no is not null;
create unique index adviser_assignments_day on adviser_assignments (adviser, reception_day)
    where reception_day is not null;
create index adviser_assignments_at on adviser_assignments (county, at);

-- An adviser's written advice on a case.
create table advice (
    id           uuid        primary key,
    case_no      text        not null,
    county       text        not null,
    adviser      uuid        not null references advisers (id),
    text         text        not null,
    recorded_by  text        not null,
    at           timestamptz not null
);
create index advice_case on advice (case_no, at);
create index advice_county on advice (county, at);

-- 会审: difficult_case 疑难案件会审, major_issue 重大信访问题会审督办协调.
create table conferences (
    id            uuid        primary key,
    case_no       text        not null,
    county        text        not null,
    kind          text        not null check (kind in ('difficult_case', 'major_issue')),
    scheduled_at  timestamptz not null,
    place         text        not null,
    state         text        not null default 'scheduled' check (state in ('scheduled', 'held')),
    minutes       text,
    held_at       timestamptz,
    scheduled_by  text        not null,
    recorded_by   text,
    created_at    timestamptz not null default now()
);
create index conferences_case on conferences (case_no);
create index conferences_held on conferences (county, held_at) where held_at is not null;

-- Who takes part: role department (ref = directory code), leader (leader id), lawyer or
-- counsellor (adviser id).
create table conference_participants (
    conference  uuid not null references conferences (id),
    role        text not null check (role in ('department', 'leader', 'lawyer', 'counsellor')),
    ref         text not null,
    primary key (conference, role, ref)
);

-- The decisions taken; a decision with a department and a due time is a task, tracked by a
-- `task` deadline (ref = the decision id).
create table conference_decisions (
    id          uuid        primary key,
    conference  uuid        not null references conferences (id),
    position    integer     not null,
    text        text        not null,
    department  text,
    due_at      timestamptz,
    deadline    uuid,
    done_at     timestamptz,
    done_note   text,
    done_by     text,
    unique (conference, position),
    check ((department is null) = (due_at is null))
);
create index conference_decisions_department on conference_decisions (department)
    where department is not null and done_at is null;
