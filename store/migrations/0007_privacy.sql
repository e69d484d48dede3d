-- Members' control over their data: consent, the profile they keep, when
-- they left, when they were erased, and why an outbox row was cancelled.

ALTER TABLE members
    -- Consent to keeping phone, location and family details: NULL never
    -- answered, true or false for the text version consent_version,
    -- answered at consent_at. consent_asked is the version last asked, so
    -- a member is asked once per version, not at every message.
    ADD COLUMN consent         boolean,
    ADD COLUMN consent_version text NOT NULL DEFAULT '',
    ADD COLUMN consent_at      timestamptz,
    ADD COLUMN consent_asked   text NOT NULL DEFAULT '',
    -- The profile, kept only with consent.
    ADD COLUMN phone           text NOT NULL DEFAULT '',
    ADD COLUMN hometown        text NOT NULL DEFAULT '',
    ADD COLUMN city            text NOT NULL DEFAULT '',
    -- Set by the unsubscribe event, cleared when they follow again; the
    -- retention job erases members whose time is past MEMBER_ERASE_AFTER.
    ADD COLUMN unsubscribed_at timestamptz,
    -- When their personal data was erased (forget, staff, or retention).
    ADD COLUMN erased_at       timestamptz;
CREATE INDEX members_unsubscribed ON members (unsubscribed_at) WHERE unsubscribed_at IS NOT NULL AND erased_at IS NULL;

ALTER TABLE outbox
    -- Why a row was cancelled: 'unsubscribed', 'erased'.
    ADD COLUMN cancelled_reason text NOT NULL DEFAULT '';

-- A case's log stays append-only, with one exception: erasure and
-- retention may blank an action's text, and replace the member's openid
-- as its actor by 'erased'. Nothing else about an action can change, so
-- the log still says what was done, by whom among the staff, and when.
CREATE OR REPLACE FUNCTION case_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.action = OLD.action AND NEW.at = OLD.at
        AND NEW.text = '' AND (NEW.actor = OLD.actor OR NEW.actor = 'erased') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'case_actions is append-only';
END $$;

CREATE INDEX cases_closed_at ON cases (closed_at) WHERE status = 'closed';
