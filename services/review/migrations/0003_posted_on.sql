-- A 复查/复核 request sent by post is in time when it was posted in time (Decisions 1): the
-- clerk who keys it in records the postmark date, and the window (D7/D9) is checked against it.
alter table appeals add column if not exists posted_on date;
