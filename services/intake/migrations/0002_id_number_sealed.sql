-- The ID number itself, sealed (AES-256-GCM with the deployment data key), beside its keyed
-- hash: matching uses the hash; reviewers who must verify identity open the seal.
alter table cases add column id_number_sealed text;
