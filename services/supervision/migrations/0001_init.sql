-- Schema supervision: the deadline record (Redis only indexes it), 督办 records and the
-- projection of case facts the KPIs are computed from.

-- One row per clock. `kind` is D1..D10, `eval` (evaluation window) or `supervision` (a 督办's
-- response deadline); `ref` tells apart several clocks of one kind on a case (the 督办 id).
create table deadlines (
    id              uuid        primary key,
    case_no         text        not null,
    county          text        not null,
    department      text,
    kind            text        not null,
    ref             text        not null default '',
    trigger_at      timestamptz not null,
    due_at          timestamptz not null,
    -- When to warn; null for no warning.
    warn_at         timestamptz,
    state           text        not null default 'pending'
                    check (state in ('pending', 'paused', 'fired', 'cancelled')),
    warned_at       timestamptz,
    fired_at        timestamptz,
    -- When the obligation was met or made moot: set on cancellation, and on a fired row when
    -- the late act arrives (so "overdue now" = fired and not closed).
    closed_at       timestamptz,
    close_reason    text,
    -- D10: the open hearing's start, the finished hearings and their total length.
    paused_at       timestamptz,
    pauses          jsonb       not null default '[]',
    paused_total    interval    not null default '0',
    extension_days  integer,
    -- Bumped whenever the due time moves.
    generation      integer     not null default 0,
    -- False until the Redis index reflects the row's current state.
    indexed         boolean     not null default false,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

-- At most one open clock per case, kind and ref.
create unique index deadlines_open on deadlines (case_no, kind, ref)
    where state in ('pending', 'paused');
create index deadlines_unindexed on deadlines (id) where not indexed;
create index deadlines_pending on deadlines (county, id) where state = 'pending';
create index deadlines_case on deadlines (case_no);
create index deadlines_overdue on deadlines (county, department)
    where state = 'fired' and closed_at is null;

-- 督办 records (Art 40): by hand (written_notice, summons, on_site, joint) or on overdue
-- escalation. The response deadline is a `supervision` row in deadlines.
create table supervisions (
    id                 uuid        primary key,
    case_no            text        not null,
    county             text        not null,
    department         text        not null,
    form               text        not null
                       check (form in ('written_notice', 'summons', 'on_site', 'joint', 'escalation')),
    issuer             text        not null,
    note               text        not null,
    respond_by         timestamptz not null,
    response_deadline  uuid,
    -- The overdue deadline an escalation was raised for (one escalation per firing).
    cause_deadline     uuid        unique,
    responded_at       timestamptz,
    response           text,
    created_at         timestamptz not null default now()
);
create index supervisions_case on supervisions (case_no);

-- What supervision learned from case and review facts, for the KPIs (domain.md §11).
create table cases (
    case_no          text        primary key,
    county           text        not null,
    -- Lead handling unit (the latest assignment, else the suggested department).
    department       text,
    petition_type    text,
    branch           text,
    received_at      timestamptz,
    registered_at    timestamptz,
    is_repeat        boolean     not null default false,
    -- Bureau: D1 and the first disposal (assigned, diverted, refused or accepted).
    d1_due           timestamptz,
    disposed_at      timestamptz,
    -- Handling unit: D3 and its answer (accepted or objected).
    assigned_at      timestamptz,
    d3_due           timestamptz,
    unit_answered_at timestamptz,
    accepted_at      timestamptz,
    accepted_on      date,
    -- Null while there is no handling deadline (not accepted, or configured as none).
    handling_due     timestamptz,
    replied_at       timestamptz,
    served_on        date,
    evaluated_at     timestamptz,
    bureau_rating    text,
    unit_rating      text,
    updated_at       timestamptz not null default now()
);
create index cases_registered on cases (county, registered_at);
create index cases_assigned on cases (county, assigned_at);
create index cases_accepted on cases (county, accepted_at);
create index cases_replied on cases (county, replied_at);
