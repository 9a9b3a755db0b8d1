-- Transfers between departments wait for the petition bureau (Art 23 para 3: the forwarding
-- bureau verifies and agrees). One pending request per case; the decision is kept with who
-- decided and why.
create table transfer_requests (
    id              bigserial primary key,
    case_no         text not null references cases (case_no),
    from_county     text not null,
    from_department text not null,
    to_county       text not null,
    to_department   text not null,
    reason          text not null,
    requested_at    timestamptz not null,
    decision        text check (decision in ('approved', 'rejected')),
    decided_by      text,
    decision_reason text,
    decided_at      timestamptz
);

create unique index transfer_requests_pending_idx on transfer_requests (case_no)
    where decision is null;
