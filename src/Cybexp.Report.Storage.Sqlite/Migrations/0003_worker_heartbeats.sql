-- Workers announce themselves so that clients (cybexp-report query) can tell whether a service is running.
CREATE TABLE workers (
    id        TEXT PRIMARY KEY,
    last_seen REAL NOT NULL
);
