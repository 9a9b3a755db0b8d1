-- The case projection is updated by several events of each case (its clocks' due times,
-- assignment, acceptance): room on the page lets the updates that touch no indexed column
-- stay on it (HOT). Applies to pages written from now on.
alter table cases set (fillfactor = 70);
