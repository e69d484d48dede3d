-- Members, the messages they exchange with the bot, and WeChat's reports on
-- broadcast and template jobs.

CREATE TABLE members (
    openid          text PRIMARY KEY,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    subscribed      boolean NOT NULL DEFAULT true,
    -- The 48-hour customer-service window is counted from this.
    last_inbound_at timestamptz,
    -- Set from a branch QR code (qrscene_<branch id>); no foreign key, so a
    -- re-import of the knowledge base never fails on members.
    branch_id       text,
    no_broadcasts   boolean NOT NULL DEFAULT false
)
-- Every push updates its member's row; free room on each page lets those
-- updates stay on the page (HOT) without touching the index.
WITH (fillfactor = 50);

CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    -- No foreign key to members: every push is written with its member in
    -- one statement, and the key's check would lock the member row on each
    -- message, a third of the webhook's database time. Erasing a member
    -- deletes their messages explicitly.
    openid        text NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('in', 'out')),
    type          text NOT NULL,
    event         text NOT NULL DEFAULT '',
    event_key     text NOT NULL DEFAULT '',
    text          text NOT NULL DEFAULT '',
    wechat_msg_id bigint,
    -- WeChat retries a push up to three times; this makes the second copy
    -- fail to insert even when the Redis claim has expired.
    dedupe_key    text UNIQUE,
    -- For replies: 'passive' (in the HTTP answer) or 'customer_service'.
    channel       text NOT NULL DEFAULT '',
    intent        text NOT NULL DEFAULT '',
    lat           double precision,
    lng           double precision,
    at            timestamptz NOT NULL
);
CREATE INDEX messages_openid_at ON messages (openid, at);

CREATE TABLE send_jobs (
    dedupe_key    text PRIMARY KEY,
    event         text NOT NULL,
    wechat_msg_id bigint NOT NULL,
    status        text NOT NULL,
    at            timestamptz NOT NULL
);
