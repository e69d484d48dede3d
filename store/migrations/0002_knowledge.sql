-- The knowledge base: branches with their contact cards, and policy FAQs.
-- Loaded from YAML by `nuanjia import`.

CREATE TABLE branches (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    places     text[] NOT NULL DEFAULT '{}',
    lat        double precision NOT NULL,
    lng        double precision NOT NULL,
    phone      text NOT NULL,
    address    text NOT NULL DEFAULT '',
    hours      text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE directors (
    branch_id text NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    name      text NOT NULL,
    openid    text NOT NULL DEFAULT '',
    phone     text NOT NULL DEFAULT '',
    county    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (branch_id, position)
);

CREATE TABLE faqs (
    id         text PRIMARY KEY,
    question   text NOT NULL,
    answer     text NOT NULL,
    keywords   text[] NOT NULL DEFAULT '{}',
    updated    date NOT NULL,
    source     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
