-- Cases: help requests and unanswered questions in front of a person, with
-- an append-only log, the member's evidence, and what the bot waits for in
-- a conversation.

-- Short numbers that are never reused: a sequence hands each out once,
-- also when the transaction that took it rolls back.
CREATE SEQUENCE case_numbers START 101;
CREATE SEQUENCE member_numbers START 1001;

-- Given on a member's first case; NULL until then (an upsert's default
-- would use up a number on every push).
ALTER TABLE members ADD COLUMN member_no bigint UNIQUE;

CREATE TABLE cases (
    id            bigserial PRIMARY KEY,
    number        bigint NOT NULL UNIQUE DEFAULT nextval('case_numbers'),
    -- The member. Erasing a member (issue 9) clears openid and summary and
    -- keeps the rest for the association's statistics.
    openid        text,
    member_no     bigint,
    -- No foreign key to branches: a re-import of the knowledge base must
    -- not fail on, or delete, cases.
    branch_id     text NOT NULL,
    category      text NOT NULL,
    urgent        boolean NOT NULL DEFAULT false,
    kind          text NOT NULL CHECK (kind IN ('help', 'question')),
    status        text NOT NULL CHECK (status IN ('open', 'accepted', 'closed')),
    assignee      text NOT NULL DEFAULT '',
    summary       text NOT NULL DEFAULT '',
    rating        smallint NOT NULL DEFAULT 0 CHECK (rating IN (0, 1, 2)),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    accepted_at   timestamptz,
    closed_at     timestamptz,
    last_reply_at timestamptz,
    -- The case clock's one-off work, each done once (see bot.Case).
    alerted_at    timestamptz,
    escalated_at  timestamptz,
    reminded_at   timestamptz,
    unreached_at  timestamptz
);
-- A member has at most one case that is not closed: what they send while
-- it is open is added to it.
CREATE UNIQUE INDEX cases_current ON cases (openid) WHERE status <> 'closed';
CREATE INDEX cases_branch_status ON cases (branch_id, status);
CREATE INDEX cases_open_created ON cases (created_at) WHERE status = 'open';
CREATE INDEX cases_accepted ON cases (accepted_at) WHERE status = 'accepted';

CREATE TABLE case_actions (
    id      bigserial PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    action  text NOT NULL CHECK (action IN ('opened', 'message', 'evidence', 'alerted', 'accepted', 'note',
                'reply', 'relayed', 'moved', 'closed', 'reopened', 'escalated', 'reminded', 'unreached', 'rated')),
    actor   text NOT NULL,
    text    text NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_actions_case ON case_actions (case_id, id);

-- The log is append-only: a line is never changed. (Erasure deletes a
-- member's lines; it does not rewrite them.)
CREATE FUNCTION case_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_actions is append-only';
END $$;
CREATE TRIGGER case_actions_no_update BEFORE UPDATE ON case_actions
    FOR EACH ROW EXECUTE FUNCTION case_actions_append_only();

-- Photos, voice, video and files a member sent about a case. The bytes are
-- kept in PostgreSQL (bytea): erased in the same transaction as the rest of
-- the member's data, in the one backup, and readable by every replica.
CREATE TABLE case_evidence (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    message_id   bigint NOT NULL UNIQUE,
    openid       text NOT NULL,
    kind         text NOT NULL,
    media_id     text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL,
    expires      timestamptz NOT NULL,
    content_type text NOT NULL DEFAULT '',
    data         bytea,
    size         integer NOT NULL DEFAULT 0,
    fetched_at   timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    last_error   text NOT NULL DEFAULT '',
    -- Given up: WeChat's copy expired, or it refused it for good.
    failed       boolean NOT NULL DEFAULT false
);
CREATE INDEX case_evidence_case ON case_evidence (case_id, id);
CREATE INDEX case_evidence_due ON case_evidence (next_attempt) WHERE fetched_at IS NULL AND NOT failed;

-- What the bot waits for from someone, one per person and topic.
CREATE TABLE conversations (
    openid  text NOT NULL,
    topic   text NOT NULL CHECK (topic IN ('member', 'director')),
    state   text NOT NULL,
    case_id bigint,
    text    text NOT NULL DEFAULT '',
    until   timestamptz NOT NULL,
    PRIMARY KEY (openid, topic)
);

-- Outbox rows about a case; the media of a customer-service image, voice
-- or video message; at-most-once rows (alerts); and when the case clock
-- acted on a row's failure.
ALTER TABLE outbox
    ADD COLUMN case_id       bigint,
    ADD COLUMN media_kind    text NOT NULL DEFAULT '',
    ADD COLUMN media_id      text NOT NULL DEFAULT '',
    ADD COLUMN at_most_once  boolean NOT NULL DEFAULT false,
    ADD COLUMN followed_up_at timestamptz;
CREATE INDEX outbox_case ON outbox (case_id, kind) WHERE case_id IS NOT NULL;
CREATE INDEX outbox_case_failed ON outbox (id)
    WHERE case_id IS NOT NULL AND status = 'failed' AND followed_up_at IS NULL;
