-- Intake: registrations (the record of what was received) and the case registry (the read
-- side every service's events keep current).

-- Gap-free case numbers: one row per county and year, incremented inside the registering
-- transaction (a rolled-back registration gives its number back).
create table case_sequences (
    county text    not null,
    year   integer not null,
    last   bigint  not null,
    primary key (county, year)
);

create table cases (
    case_no          text primary key,
    query_code       text not null unique,
    county           text not null,          -- deployment county that registered it
    matter_county    text,                   -- where the matter arose (classification)
    channel          text not null,
    received_at      timestamptz not null,
    registered_at    timestamptz not null,
    clerk_id         text not null,
    -- personal data: encrypted (AES-256-GCM), keyed hashes for matching
    petitioner_sealed text not null,
    id_number_hash   text,
    mobile_hash      text,
    petitioner_key   text not null,
    group_size       integer not null default 1,
    representatives_sealed text,
    text             text not null,
    fingerprint      bytea not null,
    -- classification (current) and whether a clerk overrode it
    petition_type    text not null,
    branch           text,
    diversion        text,
    department       text not null,
    accuses_official boolean not null,
    confidential     boolean not null,
    urgent           boolean not null default false,
    confidence       real not null,
    needs_triage     boolean not null,
    reasons          jsonb not null default '[]',
    -- repeat handling
    repeat_of        text references cases (case_no),
    repeat_disposition text,
    repeat_count     integer not null default 1,
    -- registry (read side)
    status           text not null,
    current_department text,
    final_without_appeal boolean not null default false,
    terminated_at    timestamptz,
    overdue          boolean not null default false,
    deadlines        jsonb not null default '{}',
    milestones       jsonb not null default '{}',
    updated_at       timestamptz not null default now()
);

create index cases_petitioner on cases (petitioner_key);
create index cases_county_status on cases (county, status);
create index cases_department on cases (current_department);
create index cases_registered_at on cases (registered_at);

create table timeline (
    id        bigserial primary key,
    case_no   text not null references cases (case_no),
    at        timestamptz not null,
    event     text not null,
    event_id  uuid not null unique,
    summary   text not null,
    public    boolean not null default true
);
create index timeline_case on timeline (case_no, at);

create table classification_overrides (
    id        bigserial primary key,
    case_no   text not null references cases (case_no),
    by_clerk  text not null,
    reason    text not null,
    before    jsonb not null,
    after     jsonb not null,
    at        timestamptz not null default now()
);
