-- Workers announce themselves so that clients (cybexp-report query) can tell whether a service is running.
CREATE TABLE workers (
    id        text PRIMARY KEY,
    last_seen double precision NOT NULL
);
