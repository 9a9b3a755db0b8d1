-- The time of the event that set a case's status, so that an older event delivered late
-- (a redelivery, or review.* overtaking case.* on its own consumer) never sets it back.
alter table cases add column status_at timestamptz;
