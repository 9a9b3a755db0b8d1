-- Issue #15 item 6: matters terminated elsewhere in the province (the provincial 终结库, imported
-- by review from the province's list and learnt from `review.registry_termination`). Registration
-- compares a new petition of the same petitioner with each by fingerprint and proposes 不再受理
-- (Art 36 para 3) for a clerk to confirm, as for a matter terminated here.
create table if not exists registry_terminations (
    case_no             text        primary key,
    home_county         text        not null,
    petitioner_key      text        not null,
    -- MinHash of the matter's petition (classify::similarity), little-endian u32s.
    fingerprint         bytea       not null,
    fingerprint_version integer     not null,
    rereview_organ      text        not null,
    terminated_at       timestamptz not null,
    -- The list it came from (the operator's label) and when review stored it.
    source              text        not null,
    imported_at         timestamptz not null,
    event_id            uuid        not null
);

create index if not exists registry_terminations_petitioner
    on registry_terminations (petitioner_key);

-- A repeat may now name such a matter, which this registry holds no case of.
alter table cases drop constraint if exists cases_repeat_of_fkey;
