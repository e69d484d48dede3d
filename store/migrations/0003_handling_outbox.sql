-- Reliable processing: every kept push records when it was handled, keeps
-- every field WeChat sent, and everything the bot sends is a row in one
-- outbox written in the same transaction as the state that caused it.

ALTER TABLE messages
    -- When the push was handled (routed, its reply and side effects written).
    -- NULL: kept but not handled yet; the sweeper finds these.
    ADD COLUMN handled_at     timestamptz,
    -- When nuanjia kept it (at is WeChat's CreateTime, the member's clock).
    ADD COLUMN stored_at      timestamptz NOT NULL DEFAULT now(),
    -- Media and link fields, kept while WeChat's temporary media lives
    -- (3 days) so a case can fetch a photo of an injury or a wage slip.
    ADD COLUMN media_id       text NOT NULL DEFAULT '',
    ADD COLUMN pic_url        text NOT NULL DEFAULT '',
    ADD COLUMN format         text NOT NULL DEFAULT '',
    ADD COLUMN thumb_media_id text NOT NULL DEFAULT '',
    ADD COLUMN title          text NOT NULL DEFAULT '',
    ADD COLUMN description    text NOT NULL DEFAULT '',
    ADD COLUMN url            text NOT NULL DEFAULT '',
    -- The rest of what WeChat sent, by its element name (FileKey, Ticket,
    -- MenuId, ScanResult…): nothing a member sends is dropped.
    ADD COLUMN extra          jsonb;

-- Pushes kept before this migration were answered by the old code; their
-- CreateTime is the best record of when they were kept.
UPDATE messages SET handled_at = at, stored_at = at WHERE direction = 'in';

CREATE INDEX messages_unhandled ON messages (stored_at) WHERE handled_at IS NULL;

-- Job reports are keyed by WeChat's MsgID; the mass-send totals are kept.
ALTER TABLE send_jobs
    ADD COLUMN total_count  integer,
    ADD COLUMN filter_count integer,
    ADD COLUMN sent_count   integer,
    ADD COLUMN error_count  integer;

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    -- Whom it is for, and why it exists ('reply' now; alerts, reminders
    -- and broadcasts later).
    openid           text NOT NULL,
    kind             text NOT NULL,
    -- passive: the HTTP answer to the push; customer_service or template:
    -- an API call. fallback is tried when the channel is final for this
    -- member (window closed, its 5 messages used).
    channel          text NOT NULL CHECK (channel IN ('passive', 'customer_service', 'template')),
    fallback         text NOT NULL DEFAULT '' CHECK (fallback IN ('', 'customer_service', 'template')),
    text             text NOT NULL DEFAULT '',
    template_id      text NOT NULL DEFAULT '',
    template_url     text NOT NULL DEFAULT '',
    template_data    jsonb,
    -- The member message that caused it, and its place among the rows that
    -- message caused.
    cause_message_id bigint,
    seq              integer NOT NULL DEFAULT 0,
    intent           text NOT NULL DEFAULT '',
    -- pending: due at next_attempt.  sending: claimed until lease_until.
    -- answered: delivered as the HTTP answer.  sent: WeChat took it.
    -- failed: given up (failed_reason).  cancelled: no longer wanted.
    status           text NOT NULL CHECK (status IN
                         ('pending', 'sending', 'answered', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt     timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error_kind  text NOT NULL DEFAULT '',
    last_error_code  integer,
    last_error       text NOT NULL DEFAULT '',
    failed_reason    text NOT NULL DEFAULT '',
    sent_at          timestamptz,
    wechat_msg_id    bigint,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE status = 'pending';
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_cause ON outbox (cause_message_id) WHERE cause_message_id IS NOT NULL;
CREATE INDEX outbox_member ON outbox (openid, id);

-- Replies are outbox rows from now on; the messages table keeps what
-- members sent. The old reply records move across.
INSERT INTO outbox (openid, kind, channel, text, intent, status, sent_at, created_at)
SELECT openid, 'reply', CASE WHEN channel = 'customer_service' THEN 'customer_service' ELSE 'passive' END,
       text, intent, CASE WHEN channel = 'customer_service' THEN 'sent' ELSE 'answered' END, at, at
FROM messages WHERE direction = 'out' ORDER BY id;
DELETE FROM messages WHERE direction = 'out';
