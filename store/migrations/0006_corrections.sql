-- What directors said the bot should have understood: each is a labelled
-- example `nuanjia train --with-corrections` learns from. The text is the
-- member's words (erased with the member: openid is kept for that).
CREATE TABLE nlu_corrections (
    id       bigserial PRIMARY KEY,
    case_id  bigint REFERENCES cases (id) ON DELETE SET NULL,
    openid   text,
    text     text NOT NULL,
    intent   text NOT NULL DEFAULT '',
    category text NOT NULL DEFAULT '',
    actor    text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nlu_corrections_openid ON nlu_corrections (openid);

-- A correction is an action on the case too.
ALTER TABLE case_actions DROP CONSTRAINT case_actions_action_check;
ALTER TABLE case_actions ADD CONSTRAINT case_actions_action_check CHECK (action IN ('opened', 'message', 'evidence',
    'alerted', 'accepted', 'note', 'reply', 'relayed', 'moved', 'closed', 'reopened', 'escalated', 'reminded',
    'unreached', 'rated', 'corrected'));
