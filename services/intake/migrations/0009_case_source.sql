-- Where the matter came from (issue #15): `ordinary` or a configured source such as
-- `central_inspection` (中央巡视移交); listed sources make it a listed matter in supervision.
alter table cases add column source text not null default 'ordinary';
