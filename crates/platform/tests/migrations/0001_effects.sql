create table effects (
    id       bigserial primary key,
    event_id uuid not null,
    kind     text not null
);
