-- Schema review: the facts of this deployment's cases, the 复查/复核 appeals it holds (its own
-- cases', and those addressed to its organs), hearings, the termination registry (终结库) and
-- the petitioners' satisfaction evaluations.

-- Facts of the cases of the counties this deployment serves, from xf.<county>.case.>.
create table cases (
    case_no              text        primary key,
    -- The county whose subjects carry the case (the registering deployment's county).
    home_county          text        not null,
    -- Where the matter arose (routing resolves the handling organ in this county).
    matter_county        text        not null,
    petitioner_key       text        not null,
    query_code           text        not null,
    petition_type        text        not null,
    branch               text,
    -- Current handling department (directory code), from assigned/accepted/transferred.
    department           text        not null,
    -- MinHash of the petition text (classify::similarity), little-endian u32s.
    fingerprint          bytea       not null,
    fingerprint_version  integer     not null,
    registered_at        timestamptz not null,
    reply_department     text,
    reply_outcome        text,
    is_handling_opinion  boolean     not null default false,
    served_on            date,
    replied_at           timestamptz,
    -- D7 or D9 when that appeal window passed unused (Decisions 4).
    final_without_appeal text,
    final_at             timestamptz,
    terminated_at        timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);

create index cases_query_code on cases (query_code);
create index cases_petitioner on cases (petitioner_key);
create index cases_open_windows on cases (served_on)
    where terminated_at is null and final_without_appeal is null and served_on is not null;

-- 复查 / 复核: one row per case and level.
create table appeals (
    case_no            text        not null,
    level              text        not null check (level in ('review', 'rereview')),
    -- The county of the original case (its subjects get copies of review events).
    case_county        text        not null,
    -- `<county>:<dept>` of the directory, or `external:<name>` above it.
    organ              text        not null,
    external           boolean     not null default false,
    requested_at       timestamptz not null,
    -- `petitioner`, a clerk id, or `event` when learnt from another deployment.
    requested_by       text        not null,
    grounds            text,
    outcome            text check (outcome in ('uphold', 'change', 'revoke')),
    decision_text      text,
    decision_served_on date,
    decided_by         text,
    decided_at         timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (case_no, level)
);

create index appeals_organ on appeals (organ) where decision_served_on is null;

-- Hearings (听证) of a 复核; their days are not counted in D10 (Art 36 para 2).
create table hearings (
    case_no     text        not null,
    level       text        not null,
    started_at  timestamptz not null,
    finished_at timestamptz,
    primary key (case_no, level, started_at)
);

create unique index hearings_one_open on hearings (case_no, level) where finished_at is null;

-- 终结库: matters terminated after 复核 (Art 36 para 3).
create table terminations (
    case_no             text        primary key,
    home_county         text        not null,
    petitioner_key      text        not null,
    fingerprint         bytea       not null,
    fingerprint_version integer     not null,
    rereview_organ      text        not null,
    outcome             text,
    decision_served_on  date,
    terminated_at       timestamptz not null,
    event_id            uuid        not null,
    created_at          timestamptz not null default now()
);

create index terminations_petitioner on terminations (petitioner_key);

-- 满意度评价 (Decisions 5): one per case, the bureau and the handling unit rated separately.
create table evaluations (
    case_no      text        primary key,
    bureau       text        not null,
    unit         text        not null,
    department   text        not null,
    reason       text,
    evaluated_at timestamptz not null,
    event_id     uuid        not null
);
