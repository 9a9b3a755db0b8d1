-- The text with the people's identifiers masked, as intake computed it at registration
-- (`case.registered.redacted_text`): what a department that may not learn a confidential
-- petition's informant reads. Null for cases registered by an older intake.
alter table cases add column text_redacted text;
