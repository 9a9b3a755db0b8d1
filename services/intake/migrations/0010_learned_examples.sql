-- Learning from clerks (issue #19): each classification a clerk corrects becomes a labelled
-- example — the redacted text (the names of the people it mentions masked) with the corrected
-- labels and who made it — that the term models retrain on without a restart. One per case:
-- a second correction replaces the first.
create table learned_examples (
    case_no        text        primary key,
    text           text        not null,
    petition_type  text        not null,
    department     text        not null,
    diversion      text,
    source         text        not null,
    learned_at     timestamptz not null default now()
);
