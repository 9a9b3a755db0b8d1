-- One event may plan several notices to the same address on the same channel (a served
-- handling opinion: the reply notice and the evaluation invitation). Keyed without the
-- notice, the second was silently dropped; each notice is now its own delivery.
alter table deliveries drop constraint deliveries_once;
alter table deliveries add constraint deliveries_once unique (event_id, notice, recipient, channel);
