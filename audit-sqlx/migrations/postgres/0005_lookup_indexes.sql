-- Lookups by request id, by IP network and by entity id (with or without its type) read one
-- index range in (key, seq) order, like the actor's: without these a request id or a CIDR
-- filter scanned the table (90 ms at 100k events). `ip <<= $1` is an index range on the
-- btree (PostgreSQL derives the bounds of the network). The entity index leads with the id,
-- so a lookup by id alone uses it too; the type, when given, is checked on the rows it finds.
CREATE INDEX audit_events_request_seq ON __SCHEMA__.audit_events (request_id, seq);
CREATE INDEX audit_events_ip_seq ON __SCHEMA__.audit_events (ip, seq);
CREATE INDEX audit_events_entity_id_seq ON __SCHEMA__.audit_events (entity_id, seq);
DROP INDEX __SCHEMA__.audit_events_entity_seq;
