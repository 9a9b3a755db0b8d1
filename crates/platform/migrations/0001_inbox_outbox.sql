-- Platform tables, created in each service's own schema (search_path is that schema).

-- Inbox: one row per handled event and consumer, written in the same transaction as the
-- handler's effects, so a redelivered event changes nothing.
create table if not exists inbox (
    consumer    text        not null,
    event_id    uuid        not null,
    subject     text        not null,
    handled_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);

-- Outbox: events caused by a state change, committed with it and published by the relay.
create table if not exists outbox (
    seq          bigserial   primary key,
    event_id     uuid        not null unique,
    subject      text        not null,
    payload      bytea       not null,
    headers      jsonb       not null default '[]',
    created_at   timestamptz not null default now(),
    published_at timestamptz
);

create index if not exists outbox_unpublished on outbox (seq) where published_at is null;
