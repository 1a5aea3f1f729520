"""HTTP layer: routes, auth, request parsing, the OpenAI error envelope.

It calls the service layer and never touches the database."""
