"""The review store: links, check-ins, decisions, business events and outputs added by hand,
kept as an append-only event log (:mod:`.core`) in SQLite or PostgreSQL (:mod:`.backends`), and as
files to review in git (:mod:`.files`)."""
