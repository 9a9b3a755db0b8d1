-- Staff accounts of the console. Passwords are Argon2id PHC strings; sessions live in Redis.
create table users (
    username        text primary key,
    display_name    text not null,
    password_hash   text not null,
    role            text not null,          -- clerk | department | supervisor | reviewer | leader | operator
    scope           text not null,          -- division code: a city covers its counties
    department      text,                   -- department users only
    disabled        boolean not null default false,
    created_at      timestamptz not null default now(),
    last_sign_in_at timestamptz
);

-- Sign-ins and sign-outs, append-only like the platform's audit log.
create table sign_ins (
    id        bigserial primary key,
    at        timestamptz not null default now(),
    username  text not null,
    outcome   text not null                 -- ok | wrong_password | locked | disabled | signed_out
);
