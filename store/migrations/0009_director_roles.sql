-- Where a director comes from: the knowledge-base file ('kb', replaced by
-- every import of their branch) or `nuanjia director add` ('cli', kept
-- across imports); when the row took its present form and who ran the
-- command ('' for the file's rows).
ALTER TABLE directors
    ADD COLUMN source   text NOT NULL DEFAULT 'kb' CHECK (source IN ('kb', 'cli')),
    ADD COLUMN added_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN added_by text NOT NULL DEFAULT '';

-- An import numbers its branch's file directors from 0 and moves the
-- CLI's after them in the same transaction: the positions are unique
-- again by its commit, not after each statement.
ALTER TABLE directors DROP CONSTRAINT directors_pkey;
ALTER TABLE directors ADD PRIMARY KEY (branch_id, position) DEFERRABLE INITIALLY DEFERRED;

-- Adding the same person to the same branch again updates their row.
CREATE UNIQUE INDEX directors_cli_openid ON directors (branch_id, openid) WHERE source = 'cli';
