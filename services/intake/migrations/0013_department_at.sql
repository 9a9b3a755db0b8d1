-- The time of the event that set a case's current department. Like `status_at`: an older
-- assignment delivered late (a redelivery after a transfer) must not hand the case back to the
-- unit it left, which would give that unit access again and take it from the one now handling it.
alter table cases add column department_at timestamptz;
