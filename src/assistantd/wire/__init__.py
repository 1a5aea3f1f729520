"""Wire schemas: the pydantic models of every request body and response object (the one source of
object shapes). Imported by the HTTP layer and the service layer; imports nothing of ours."""
