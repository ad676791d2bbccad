"""HTTP routes: thin (parse, authorise, call a command or a query, shape the answer)."""
