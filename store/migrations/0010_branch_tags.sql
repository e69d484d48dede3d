-- One WeChat user tag per branch, so a broadcast can go to a branch's
-- members. The database says what WeChat should hold; the tag sync
-- (bot/tagsync) makes WeChat hold it, and records what it holds.

-- WeChat's id of the branch's tag; NULL until the sync creates (or finds)
-- it. An import leaves it alone: its upsert names the columns it sets.
ALTER TABLE branches ADD COLUMN tag_id bigint UNIQUE;

ALTER TABLE members
    -- The branch whose tag WeChat holds for the member (NULL: none).
    ADD COLUMN tagged_branch   text,
    -- When the sync last recorded what WeChat holds.
    ADD COLUMN tag_synced_at   timestamptz,
    -- A sync round's claim on the member: no other round takes them until
    -- then. After a failure it is when they are due again.
    ADD COLUMN tag_lease_until timestamptz;

-- Members whose tags are out of step: a follower whose branch is not the
-- one tagged (a new member, a move, an erasure), in the order rounds claim
-- them; and someone who unfollowed while tagged (WeChat dropped their tags;
-- only the record is cleared). Two indexes, not one with OR: the planner
-- uses each for its own statement. Most pushes rewrite a member's row
-- without changing the columns these read (only a follow, an unfollow or a
-- branch does), so they stay HOT updates.
CREATE INDEX members_tag_due ON members (tag_lease_until NULLS FIRST)
    WHERE subscribed AND branch_id IS DISTINCT FROM tagged_branch;
CREATE INDEX members_tag_unfollowed ON members (openid)
    WHERE NOT subscribed AND tagged_branch IS NOT NULL;
