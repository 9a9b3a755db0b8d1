-- The departments each case was assigned to (from `xf.<county>.dept.<dept>.assigned`), so the
-- delivery log is shown to a department only for cases it handles.
create table case_departments (
    case_no     text        not null,
    county      text        not null,
    department  text        not null,
    assigned_at timestamptz not null default now(),
    primary key (case_no, county, department)
);

-- Cases assigned before this table existed: the departments already sent a notice about them.
insert into case_departments (case_no, county, department, assigned_at)
select case_no, county, department, min(created_at)
from deliveries
where audience = 'department' and case_no is not null and department is not null
group by case_no, county, department
on conflict do nothing;
