-- Routing's own projection of cases: routing facts, lifecycle (domain state machine),
-- per-department assignments with their own status, the actions log, idempotent requests,
-- and the audit of directory loads.

create table cases (
    case_no         text primary key,
    -- County whose stream carries the case's lifecycle events (where it was registered).
    home_county     text not null,
    -- RoutingFacts (domain::routing) as last decided on.
    facts           jsonb not null,
    -- domain::lifecycle::Case.
    lifecycle       jsonb not null,
    state           text not null,
    petition_type   text not null,
    confidential    boolean not null,
    lead_county     text,
    lead_department text,
    mode            text,
    -- The petition text and the petitioner's contact still sealed, for (re)assignments.
    text            text not null,
    contact         text,
    decision        jsonb,
    held_reason     text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

create index cases_state_idx on cases (state);

create table assignments (
    case_no     text not null references cases (case_no),
    county      text not null,
    department  text not null,
    role        text not null check (role in ('lead', 'assisting')),
    -- assigned | forwarded | accepted | objected | extended | mediated | replied
    -- | transferred | withdrawn
    status      text not null,
    mode        text not null check (mode in ('forward', 'assign')),
    assigned_at timestamptz not null,
    updated_at  timestamptz not null default now(),
    primary key (case_no, county, department)
);

create index assignments_dept_idx on assignments (county, department, status);

create table actions (
    id         bigserial primary key,
    case_no    text not null,
    county     text not null,
    department text not null,
    action     text not null,
    request_id uuid,
    outcome    text not null check (outcome in ('done', 'refused')),
    rule       text,
    event_id   uuid,
    note       text,
    at         timestamptz not null default now()
);

create index actions_case_idx on actions (case_no, id);

-- One answer per client request id: a repeated request gets the stored answer.
create table requests (
    request_id uuid primary key,
    county     text not null,
    department text not null,
    action     text not null,
    case_no    text not null,
    status     smallint not null,
    response   jsonb not null,
    created_at timestamptz not null default now()
);

create table directory_audit (
    id            bigserial primary key,
    loaded_at     timestamptz not null default now(),
    operator      text not null,
    host          text not null,
    source        text not null,
    hash          text not null,
    previous_hash text,
    -- One line per change against the previous load; empty when unchanged.
    changes       jsonb not null,
    -- The file as loaded, so the next load can be compared with it.
    raw           text not null
);
