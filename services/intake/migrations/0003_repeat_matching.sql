-- Repeat linking now compares the stored texts of the petitioner's earlier cases directly
-- (weighted word overlap, segmented at comparison time), so the MinHash column is unused.
alter table cases drop column fingerprint;

-- Repeat linking finds the same person by ID number or, failing one, by mobile.
create index cases_id_number_hash on cases (id_number_hash);
create index cases_mobile_hash on cases (mobile_hash);
