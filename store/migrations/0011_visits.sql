-- Home visits (issue 10): booked from WeChat or the command line, each
-- with one row per reminder still to send, and the directors' morning
-- digest recorded once a day.

-- Numbers people type (确认 5001). They start far from case numbers (101…)
-- so that 改 N, which both books know, rarely names both.
CREATE SEQUENCE visit_numbers START 5001;

CREATE TABLE visits (
    id         bigserial PRIMARY KEY,
    number     bigint NOT NULL UNIQUE DEFAULT nextval('visit_numbers'),
    -- The member; erasing them clears openid, member_no and note and keeps
    -- the rest for the association's statistics (see the trigger below).
    openid     text,
    member_no  bigint,
    -- No foreign key to branches, as for cases: a re-import must not fail.
    branch_id  text NOT NULL,
    at         timestamptz NOT NULL,
    purpose    text NOT NULL,
    status     text NOT NULL CHECK (status IN ('requested', 'confirmed', 'done', 'missed', 'cancelled')),
    -- 'member', a director's openid, or 'staff:<name>'.
    booked_by  text NOT NULL,
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visits_member_open ON visits (openid, at) WHERE status IN ('requested', 'confirmed');
CREATE INDEX visits_at ON visits (at, branch_id);

-- One row per reminder of a visit, written when the visit is booked
-- confirmed or confirmed, rewritten when it moves, cancelled when it is
-- cancelled. The scheduler turns a due pending row into an outbox row and
-- marks it sent in one statement, so nothing fires twice.
CREATE TABLE visit_reminders (
    id           bigserial PRIMARY KEY,
    visit_id     bigint NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    -- The offset as configured (VISIT_REMINDERS), such as '-24h'.
    offset_label text NOT NULL,
    due_at       timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'sent', 'skipped', 'cancelled')),
    reason       text NOT NULL DEFAULT '',
    outbox_id    bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visit_reminders_due ON visit_reminders (due_at) WHERE status = 'pending';
CREATE INDEX visit_reminders_visit ON visit_reminders (visit_id);

-- The morning digest a director got for a day: the primary key makes it
-- once, also with several serve processes.
CREATE TABLE visit_digests (
    director text NOT NULL,
    day      date NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (director, day)
);

-- Erasing a member (store/privacy.go) clears their member number; their
-- visits lose the link to them and their director's notes, and reminders
-- still to come are cancelled. A trigger, so erasure written before visits
-- existed covers them without knowing of them.
CREATE FUNCTION visits_erase_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visit_reminders r SET status = 'cancelled', reason = 'erased', updated_at = now()
    FROM visits v WHERE r.visit_id = v.id AND v.openid = NEW.openid AND r.status = 'pending';
    UPDATE visits SET openid = NULL, member_no = NULL, note = '',
        status = CASE WHEN status IN ('requested', 'confirmed') THEN 'cancelled' ELSE status END,
        updated_at = now()
    WHERE openid = NEW.openid;
    RETURN NEW;
END $$;
CREATE TRIGGER members_erase_visits AFTER UPDATE OF member_no ON members
    FOR EACH ROW WHEN (OLD.member_no IS NOT NULL AND NEW.member_no IS NULL)
    EXECUTE FUNCTION visits_erase_member();
