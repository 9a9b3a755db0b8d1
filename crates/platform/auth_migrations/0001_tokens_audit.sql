-- Access control, shared by every service's HTTP: bearer tokens (stored hashed) and the
-- append-only audit log of personal-data reads.

create table tokens (
    id          text primary key,           -- public id, shown in listings and the audit log
    token_hash  text not null unique,       -- SHA-256 of the secret token, hex
    role        text not null,
    scope       text not null,              -- division code: a city covers its counties
    department  text,
    label       text not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);

create table audit_log (
    id        bigserial primary key,
    at        timestamptz not null default now(),
    actor     text not null,                -- token id
    role      text not null,
    action    text not null,
    case_no   text,
    reason    text not null
);
create index audit_log_case on audit_log (case_no, at);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end $$;

create trigger audit_log_no_update_or_delete before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();
