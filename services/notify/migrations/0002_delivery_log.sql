-- What notify knows about a case from its registration: the sealed contact and the facts
-- petitioner notices need. Personal data stays sealed (AES-256-GCM, security.data_key).
create table cases (
    case_no        text primary key,
    county         text not null,
    query_code     text not null,
    channel        text not null,
    petition_type  text not null,
    department     text not null,
    confidential   boolean not null,
    urgent         boolean not null,
    contact_sealed text,
    registered_at  timestamptz not null,
    event_id       uuid not null,
    updated_at     timestamptz not null default now()
);

-- The delivery log: one row per (event, recipient, channel). The unique key makes a
-- redelivered event add nothing; each row has its own state, so one recipient's failure
-- never touches another's.
--   pending   waiting for its first attempt (next_attempt_at may be deferred by quiet hours)
--   retrying  an attempt failed transiently; next_attempt_at is the backoff
--   sent      the provider accepted it
--   failed    not attempted: the channel has no provider configured
--   dead      failed permanently or ran out of attempts; an alert event was written
-- A sender claims due rows with a lease (lease_until); a crashed sender's rows come back.
create table deliveries (
    id              uuid primary key,
    event_id        uuid not null,
    recipient       text not null,          -- keyed hash of channel + address, never the address
    channel         text not null check (channel in ('sms', 'email')),
    notice          text not null,
    audience        text not null check (audience in ('petitioner', 'department')),
    department      text,
    case_no         text,
    county          text not null,
    address_sealed  text not null,          -- AES-256-GCM, security.data_key
    address_masked  text not null,          -- for display and logs only
    subject         text,
    body            text not null,
    params          jsonb not null default '{}',
    quiet_exempt    boolean not null default false,
    status          text not null default 'pending'
                    check (status in ('pending', 'retrying', 'sent', 'failed', 'dead')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null,
    deferred        boolean not null default false,
    lease_until     timestamptz,
    last_error      text,
    provider_id     text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    sent_at         timestamptz,
    constraint deliveries_once unique (event_id, recipient, channel)
);

create index deliveries_due on deliveries (next_attempt_at) where status in ('pending', 'retrying');
create index deliveries_case on deliveries (case_no);
