-- Tokens that end on their own: the console's per-session tokens expire with the session even
-- if nobody signs out. NULL: until revoked (tokens made with `xinfang tokens create`).
alter table tokens add column expires_at timestamptz;
