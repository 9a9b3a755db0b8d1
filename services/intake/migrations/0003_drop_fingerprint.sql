-- Repeat linking now compares the stored texts of the petitioner's earlier cases directly
-- (weighted word overlap, segmented at comparison time), so the MinHash column is unused.
alter table cases drop column fingerprint;
