-- The SQLite twin of migrations/postgres/0001_initial.sql: times are unix
-- milliseconds, booleans 0/1, bytea a blob.

-- Accounts live in the login's database; players, games and game_seats in
-- each Region's database (several Regions may share one: every row names its
-- region, and no query reads two regions).

CREATE TABLE accounts (
    name          text PRIMARY KEY,
    password_hash blob,                -- bcrypt; NULL for a guest name
    source        text NOT NULL CHECK (source IN ('signup', 'admin', 'file', 'guest')),
    disabled      integer NOT NULL DEFAULT 0,
    created_at    integer NOT NULL,
    updated_at    integer NOT NULL
);

-- One row per player per region: the balance and the stats that settlements
-- change. coins and score move by the same delta; coins also start above 0.
CREATE TABLE players (
    region         text   NOT NULL,
    account        text   NOT NULL,
    coins          integer NOT NULL,
    score          integer NOT NULL DEFAULT 0,
    games          integer NOT NULL DEFAULT 0,
    wins           integer NOT NULL DEFAULT 0,
    landlord_games integer NOT NULL DEFAULT 0,
    landlord_wins  integer NOT NULL DEFAULT 0,
    farmer_games   integer NOT NULL DEFAULT 0,
    farmer_wins    integer NOT NULL DEFAULT 0,
    updated_at     integer NOT NULL,
    PRIMARY KEY (region, account)
);
-- The leaderboard: top scores of a region, ties by name.
CREATE INDEX players_leaderboard ON players (region, score DESC, account);

-- A settled game: its id is the settlement's key (a retry finds it and pays
-- nothing). record is the compact protobuf GameRecord.
CREATE TABLE games (
    game_id  text PRIMARY KEY,
    region   text NOT NULL,
    ended_at integer NOT NULL,
    record   blob NOT NULL
);

-- The ledger: what each seat won or lost, and its balance afterwards.
CREATE TABLE game_seats (
    game_id     text     NOT NULL REFERENCES games (game_id),
    seat        integer NOT NULL,
    region      text     NOT NULL,
    account     text     NOT NULL,
    role        integer NOT NULL,   -- 0 none (ended in bidding), 1 landlord, 2 farmer
    delta       integer   NOT NULL,
    coins_after integer   NOT NULL,
    PRIMARY KEY (game_id, seat),
    UNIQUE (game_id, account)
);
CREATE INDEX game_seats_player ON game_seats (region, account);
