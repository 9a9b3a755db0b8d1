-- Decisions 7: the similarity only proposes a refusal (不予受理 / 不再受理); a clerk confirms it,
-- rejects it (the petition is then handled as one of its own, linked as `related`) or removes
-- the link, and each decision is recorded with who, when and why.
alter table cases add column repeat_proposed boolean not null default false;
alter table cases add column repeat_similarity real;
-- Art 19 para 3: when the earlier matter's handling time limit ends, as the registry knew it.
alter table cases add column repeat_earlier_due timestamptz;
alter table cases add column repeat_confirmed_at timestamptz;

create table repeat_decisions (
    id          bigserial primary key,
    case_no     text not null references cases (case_no),
    decision    text not null,          -- confirm | reject | unlink
    repeat_of   text not null,          -- the earlier case the link pointed to
    was         text not null,          -- the link's disposition before the decision
    disposition text,                   -- after it (null: unlinked)
    by_clerk    text not null,          -- token id of the authenticated clerk
    reason      text not null,
    earlier_due timestamptz,
    event_id    uuid not null unique,   -- the case.<decision> event published
    at          timestamptz not null
);
create index repeat_decisions_case on repeat_decisions (case_no, at);
