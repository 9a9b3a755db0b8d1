-- Monthly rollups of the KPI facts that no longer depend on the clock (issue #16 item 4): a
-- year's KPIs counted ~1M cases and ~2.7M deadlines on every call (1.4-3.3 s on ten years of
-- 10M cases). Each row of `cases` and `deadlines` contributes facts to its China-time month
-- (registered, met on time, rated satisfied, a deadline's final state, ...). Triggers append
-- the change of a row's facts to `kpi_deltas` (insert only: no two writers wait on one
-- counter); supervision's compactor folds the deltas into `kpi_months`. A reader sums both
-- in one snapshot, so it sees every committed change whether or not it was folded yet.
-- What depends on the clock (still open and past due, or not yet due) is counted live.

create table kpi_deltas (
    id         bigserial        primary key,
    month      date             not null,
    county     text             not null,
    department text             not null,
    fact       text             not null,
    n          bigint           not null,
    days       double precision not null default 0
);

create table kpi_months (
    month      date             not null,
    county     text             not null,
    department text             not null,
    fact       text             not null,
    n          bigint           not null,
    days       double precision not null default 0,
    primary key (month, county, department, fact)
);

create function kpi_month(at timestamptz) returns date
    language sql stable
    as $$ select (date_trunc('month', at at time zone 'Asia/Shanghai'))::date $$;

-- A case's clock-independent facts, by the same conditions as the live KPI queries
-- (services/supervision/src/stats.rs). `days`: served_on - accepted_on of a reply.
create function kpi_case_facts(c cases) returns table (month date, fact text, days double precision)
    language sql stable
    as $$
    select kpi_month(v.at), v.fact, v.days
    from (values
        (c.registered_at, 'registered', 0::float8, c.registered_at is not null),
        (c.registered_at, 'repeat', 0, c.is_repeat),
        (c.registered_at, 'b_on', 0, c.d1_due is not null and c.disposed_at <= c.d1_due),
        (c.registered_at, 'b_late', 0, c.d1_due is not null and c.disposed_at > c.d1_due),
        (c.assigned_at, 'u_on', 0, c.d3_due is not null and c.unit_answered_at <= c.d3_due),
        (c.assigned_at, 'u_late', 0, c.d3_due is not null and c.unit_answered_at > c.d3_due),
        (c.accepted_at, 'c_on', 0, c.handling_due is not null and c.replied_at <= c.handling_due),
        (c.accepted_at, 'c_late', 0, c.handling_due is not null and c.replied_at > c.handling_due),
        (c.replied_at, 'replied', 0, true),
        (c.replied_at, 'b_rated', 0, c.bureau_rating is not null),
        (c.replied_at, 'b_satisfied', 0, c.bureau_rating = 'satisfied'),
        (c.replied_at, 'b_basically', 0, c.bureau_rating = 'basically_satisfied'),
        (c.replied_at, 'u_rated', 0, c.unit_rating is not null),
        (c.replied_at, 'u_satisfied', 0, c.unit_rating = 'satisfied'),
        (c.replied_at, 'u_basically', 0, c.unit_rating = 'basically_satisfied'),
        (c.replied_at, 'days', (c.served_on - c.accepted_on)::float8,
            c.accepted_on is not null and c.served_on is not null),
        (c.diverted_at,
            'diverted:' || case when c.diverted_after_acceptance then 'after' else 'intake' end
                || ':' || coalesce(c.diversion, 'unspecified'),
            0, true)
    ) as v(at, fact, days, holds)
    where v.at is not null and v.holds
    $$;

create function kpi_cases_changed() returns trigger
    language plpgsql
    as $$
declare
    changed boolean := tg_op <> 'UPDATE' or (
        old.county, old.department, old.registered_at, old.is_repeat, old.d1_due,
        old.disposed_at, old.assigned_at, old.d3_due, old.unit_answered_at, old.accepted_at,
        old.accepted_on, old.handling_due, old.replied_at, old.served_on, old.bureau_rating,
        old.unit_rating, old.diverted_at, old.diversion, old.diverted_after_acceptance
    ) is distinct from (
        new.county, new.department, new.registered_at, new.is_repeat, new.d1_due,
        new.disposed_at, new.assigned_at, new.d3_due, new.unit_answered_at, new.accepted_at,
        new.accepted_on, new.handling_due, new.replied_at, new.served_on, new.bureau_rating,
        new.unit_rating, new.diverted_at, new.diversion, new.diverted_after_acceptance
    );
begin
    if not changed then
        return null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into kpi_deltas (month, county, department, fact, n, days)
        select f.month, old.county, coalesce(old.department, ''), f.fact, -1, -f.days
        from kpi_case_facts(old) f;
    end if;
    if tg_op in ('UPDATE', 'INSERT') then
        insert into kpi_deltas (month, county, department, fact, n, days)
        select f.month, new.county, coalesce(new.department, ''), f.fact, 1, f.days
        from kpi_case_facts(new) f;
    end if;
    return null;
end
$$;

create trigger kpi_cases after insert or update or delete on cases
    for each row execute function kpi_cases_changed();

-- A deadline's fact is its kind and state, in the month it started.
create function kpi_deadlines_changed() returns trigger
    language plpgsql
    as $$
begin
    if tg_op = 'UPDATE' and (old.county, old.department, old.kind, old.state, old.trigger_at)
            is not distinct from (new.county, new.department, new.kind, new.state, new.trigger_at) then
        return null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into kpi_deltas (month, county, department, fact, n)
        values (kpi_month(old.trigger_at), old.county, coalesce(old.department, ''),
                'deadline:' || old.kind || ':' || old.state, -1);
    end if;
    if tg_op in ('UPDATE', 'INSERT') then
        insert into kpi_deltas (month, county, department, fact, n)
        values (kpi_month(new.trigger_at), new.county, coalesce(new.department, ''),
                'deadline:' || new.kind || ':' || new.state, 1);
    end if;
    return null;
end
$$;

create trigger kpi_deadlines after insert or update or delete on deadlines
    for each row execute function kpi_deadlines_changed();

-- Rebuilds the rollups from the tables (this migration; a bulk load with the triggers off).
create function kpi_rebuild() returns void
    language sql
    as $$
    delete from kpi_deltas;
    delete from kpi_months;
    insert into kpi_months (month, county, department, fact, n, days)
    select f.month, c.county, coalesce(c.department, ''), f.fact, count(*), sum(f.days)
    from cases c, lateral kpi_case_facts(c) f
    group by 1, 2, 3, 4;
    insert into kpi_months (month, county, department, fact, n, days)
    select kpi_month(trigger_at), county, coalesce(department, ''),
           'deadline:' || kind || ':' || state, count(*), 0
    from deadlines
    group by 1, 2, 3, 4;
    $$;

select kpi_rebuild();

-- The live part of a rolled-up period: what is still open, found without scanning what closed.
create index cases_undisposed on cases (registered_at) where disposed_at is null;
create index cases_unanswered on cases (assigned_at) where unit_answered_at is null;
create index cases_unreplied on cases (accepted_at) where replied_at is null;
