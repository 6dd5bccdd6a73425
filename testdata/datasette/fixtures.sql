-- The fixtures database of the Datasette differential test
-- (replica/golden_test.go, scripts/datasette-golden.py). Both sides load
-- exactly this file; tablecast's test then adds its gate and one private
-- table (private_notes), which Datasette's copy lacks, so that tablecast's
-- private table is compared with Datasette's missing one.

-- Integer primary key, every kind of value.
CREATE TABLE ints (id INTEGER PRIMARY KEY, name TEXT, score REAL, n INTEGER, note TEXT, data BLOB, born TEXT, tags TEXT);
INSERT INTO ints VALUES
  (1, 'Alice', 3.0, 30, 'plain', NULL, '2020-01-02', '["a","b"]'),
  (2, 'Bob', -0.0, 25, NULL, X'00FF10', '2021-06-30 12:00:00', '["b"]'),
  (3, 'alfred', 1e100, NULL, '', X'', '2020-01-02 23:59:59', '[]'),
  (4, 'Carol_1', 0.1, 41, 'she said "hi" and ''bye''', NULL, NULL, '["c","a"]'),
  (5, 'Dave', 1.5e-7, 9223372036854775807, 'line one
line two', X'68656C6C6F', '2019-12-31', NULL),
  (6, 'Éva', NULL, -9223372036854775808, 'ünïcödé ✓ 中文 🙂', NULL, '2020-01-02', '["a"]'),
  (7, 'x%y', 2.5, 0, '   ', NULL, 'not a date', '["x", 1]'),
  (8, 'Zed', 100.0, 9007199254740993, 'tab	here', NULL, '2022-02-02', '["z"]');

-- TEXT primary key with awkward characters.
CREATE TABLE texts (k TEXT PRIMARY KEY, v INTEGER);
INSERT INTO texts VALUES ('plain', 1), ('a,b', 2), ('a/b', 3), ('til~de', 4), ('do.t', 5),
  ('sp ace', 6), ('ünï', 7), ('-', 8), ('~2F', 9), ('x.json', 10);

-- Compound primary key.
CREATE TABLE pairs (k TEXT, n INTEGER, v TEXT, PRIMARY KEY (k, n));
INSERT INTO pairs VALUES ('a', 1, 'a1'), ('a', 2, 'a2'), ('b', 1, 'b1'), ('a,b', 3, 'comma'),
  ('c/d', 4, 'slash'), ('e~f', 5, 'tilde'), ('g h', 6, 'space'), ('b', 2, NULL);

-- A rowid table without a primary key.
CREATE TABLE plain (a TEXT, b INTEGER);
INSERT INTO plain VALUES ('x', 1), ('y', NULL), ('x', 3), (NULL, 4), ('z', 5);

-- A WITHOUT ROWID table.
CREATE TABLE wr (code TEXT PRIMARY KEY, qty INTEGER) WITHOUT ROWID;
INSERT INTO wr VALUES ('b', 2), ('a', 1), ('c', NULL);

-- A view.
CREATE VIEW adults AS SELECT id, name, n FROM ints WHERE n >= 18;

-- Enough rows for paging chains.
CREATE TABLE many (id INTEGER PRIMARY KEY, grp TEXT, x INTEGER);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 45)
INSERT INTO many SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'g' || (i % 4) END, (i * 7) % 10 FROM c;

-- Full-text search: docs and its FTS4 index docs_fts (content=docs, as
-- sqlite-utils' enable_fts makes it; FTS4: relevance order is FTS5's only).
CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
INSERT INTO docs VALUES (1, 'note one', 'a zebra crossing'), (2, 'note two', 'crossing the road'),
  (3, 'zebra facts', 'stripes and more stripes'), (4, 'okapi', 'a relative of the giraffe'),
  (5, 'note five', 'zebra zebra zebra'), (6, 'OR', 'the word or'), (7, 'note seven', 'crossing zebra');
CREATE VIRTUAL TABLE docs_fts USING fts4(title, body, content="docs");
INSERT INTO docs_fts (rowid, title, body) SELECT id, title, body FROM docs;

-- Foreign keys, for labels: pets.owner_id refers to owners; pets.vault_id to
-- vaults, which only tablecast's copy has, private (Datasette's lacks it).
CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO owners VALUES (1, 'Ann'), (2, 'Ben'), (3, 'Cy');
CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT, owner_id INTEGER REFERENCES owners(id), vault_id INTEGER REFERENCES vaults(id));
INSERT INTO pets VALUES (1, 'cat', 1, 1), (2, 'cat', 2, 1), (3, 'dog', 2, NULL), (4, 'fish', NULL, 2), (5, 'cat', 9, 1);
