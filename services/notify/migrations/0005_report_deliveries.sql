-- Reports e-mailed to the bureau's leaders (the weekly analysis, 周研判, from
-- `xf.<county>.report.weekly`): audience `leader`, no case, an HTML body and an attachment
-- (the report's CSV). Exactly once as every delivery: one row per (event, notice, recipient,
-- channel).
alter table deliveries drop constraint if exists deliveries_audience_check;
alter table deliveries add constraint deliveries_audience_check
    check (audience in ('petitioner', 'department', 'leader'));
-- `text` (plain, every notice so far) or `html`.
alter table deliveries add column body_format text not null default 'text'
    check (body_format in ('text', 'html'));
alter table deliveries add column attachment_name text;
alter table deliveries add column attachment text;
