"""The run engine: prompt building, the run loop, the event bus and the job workers."""
