"""The ingest service: the HTTP API users reach, their tokens, the job store and job control."""
