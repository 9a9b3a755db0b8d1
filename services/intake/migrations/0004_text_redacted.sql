-- The petition text with every identifier of the people it names masked (Art 30 para 3):
-- what a department that may not learn an informant's identity reads. Null for cases
-- registered before this column: the case view then masks the text on the fly.
alter table cases add column text_redacted text;
