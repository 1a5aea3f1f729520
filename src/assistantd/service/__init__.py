"""The domain: rules for assistants, threads and messages. Never imports the HTTP framework."""
