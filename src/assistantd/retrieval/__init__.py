"""Retrieval core for file_search: extraction, chunking, embedding, keyword and vector search.

Pure library code: nothing here knows about HTTP, the database or the run engine.
"""
