-- How a clock ended (issue #20): `met` (the awaited act came in time), `met_late` (it came after
-- the due time), `withdrawn` (made moot first). Before, all three read `cancelled`. A clock that
-- passed and was then made moot keeps `fired` with its closing recorded
-- (xinfang_domain::deadline_state).
alter table deadlines drop constraint if exists deadlines_state_check;
alter table deadlines add constraint deadlines_state_check
    check (state in ('pending', 'paused', 'fired', 'met', 'met_late', 'withdrawn', 'cancelled'));

-- Earlier records, by the same rule as deadline_state::closing.
update deadlines set state = case
        when close_reason in ('assigned', 'disposed', 'accepted', 'objected', 'replied',
                              'mediated', 'diverted', 'evaluated', 'requested', 'decided',
                              'responded')
             and not (kind in ('D3', 'D4') and close_reason = 'disposed')
             and not (kind = 'D4' and close_reason = 'accepted')
            then case when closed_at > due_at then 'met_late' else 'met' end
        else 'withdrawn' end
    where state = 'cancelled';
update deadlines set state = case when closed_at > due_at then 'met_late' else 'met' end
    where state = 'fired' and closed_at is not null
      and close_reason in ('assigned', 'disposed', 'accepted', 'objected', 'replied', 'mediated',
                           'diverted', 'evaluated', 'requested', 'decided', 'responded')
      and not (kind in ('D3', 'D4') and close_reason = 'disposed')
      and not (kind = 'D4' and close_reason = 'accepted');
