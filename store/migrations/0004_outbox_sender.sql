-- The outbox sender's lookups (store/outbox.go). Without these each claim
-- would walk a member's whole outbox history, which only grows.

-- A member's rows still to go. A row is claimed only when no earlier row of
-- its member is among these, so a member's messages go out in order. Small:
-- rows leave it once they are sent, answered or given up.
CREATE INDEX outbox_member_open ON outbox (openid, id) WHERE status IN ('pending', 'sending');

-- The customer-service messages a member got, by when: the claim counts
-- those since the member's last message (WeChat allows 5 per message).
CREATE INDEX outbox_member_cs_sent ON outbox (openid, sent_at)
    WHERE channel = 'customer_service' AND status = 'sent';

-- Rows given up on, counted for the operators' gauge at every scrape.
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
