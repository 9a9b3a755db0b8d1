-- Issue #15 item 6: the provincial terminated-matters registry (docs/termination-registry.md).

-- The petitioner's contact as intake sealed it with the data key (case.registered), exported
-- sealed with a terminated matter; never kept for a confidential case (Art 30 para 3).
alter table cases add column if not exists contact_sealed text;

-- Where a 终结库 entry comes from: `local` (terminated here after 复核) or `province`
-- (imported from the province's list; `import_source` is the operator's label for the list,
-- `record` the record as validated, `imported_at` when it was stored or last changed).
alter table terminations add column if not exists source text not null default 'local';
alter table terminations add column if not exists import_source text;
alter table terminations add column if not exists imported_at timestamptz;
alter table terminations add column if not exists record jsonb;
-- The export order: local entries are numbered 1, 2, … by the export, under a lock, in the
-- order (terminated_at, case_no) of those not numbered yet. A number never changes, so an
-- export resumes after the last number it wrote and never misses an entry committed late.
alter table terminations add column if not exists export_seq bigint unique;
