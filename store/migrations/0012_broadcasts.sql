-- Scheduled policy broadcasts (群发), sent by each branch's WeChat tag
-- within WeChat's quota of mass messages per member per calendar month.

CREATE TABLE broadcasts (
    id            bigserial PRIMARY KEY,
    text          text NOT NULL,
    -- When it goes out. A recurring broadcast is one row per occurrence:
    -- sending one inserts the next, so each keeps its own figures.
    at            timestamptz NOT NULL,
    -- A cron expression (minute hour day month weekday) in the bot's time
    -- zone, '' for a one-off.
    every         text NOT NULL DEFAULT '',
    -- The branches whose members it is for; '{}' is every branch.
    branches      text[] NOT NULL DEFAULT '{}',
    -- The openid a preview goes to first ('' for none).
    preview_to    text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'previewed', 'sending', 'sent', 'skipped', 'cancelled')),
    skip_reason   text NOT NULL DEFAULT '',
    preview_error text NOT NULL DEFAULT '',
    -- The first occurrence of its series (itself for a one-off).
    series_id     bigint,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- A scheduler round's claim: no other round takes it until then, and
    -- after a failure it is when it is tried again.
    lease_until   timestamptz,
    attempts      integer NOT NULL DEFAULT 0
);
CREATE INDEX broadcasts_due ON broadcasts (at) WHERE status IN ('scheduled', 'previewed', 'sending');

-- One mass send per branch tag (WeChat's sendall takes one tag_id). The
-- rows are written when the broadcast starts sending, so a retry after a
-- timeout or a crash uses the same clientmsgid and WeChat sends nothing
-- twice. The figures come from the MASSSENDJOBFINISH report with msg_id
-- (send_jobs), joined when read.
CREATE TABLE broadcast_sends (
    broadcast_id  bigint NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    branch_id     text NOT NULL,
    tag_id        bigint NOT NULL,
    client_msg_id text NOT NULL UNIQUE,
    msg_id        bigint, -- NULL until WeChat took the job
    error         text NOT NULL DEFAULT '', -- why WeChat refused it, for good
    sent_at       timestamptz,
    PRIMARY KEY (broadcast_id, branch_id)
);
CREATE INDEX broadcast_sends_msg_id ON broadcast_sends (msg_id) WHERE msg_id IS NOT NULL;

-- Who a broadcast reached, by calendar month in the bot's time zone: the
-- quota is per member, and a member who moved branch keeps what they got.
-- Kept for the months the quota still reads, then purged.
CREATE TABLE broadcast_deliveries (
    openid       text NOT NULL,
    broadcast_id bigint NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    month        date NOT NULL,
    PRIMARY KEY (openid, broadcast_id)
);
CREATE INDEX broadcast_deliveries_month ON broadcast_deliveries (month, openid);

-- A member who wrote 不要推送 holds no branch tag: a tag send reaches
-- everyone on the tag. The tag sync now aims at no tag for them, and the
-- index of members due follows its new condition.
DROP INDEX members_tag_due;
CREATE INDEX members_tag_due ON members (tag_lease_until NULLS FIRST)
    WHERE subscribed AND (CASE WHEN no_broadcasts THEN NULL ELSE branch_id END) IS DISTINCT FROM tagged_branch;

-- A broadcast's figures are WeChat's reports on its msg_ids.
CREATE INDEX send_jobs_msg_id ON send_jobs (wechat_msg_id);
