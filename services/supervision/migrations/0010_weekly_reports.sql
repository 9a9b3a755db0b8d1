-- 周研判: the weekly analysis of a county, or of the whole deployment under the city's code,
-- for an ISO week (`2026-W49`, China time). Generated on Monday for the week before (and on
-- demand); one row per county and week, so several instances generate it once.
create table weekly_reports (
    county        text        not null,
    week          text        not null,
    generated_at  timestamptz not null,
    -- Generated after the week ended; a report of the running week is partial and is
    -- replaced by Monday's.
    complete      boolean     not null,
    figures       jsonb       not null,
    html          text        not null,
    csv           text        not null,
    -- When the `report.weekly` event (e-mailed by notify) was written; null: not yet sent.
    sent_at       timestamptz,
    primary key (county, week)
);
