-- Who looked at a member's personal data: every director's case view and
-- case list, every staff export and cases report is a row here, written
-- with (or before) what it shows. `nuanjia audit` prints them.
CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    -- A director's openid, or 'staff:<name>' for the command line.
    actor   text NOT NULL CHECK (actor <> ''),
    -- The member's openid; '' when a listing shows many members at once.
    subject text NOT NULL DEFAULT '',
    -- A short machine word: case_view, case_list, export, cases_report,
    -- profile_view (bot.Audit…).
    what    text NOT NULL CHECK (what ~ '^[a-z_]{1,32}$'),
    -- The case number or the filters; never a member's words or phone.
    detail  text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

-- Append-only: the record of who looked must not be changed by the
-- people it records, and the staff it records are the ones who hold the
-- database's password. A row is never updated or deleted, nor the table
-- emptied; changing that takes dropping the trigger, which is not done by
-- mistake. (Erasing a member keeps these rows: they are the record of who
-- saw the data, not the data.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
