-- Rows are added to the chain only by a transaction that holds and moves the head: the writer
-- moves the head first and then inserts its batch, and an INSERT that puts any row beyond the
-- head is refused. A role that may INSERT (the application's) therefore cannot add a row at
-- the next seq behind the writers' backs; to forge it must also move the head, which the next
-- write links to and verification checks (with an HMAC chain, without the key it cannot).
CREATE FUNCTION __SCHEMA__.audit_events_within_head() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT max(seq) FROM inserted)
        > (SELECT seq FROM __SCHEMA__.audit_chain_head WHERE singleton) THEN
        RAISE EXCEPTION 'audit events are appended through the chain head only: a row beyond the head was refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_events_within_head
    AFTER INSERT ON __SCHEMA__.audit_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_events_within_head();
