-- The deadline board (`GET /v1/deadlines?county=…`): a county's open clocks by due time.
create index deadlines_open_by_due on deadlines (county, due_at)
    where closed_at is null and state <> 'cancelled';
