"""SQL for link-service's own tables (see migrations/). Every function runs on the caller's connection,
usually inside the unit of work that saves the events the table follows."""
