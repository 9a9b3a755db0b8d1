-- A transfer request whose matter left the requesting unit before the bureau decided (the case
-- was re-routed) is closed as `withdrawn`: it is moot, and the next unit must be free to act.
alter table transfer_requests drop constraint transfer_requests_decision_check;
alter table transfer_requests add constraint transfer_requests_decision_check
    check (decision in ('approved', 'rejected', 'withdrawn'));
